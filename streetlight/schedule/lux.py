"""Whether it is dark at a cabinet, from its light sensor, with hysteresis and a hold time.

The state turns dark when lux has stayed below `on_below` for `hold_s`, and bright when it has
stayed above `off_above` for `hold_s`; between the thresholds it keeps what it was. A cloud
or a passing headlight shorter than the hold time changes nothing. Until a cabinet has been
read long enough to decide, its state is unknown (None) and programs follow their steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from streetlight.schedule.programs import LuxRule


@dataclass(slots=True)
class LuxState:
    rule: LuxRule
    dark: bool | None = None
    since: datetime | None = None  # when `dark` last changed
    _pending: bool | None = None  # the state the readings point to, not yet held long enough
    _since: datetime | None = None
    _last: datetime | None = None

    def update(self, lux: float, at: datetime) -> bool | None:
        """Take a reading (in time order; older ones are ignored); the state after it."""
        if self._last is not None and at <= self._last:
            return self.dark
        self._last = at
        if lux < self.rule.on_below:
            wants: bool | None = True
        elif lux > self.rule.off_above:
            wants = False
        else:
            wants = None  # between the thresholds: no change
        if wants is None or wants == self.dark:
            self._pending, self._since = None, None
            return self.dark
        if self._pending != wants:
            self._pending, self._since = wants, at
        assert self._since is not None
        if (at - self._since).total_seconds() >= self.rule.hold_s:
            self.dark, self.since, self._pending, self._since = wants, at, None, None
        return self.dark


class LuxBoard:
    """Every cabinet's light-sensor state under each program rule that asks for it.

    A state is made the first time a program asks (its rule is known only then) and starts
    from the cabinet's latest reading; after that every reading updates it.
    """

    def __init__(self) -> None:
        self._states: dict[str, dict[LuxRule, LuxState]] = {}  # cabinet -> a state per rule
        self._latest: dict[str, tuple[float, datetime]] = {}  # cabinet -> its newest reading

    def reading(self, cabinet: str, lux: float, at: datetime) -> None:
        self._latest[cabinet] = (lux, at)
        for state in self._states.get(cabinet, {}).values():
            state.update(lux, at)

    def dark(self, cabinet: str, rule: LuxRule) -> tuple[bool | None, datetime | None]:
        """Whether it is dark at `cabinet` under `rule` (None: not known), and since when
        (streetlight.schedule.DarkAt)."""
        states = self._states.setdefault(cabinet, {})
        state = states.get(rule)
        if state is None:
            state = states[rule] = LuxState(rule)
            latest = self._latest.get(cabinet)
            if latest is not None:
                state.update(*latest)
        return state.dark, state.since
