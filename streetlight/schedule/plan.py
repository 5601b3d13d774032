"""The planning view: for a group and a range of dates, what the programs will do each night.

Per night: the program the calendar chooses and why, the sun times used, each switching time
and level, and the energy implied by the lamps' rated powers and the driver's power curve
(lux triggers and overrides aside: they are not known in advance).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from streetlight.domain import lamp_power_w
from streetlight.schedule.calendars import GroupRef
from streetlight.schedule.expected import Evaluator
from streetlight.schedule.programs import ProgramError


@dataclass(frozen=True, slots=True)
class NightPlan:
    night: date
    program: str | None
    why: str
    sunset: datetime | None
    sunrise: datetime | None
    changes: tuple[tuple[datetime, int | None], ...]
    energy_kwh: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "night": self.night.isoformat(),
            "program": self.program,
            "why": self.why,
            "sunset": None if self.sunset is None else self.sunset.isoformat(),
            "sunrise": None if self.sunrise is None else self.sunrise.isoformat(),
            "changes": [
                {"at": at.isoformat(), "level": "off" if level is None else level}
                for at, level in self.changes
            ],
            "energy_kwh": round(self.energy_kwh, 3),
        }


def plan(evaluator: Evaluator, group: GroupRef, first: date, last: date) -> list[NightPlan]:
    """The nights from `first` to `last` (inclusive) for the lamps of `group`, which must share
    a site (one place, one set of sun times)."""
    groups = evaluator.groups
    groups.check(group)
    if last < first:
        raise ProgramError(f"--to {last} is before --from {first}")
    if (last - first).days > 366:
        raise ProgramError("a plan covers at most a year")
    lamps = groups.lamps_of(group)
    inventory = groups.inventory
    sites = {
        inventory.cabinets[inventory.circuits[inventory.lamps[lamp].circuit_id].cabinet_id].site_id
        for lamp in lamps
    }
    if len(sites) != 1:
        raise ProgramError(f"{group}: a plan is for the lamps of one site ({len(sites)} here)")
    site = sites.pop()
    place = evaluator.places[site]
    calendar = evaluator.calendar_of(lamps[0])
    rated = [inventory.lamps[lamp].rated_power_w for lamp in lamps]
    out = []
    night = first
    while night <= last:
        program, why = evaluator.program_for(calendar, night)
        sun_evening = place.sun(night)
        sun_morning = place.sun(night + timedelta(days=1))
        changes = () if program is None else tuple(program.changes(night, place))
        out.append(
            NightPlan(
                night,
                None if program is None else program.id,
                why,
                sun_evening.sunset,
                sun_morning.sunrise,
                changes,
                _energy_kwh(changes, rated),
            )
        )
        night += timedelta(days=1)
    return out


def _energy_kwh(changes: tuple[tuple[datetime, int | None], ...], rated: list[float]) -> float:
    """Energy of the lamps between the night's changes (lamps off draw their standby only)."""
    total_wh = 0.0
    for (start, level), (end, _next) in pairwise(changes):
        hours = (end - start).total_seconds() / 3600
        on = level is not None
        watts = sum(lamp_power_w(r, on, level or 0) for r in rated)
        total_wh += watts * hours
    return total_wh / 1000
