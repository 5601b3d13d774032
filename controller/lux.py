"""Whether it is dark at a cabinet, from its light sensor, with hysteresis and a hold time.

The state turns dark when lux has stayed below `on_below` for `hold_s`, and bright when it has
stayed above `off_above` for `hold_s`; between the thresholds it keeps what it was. A cloud
or a passing headlight shorter than the hold time changes nothing. Until a cabinet has been
read long enough to decide, its state is unknown (None) and programs follow their steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.programs import LuxRule


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
