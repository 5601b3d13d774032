"""The expected state: what every lamp should be doing at a moment, and why.

Precedence, highest first: the most specific active override; then the program the lamp's
calendar chooses for the night, with its light-sensor rule (dark brings lamps on, bright
takes them off, each after its hold time). Lamps that share a calendar, a site (sun times)
and a cabinet (light sensor) share one evaluation, so a district of 100,000 lamps costs a few
hundred program evaluations and one pass over the lamps for overrides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean

from streetlight.domain import Inventory
from streetlight.schedule.calendars import Calendar, GroupRef, Groups, Override
from streetlight.schedule.programs import NOON, LuxRule, Place, Program, ProgramError, Step

# what lamps that share an evaluation share: calendar (None: none), site, cabinet
Key = tuple[str | None, str, str]
# a calendar's night at a site: its program (None: no calendar) and why, and its steps' moments
Night = tuple[Program | None, str, tuple[tuple[Step, datetime], ...]]
# a cabinet's light-sensor state under a program's rule: dark (None: not known), and since when
DarkAt = Callable[[str, LuxRule], tuple[bool | None, datetime | None]]


@dataclass(frozen=True, slots=True)
class Expected:
    level: int | None  # None: off
    source: str  # "override 12", "program evening (default)", "lux"


@dataclass
class Schedule:
    """Everything operators decided: programs, calendars, who follows which, special days,
    overrides. Checked as a whole by `check`."""

    programs: dict[str, Program] = field(default_factory=dict)
    calendars: dict[str, Calendar] = field(default_factory=dict)
    assignments: dict[GroupRef, str] = field(default_factory=dict)  # group -> calendar id
    special_days: dict[date, frozenset[str]] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)

    def check(self, groups: Groups) -> None:
        for calendar in self.calendars.values():
            for program in (calendar.default_program, *(r.program for r in calendar.rules)):
                if program not in self.programs:
                    raise ProgramError(f"calendar {calendar.id}: unknown program {program!r}")
        known_days = {name for names in self.special_days.values() for name in names}
        for calendar in self.calendars.values():
            for rule in calendar.rules:
                for name in rule.special_days - known_days:
                    raise ProgramError(f"calendar {calendar.id}: unknown special day {name!r}")
        for group, calendar_id in self.assignments.items():
            groups.check(group)
            if calendar_id not in self.calendars:
                raise ProgramError(f"assignment {group}: unknown calendar {calendar_id!r}")
        for override in self.overrides:
            groups.check(override.group)

    def special(self, day: date) -> frozenset[str]:
        return self.special_days.get(day, frozenset())


def site_places(inventory: Inventory) -> dict[str, Place]:
    """Each site's place: the middle of its cabinets, in the district's time zone."""
    by_site: dict[str, list[tuple[float, float]]] = {}
    for cabinet in inventory.cabinets.values():
        by_site.setdefault(cabinet.site_id, []).append((cabinet.location.lat, cabinet.location.lon))
    tz = inventory.district.timezone
    return {
        site: Place(
            round(fmean(p[0] for p in points), 4), round(fmean(p[1] for p in points), 4), tz
        )
        for site, points in by_site.items()
    }


class Evaluator:
    """Expected state for every lamp of an inventory under one schedule."""

    def __init__(self, groups: Groups, schedule: Schedule) -> None:
        schedule.check(groups)
        self.groups = groups
        self.schedule = schedule
        inventory = groups.inventory
        self.places = site_places(inventory)
        self._calendar_of: dict[str, str | None] = {}
        # lamps that share calendar, site and cabinet share an evaluation
        self._keys: dict[str, Key] = {}
        for lamp_id, chain in groups.chains.items():
            calendar = next(
                (schedule.assignments[g] for g in chain if g in schedule.assignments), None
            )
            circuit = inventory.circuits[inventory.lamps[lamp_id].circuit_id]
            cabinet = inventory.cabinets[circuit.cabinet_id]
            self._keys[lamp_id] = (calendar, cabinet.site_id, cabinet.id)
        self.shared_keys = set(self._keys.values())
        self._tz = {site: place.tz for site, place in self.places.items()}
        self._nights: dict[date, dict[tuple[str | None, str], Night]] = {}
        self._lamps_of: dict[GroupRef, list[str]] | None = None

    def sites_by_calendar(self) -> dict[str, set[str]]:
        """The sites whose lamps follow each calendar."""
        out: dict[str, set[str]] = {}
        for calendar, site, _cabinet in self._keys.values():
            if calendar is not None:
                out.setdefault(calendar, set()).add(site)
        return out

    def calendar_of(self, lamp_id: str) -> str | None:
        return self._keys[lamp_id][0]

    def program_for(self, calendar_id: str | None, night: date) -> tuple[Program | None, str]:
        if calendar_id is None:
            return None, "no calendar"
        calendar = self.schedule.calendars[calendar_id]
        program_id, why = calendar.program_for(night, self.schedule.special(night))
        return self.schedule.programs[program_id], why

    def members(self) -> dict[Key, list[str]]:
        """The lamps of each shared evaluation (calendar, site, cabinet)."""
        out: dict[Key, list[str]] = {}
        for lamp, key in self._keys.items():
            out.setdefault(key, []).append(lamp)
        return out

    def evaluate(self, moment: datetime, dark: DarkAt | None = None) -> dict[str, Expected]:
        """Every lamp's expected state at `moment`; `dark(cabinet, rule)` is a cabinet's light
        sensor state under a program's rule (None: not known)."""
        shared, overridden = self.evaluate_shared(moment, dark)
        result = {lamp: shared[key] for lamp, key in self._keys.items()}
        result.update(overridden)
        return result

    def evaluate_shared(
        self, moment: datetime, dark: DarkAt | None = None
    ) -> tuple[dict[Key, Expected], dict[str, Expected]]:
        """The expected state of each shared evaluation (see `members`), and of the lamps an
        active override takes from theirs: `evaluate` without a pass over every lamp."""
        shared = {key: self.evaluate_key(key, moment, dark) for key in self.shared_keys}
        return shared, self.overridden(moment)

    def evaluate_key(self, key: Key, moment: datetime, dark: DarkAt | None = None) -> Expected:
        """The expected state of the lamps of one shared evaluation (`members`), overrides
        aside: so a caller can evaluate a district in slices (the API between requests)."""
        return self._by_program(key, moment, dark)

    def key_of(self, lamp_id: str) -> Key:
        return self._keys[lamp_id]

    def overridden(self, moment: datetime) -> dict[str, Expected]:
        """The lamps an active override takes from their program, and their expected state."""
        out: dict[str, Expected] = {}
        winners = self._active_overrides(moment)
        if winners:
            for lamp in self._lamps_under(winners):
                for group in self.groups.chains[lamp]:
                    override = winners.get(group)
                    if override is not None:
                        out[lamp] = Expected(override.level, f"override {override.id}")
                        break
        return out

    def _lamps_under(self, groups: Iterable[GroupRef]) -> set[str]:
        """The lamps in any of `groups` (the index is made the first time an override is on)."""
        if self._lamps_of is None:
            index: dict[GroupRef, list[str]] = {}
            for lamp, chain in self.groups.chains.items():
                for group in chain:
                    index.setdefault(group, []).append(lamp)
            self._lamps_of = index
        return {lamp for group in groups for lamp in self._lamps_of.get(group, ())}

    def _night(self, calendar_id: str | None, site: str, night: date) -> Night:
        """The program of a calendar's night at a site and when its steps fire, worked out once
        a night (the sun times and the time zone are the slow part)."""
        nights = self._nights.get(night)
        if nights is None:
            # only the nights now being evaluated: a moment's night and the one before it
            self._nights = {d: v for d, v in self._nights.items() if d >= night - timedelta(1)}
            nights = self._nights[night] = {}
        found = nights.get((calendar_id, site))
        if found is None:
            program, why = self.program_for(calendar_id, night)
            steps = () if program is None else tuple(program.moments(night, self.places[site]))
            found = nights[(calendar_id, site)] = (program, why, steps)
        return found

    def _by_program(self, key: Key, moment: datetime, dark_at: DarkAt | None) -> Expected:
        calendar_id, site, cabinet = key
        place = self.places[site]
        local = moment.astimezone(self._tz[site])
        night = local.date() if local.time() >= NOON else local.date() - timedelta(days=1)
        program, why, steps = self._night(calendar_id, site, night)
        if program is None:
            return Expected(None, why)
        level = program.steps[-1].level  # Program.level_at, on the night's steps worked out
        for step, at in steps:
            if at > moment:
                break
            level = step.level
        source = f"program {program.id} ({why})"
        if program.lux is None or dark_at is None:
            return Expected(level, source)
        dark, since = dark_at(cabinet, program.lux)
        if dark is not None:
            if (
                dark
                and level is None
                and not self._night_already_ended(program, place, moment, since)
            ):
                return Expected(program.lux.level, f"lux (program {program.id})")
            if not dark and level is not None and local.time() < NOON:
                # daylight ends the night early, in the morning only: in the evening the
                # program's own on-step comes first ("whichever is first")
                return Expected(None, f"lux (program {program.id})")
        return Expected(level, source)

    @staticmethod
    def _night_already_ended(
        program: Program, place: Place, moment: datetime, dark_since: datetime | None
    ) -> bool:
        """Whether the darkness is the night's own, already ended by the program's off-step
        this morning (between that step and daylight, the step wins: whichever is first)."""
        local = moment.astimezone(place.tz)
        if local.time() >= NOON or dark_since is None:
            return False
        night = local.date() - timedelta(days=1)
        offs = [at for step, at in program.moments(night, place) if step.level is None]
        return any(dark_since <= at <= moment for at in offs)

    def _active_overrides(self, moment: datetime) -> dict[GroupRef, Override]:
        winners: dict[GroupRef, Override] = {}
        for override in self.schedule.overrides:
            if not override.active(moment):
                continue
            held = winners.get(override.group)
            if held is None or override.starts >= held.starts:
                winners[override.group] = override
        return winners
