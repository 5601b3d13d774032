"""The work-order ledger's rules (台账, 登记 → 销号): deadlines, holding, verification.

A root alarm opens a work order for its site's maintainer. Its repair deadline comes from the
alarm's severity class (DESIGN.md section 7): an emergency is made safe within 1 h and an
ordinary fault repaired within 24 h (clock hours); a serious fault within 3 working days,
counted on the ledger's calendar in the site's time zone, because crews do not work weekends
or public holidays but do work the make-up days (调休) the State Council moves onto weekends.

An order moves registered → dispatched → repaired → verified → closed. People take three of
the steps (dispatch, repaired, close); the controller takes "verified" itself, once telemetry
has shown the asset healthy for `verify_s` after the repair, so a crew cannot close an order
for a lamp that is still dark. Overdue orders whose fault is still there are escalated once,
whatever their state short of verified.

Everything here is pure (no store, no clock): streetlight.store.workorders keeps the rows and
controller.ledger.keeper runs these rules inside the controller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controller.alarms import Alarm
from streetlight.domain import REPAIR_DEADLINE, AlarmChange, Severity
from streetlight.domain.workorders import LedgerError
from streetlight.errors import ConfigError
from streetlight.store.alarms import Transition
from streetlight.yamlfile import first_problem, read_yaml


class LedgerConfigError(LedgerError, ConfigError):
    """A ledger file that cannot be used; the message names the file and the field."""


# --- the ledger file -----------------------------------------------------------------------------


class LedgerConfig(BaseModel):
    """The ledger file (YAML): how long a repair must hold, and the working-day calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verify_s: float = Field(
        default=1800.0, gt=0, description="clock seconds the asset must stay healthy after repair"
    )
    holidays: list[date] = Field(default_factory=list, description="weekdays nobody works")
    working_days: list[date] = Field(
        default_factory=list, description="make-up working days (调休) on weekends"
    )

    @model_validator(mode="after")
    def _no_day_twice(self) -> LedgerConfig:
        both = sorted(set(self.holidays) & set(self.working_days))
        if both:
            raise ValueError(f"{both[0].isoformat()} is both a holiday and a working day")
        return self

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(frozenset(self.holidays), frozenset(self.working_days))


def load_ledger_config(path: Path) -> LedgerConfig:
    """Read a ledger file; a bad one raises `LedgerConfigError` naming the file and field."""
    document: Any = read_yaml(path, LedgerConfigError)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise LedgerConfigError(f"{path}: expected a mapping with verify_s, holidays, working_days")
    try:
        return LedgerConfig.model_validate(document)
    except ValidationError as exc:
        raise LedgerConfigError(f"{path}: {first_problem(exc)}") from exc


# --- deadlines -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Monday to Friday, except holidays, plus make-up working days on weekends."""

    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = self.holidays & self.working_days
        if both:
            raise ValueError(f"{min(both).isoformat()} is both a holiday and a working day")

    def is_working(self, day: date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, moment: datetime, days: int, tz: tzinfo) -> datetime:
        """The same local time of day on the `days`-th working day after `moment`'s date."""
        local = moment.astimezone(tz)
        day = local.date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working(day):
                counted += 1
        return datetime.combine(day, local.timetz().replace(tzinfo=None), tz)


def repair_deadline(
    severity: Severity, opened_at: datetime, tz: tzinfo, calendar: WorkingCalendar
) -> datetime:
    """When an order opened at `opened_at` must be repaired (made safe, for an emergency)."""
    allowed = REPAIR_DEADLINE[severity]
    if severity is Severity.SERIOUS:  # counted in working days on the ledger's calendar
        return calendar.add_working_days(opened_at, allowed.days, tz).astimezone(opened_at.tzinfo)
    return opened_at + allowed


# --- holding new roots before crews hear of them -------------------------------------------------


class NoticeHold:
    """New root alarms wait `hold_s` before a work order opens and crews are told: a root
    cause seen a moment later (a cabinet's report after its lamps') adopts them meanwhile,
    and then its own order covers them."""

    def __init__(self, hold_s: float) -> None:
        self.hold = timedelta(seconds=hold_s)
        self._held: dict[int, Transition] = {}

    def __len__(self) -> int:
        return len(self._held)

    def take(self, batch: Sequence[Transition]) -> list[Transition]:
        """Hold new roots, drop those adopted or cleared while held; the roots whose end
        crews should hear of (they were told of the start)."""
        ended = []
        for t in batch:
            if t.change in (AlarmChange.RAISED, AlarmChange.SURFACED):
                if t.parent is None:
                    self._held[t.alarm_id] = t
            elif t.change is AlarmChange.SUPPRESSED:
                self._held.pop(t.alarm_id, None)
            elif (
                t.change is AlarmChange.CLEARED
                and t.parent is None
                and self._held.pop(t.alarm_id, None) is None  # told of: tell of its end
            ):
                ended.append(t)
        return ended

    def hold_again(self, t: Transition) -> None:
        """Hold a root alarm taken back after a restart that has no order yet."""
        self._held.setdefault(t.alarm_id, t)

    def due(self, now: datetime) -> list[Transition]:
        """The held roots whose time is up, in the order they were raised."""
        limit = now - self.hold
        released = [t for t in self._held.values() if t.at <= limit]
        for t in released:
            del self._held[t.alarm_id]
        return released


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sickness:
    """What is still wrong in the field, from the open alarms: which assets have one, and
    which alarms have an open alarm at or under them."""

    assets: frozenset[str]
    alarms: frozenset[int]

    @classmethod
    def of(cls, open_alarms: Iterable[Alarm]) -> Sickness:
        assets: set[str] = set()
        ids: set[int] = set()
        for alarm in open_alarms:
            assets.add(alarm.asset)
            walk: Alarm | None = alarm
            while walk is not None:
                ids.add(walk.id)
                walk = walk.parent
        return cls(frozenset(assets), frozenset(ids))

    def healthy(self, alarm_id: int, asset: str) -> bool:
        """The order's alarm cleared, nothing open on its asset or linked under its alarm."""
        return asset not in self.assets and alarm_id not in self.alarms


@dataclass(slots=True)
class RepairCheck:
    """How long each repaired order's asset has looked healthy (clock time)."""

    verify_s: float
    since: dict[int, datetime] = field(default_factory=dict)

    def observe(self, order_id: int, healthy: bool, now: datetime) -> bool:
        """One look at an order's asset; True once it has been healthy for `verify_s`."""
        if not healthy:
            self.since.pop(order_id, None)  # bad again: the wait starts over
            return False
        started = self.since.setdefault(order_id, now)
        return (now - started).total_seconds() >= self.verify_s

    def restart(self, order_id: int) -> None:
        self.since.pop(order_id, None)

    def keep_only(self, order_ids: Iterable[int]) -> None:
        keep = set(order_ids)
        for order_id in [o for o in self.since if o not in keep]:
            del self.since[order_id]


def report_sources(asset: str, circuits: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """Whose reports are evidence about `asset`: a lamp's own, a cabinet's own, and for a
    circuit its cabinet's and its lamps' (`circuits`: circuit -> (cabinet, lamps))."""
    kind, _, ident = asset.partition(":")
    if kind != "circuit":
        return [asset]
    cabinet, lamps = circuits.get(ident, ("", ()))
    return [f"cabinet:{cabinet}", *(f"lamp:{lamp}" for lamp in lamps)]
