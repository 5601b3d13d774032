"""Calendars choose a group's program by date; overrides set a level for a while.

A calendar has a default program and rules in order of precedence (the first rule that
matches a date wins). A rule matches by weekdays, by a date range (which may wrap over the
new year: 12-20..01-10), or by named special days (Spring Festival, National Day, an event),
whose dates are listed once for all calendars. A group (a node of the asset tree or a named
group) is given a calendar; a lamp follows the calendar of its most specific group.

An override sets a level (or off) for a lamp, circuit, cabinet, site, community,
subdistrict, district or named group, from a start to an expiry (or until cancelled), with
who set it and why. The most specific active override wins over programs; between overrides
on equally specific groups, the one that started last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from streetlight.domain import Inventory
from streetlight.schedule.programs import ProgramError

# most specific first: a lamp's own setting beats its circuit's, and so on up the tree
SCOPES = ("lamp", "circuit", "cabinet", "group", "site", "community", "subdistrict", "district")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Rule:
    program: str
    weekdays: frozenset[int] = frozenset()  # 0 = Monday; empty: any day
    dates: tuple[tuple[int, int], tuple[int, int]] | None = None  # (month, day) from, to
    special_days: frozenset[str] = frozenset()
    name: str = ""

    def matches(self, day: date, special: frozenset[str]) -> bool:
        if self.special_days and not self.special_days & special:
            return False
        if self.weekdays and day.weekday() not in self.weekdays:
            return False
        if self.dates is not None:
            start, end = self.dates
            here = (day.month, day.day)
            inside = start <= here <= end if start <= end else here >= start or here <= end
            if not inside:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Calendar:
    id: str
    default_program: str
    rules: tuple[Rule, ...] = ()

    def program_for(self, day: date, special: frozenset[str]) -> tuple[str, str]:
        """The program id for `day`, and why (the rule's name, or 'default')."""
        for index, rule in enumerate(self.rules):
            if rule.matches(day, special):
                return rule.program, rule.name or f"rule {index + 1}"
        return self.default_program, "default"


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A node of the asset tree (`lamp`, `circuit`, ..., `district`) or a named group."""

    scope: str
    id: str

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ProgramError(f"group: scope {self.scope!r} is not one of {', '.join(SCOPES)}")

    def __str__(self) -> str:
        return f"{self.scope}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> GroupRef:
        scope, sep, ident = text.partition(":")
        if not sep or not ident:
            raise ProgramError(f"group {text!r}: expected scope:id, e.g. site:PP-S01")
        return cls(scope, ident)


@dataclass(frozen=True, slots=True)
class Override:
    id: int
    group: GroupRef
    level: int | None  # None: off
    starts: datetime
    ends: datetime | None  # None: until cancelled
    reason: str
    by: str
    cancelled_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= 100:
            raise ProgramError(f"override: level {self.level} is outside 0-100")
        if self.ends is not None and self.ends <= self.starts:
            raise ProgramError("override: ends must be after starts")
        if not self.reason.strip():
            raise ProgramError("override: reason is required")
        if not self.by.strip():
            raise ProgramError("override: by (who sets it) is required")

    def active(self, moment: datetime) -> bool:
        if self.cancelled_at is not None and self.cancelled_at <= moment:
            return False
        return self.starts <= moment and (self.ends is None or moment < self.ends)


@dataclass
class Groups:
    """Where each lamp sits: its ancestors by scope, and its named groups."""

    inventory: Inventory
    named: dict[str, frozenset[str]] = field(default_factory=dict)  # group id -> lamp ids

    def __post_init__(self) -> None:
        self._named_of: dict[str, tuple[str, ...]] = {}
        for group, lamps in self.named.items():
            for lamp in lamps:
                if lamp not in self.inventory.lamps:
                    raise ProgramError(f"group {group}: unknown lamp {lamp!r}")
                self._named_of[lamp] = (*self._named_of.get(lamp, ()), group)
        self.chains: dict[str, tuple[GroupRef, ...]] = {
            lamp_id: self._chain(lamp_id) for lamp_id in self.inventory.lamps
        }

    def _chain(self, lamp_id: str) -> tuple[GroupRef, ...]:
        inv = self.inventory
        lamp = inv.lamps[lamp_id]
        circuit = inv.circuits[lamp.circuit_id]
        cabinet = inv.cabinets[circuit.cabinet_id]
        site = inv.sites[cabinet.site_id]
        community = inv.communities[site.community_id]
        return (
            GroupRef("lamp", lamp_id),
            GroupRef("circuit", circuit.id),
            GroupRef("cabinet", cabinet.id),
            *(GroupRef("group", g) for g in sorted(self._named_of.get(lamp_id, ()))),
            GroupRef("site", site.id),
            GroupRef("community", community.id),
            GroupRef("subdistrict", community.subdistrict_id),
            GroupRef("district", inv.district.id),
        )

    def exists(self, group: GroupRef) -> bool:
        inv = self.inventory
        known: dict[str, object] = {
            "lamp": inv.lamps,
            "circuit": inv.circuits,
            "cabinet": inv.cabinets,
            "group": self.named,
            "site": inv.sites,
            "community": inv.communities,
            "subdistrict": inv.subdistricts,
            "district": {inv.district.id: inv.district},
        }
        table = known[group.scope]
        assert isinstance(table, dict)
        return group.id in table

    def check(self, group: GroupRef) -> None:
        if not self.exists(group):
            raise ProgramError(f"group: unknown {group.scope} {group.id!r}")

    def lamps_of(self, group: GroupRef) -> list[str]:
        return [lamp for lamp, chain in self.chains.items() if group in chain]
