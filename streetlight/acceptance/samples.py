"""One lamp's night read from its reports against the plan, as the KPI writer reads it
(docs/contract.md, "KPI measurements": counted lamps, `switching`):

- at every mark (a multiple of `mark_s` since the epoch) in the night, the newest report at
  or before it: online when at most `offline_after_s` old, lit when it shows it
  (streetlight.domain.lighting, the writer's own test); should be lit when the plan has had
  it on, at any level, for `confirm_s` (a change of dim level does not start that again);
- the plan's first switch-on of the night and its first report at or after it showing it
  lit; the plan's last switch-off and its first report at or after it showing it not lit;
- at the marks it should be lit and is, its power per reported dim level, against the
  curve's power for its rated power at that level.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date

from streetlight.acceptance.criteria import Sampling
from streetlight.acceptance.inputs import LampNight, LevelPower
from streetlight.domain import lamp_power_w
from streetlight.domain.lighting import lit_floor_w, shows_lit

Level = int | None  # on at a dim level, or None: off


@dataclass(frozen=True, slots=True)
class Report:
    ts: float  # epoch s, the device's time
    relay_on: bool
    dim_pct: int
    power_w: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    """The lamp's expected level through the night: `level` at the night's start, then each
    change (epoch s, level) in time order."""

    level: Level
    changes: tuple[tuple[float, Level], ...]

    def switches(self) -> list[tuple[float, bool]]:
        """The changes between off and on (a change of dim level left out)."""
        out: list[tuple[float, bool]] = []
        on = self.level is not None
        for at, level in self.changes:
            if (level is not None) != on:
                on = level is not None
                out.append((at, on))
        return out


def _lit(report: Report, rated_w: float, fraction: float) -> bool:
    return shows_lit(
        report.relay_on, report.power_w, lit_floor_w(rated_w, report.dim_pct, fraction)
    )


def read_night(
    lamp: str,
    night: date,
    span: tuple[float, float],
    *,
    rated_w: float,
    plan: Plan,
    reports: list[Report],
    sampling: Sampling,
) -> LampNight:
    """`span`: the night's start and end (epoch s); `reports` in time order, from up to
    `offline_after_s` before the start."""
    start, end = span
    switches = plan.switches()
    switch_at = [at for at, _on in switches]
    times = [r.ts for r in reports]
    fraction = sampling.failure_fraction
    should = lit_ok = 0
    power: dict[int, list[float]] = {}
    mark = -(-start // sampling.mark_s) * sampling.mark_s
    while mark < end:
        index = bisect.bisect_right(switch_at, mark)  # the switches up to the mark
        on = switches[index - 1][1] if index else plan.level is not None
        since = switches[index - 1][0] if index else float("-inf")
        if on and since <= mark - sampling.confirm_s:
            should += 1
            newest = bisect.bisect_right(times, mark) - 1
            if newest >= 0 and mark - times[newest] <= sampling.offline_after_s:
                report = reports[newest]
                if _lit(report, rated_w, fraction):
                    lit_ok += 1
                    if report.power_w is not None:
                        power.setdefault(report.dim_pct, []).append(report.power_w)
        mark += sampling.mark_s
    on_plan = next((at for at, on in switches if on), None)
    off_plan = None
    if on_plan is not None:
        off_plan = next((at for at, on in reversed(switches) if not on and at > on_plan), None)
    in_night = [r for r in reports if start <= r.ts < end]
    return LampNight(
        lamp=lamp,
        night=night,
        reports=len(in_night),
        should_lit=should,
        lit_ok=lit_ok,
        on_plan_ms=_ms(on_plan),
        on_seen_ms=_ms(_seen(reports, on_plan, rated_w, fraction, lit=True)),
        off_plan_ms=_ms(off_plan),
        off_seen_ms=_ms(_seen(reports, off_plan, rated_w, fraction, lit=False)),
        power=[
            LevelPower(dim, len(watts), sum(watts) / len(watts), lamp_power_w(rated_w, True, dim))
            for dim, watts in sorted(power.items())
        ],
    )


def _seen(
    reports: list[Report], planned: float | None, rated_w: float, fraction: float, *, lit: bool
) -> float | None:
    if planned is None:
        return None
    first = bisect.bisect_left([r.ts for r in reports], planned)
    return next((r.ts for r in reports[first:] if _lit(r, rated_w, fraction) is lit), None)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
