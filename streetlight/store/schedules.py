"""The schedule in the relational store: saved whole after checking, read back as domain objects.

Programs and calendars are stored as their JSON documents (the schedule file's form), so what
an operator wrote is what they read back; they are checked (every program at every site that
follows it, every day of the coming year) before anything is written. Overrides are rows of
their own, kept after they expire or are cancelled: the record of who set what and why.

A writer that changes one entry (the API) reads the whole schedule, changes it and saves it
whole, under `lock_schedule`, so the check is the schedule file's and no writer loses
another's change; an entry saved unchanged keeps who saved it and when.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import Inventory, LampStatus
from streetlight.schedule import (
    Evaluator,
    GroupRef,
    Groups,
    Override,
    ProgramError,
    Schedule,
    check_schedule,
)
from streetlight.schedule.file import (
    calendar_document,
    parse_calendar,
    parse_program,
    program_document,
)
from streetlight.store.models import (
    CalendarAssignmentRow,
    CalendarRow,
    LampRow,
    NamedGroupMemberRow,
    OverrideRow,
    ProgramRow,
    SpecialDayRow,
)
from streetlight.store.times import from_store, to_store

# the key of PostgreSQL's advisory lock that writers of the schedule take (`lock_schedule`)
SCHEDULE_LOCK = 0x53_4C_53_43  # "SLSC"

OverrideState = Literal["active", "upcoming", "past", "all"]


@dataclass(frozen=True, slots=True)
class SavedEntry:
    """A program or calendar as stored: its document (the schedule file's form), who saved it
    and when."""

    id: str
    document: dict[str, Any]
    saved_at: datetime
    saved_by: str


@dataclass(frozen=True, slots=True)
class OverrideRecord:
    """An override with what only the record keeps: when it was set, who cancelled it."""

    override: Override
    set_at: datetime
    cancelled_by: str | None


async def save_schedule(
    session: AsyncSession, schedule: Schedule, groups: Groups, *, by: str, at: datetime
) -> None:
    """Replace programs, calendars, assignments and special days (overrides stay), in one
    transaction the caller commits. Checked first: nothing is written if anything is wrong.
    A program or calendar whose document is unchanged keeps its `saved_at` and `saved_by`.

    The check walks every day of the year for each program at its sites (about half a second):
    it runs in a worker thread, so a server's event loop keeps answering meanwhile. It holds
    the schedule's write lock (`lock_schedule`; a writer that read the schedule to change it
    took it already) from here to the commit."""
    await asyncio.to_thread(check_schedule, schedule, groups, at.year)
    await lock_schedule(session)
    stamps = {
        model: {
            row.id: (row.document, row.saved_at, row.saved_by)
            for row in await session.execute(
                select(model.id, model.document, model.saved_at, model.saved_by)
            )
        }
        for model in (ProgramRow, CalendarRow)
    }

    def stamped(model: type[ProgramRow | CalendarRow], ident: str, document: str) -> Any:
        kept = stamps[model].get(ident)
        if kept is not None and kept[0] == document:
            return {"saved_at": kept[1], "saved_by": kept[2]}
        return {"saved_at": at.astimezone(UTC), "saved_by": by}

    for model in (CalendarAssignmentRow, CalendarRow, ProgramRow, SpecialDayRow):
        await session.execute(delete(model))
    for program in schedule.programs.values():
        document = json.dumps(program_document(program))
        session.add(
            ProgramRow(id=program.id, name=program.name, document=document,
                       **stamped(ProgramRow, program.id, document))
        )  # fmt: skip
    for calendar in schedule.calendars.values():
        document = json.dumps(calendar_document(calendar))
        session.add(
            CalendarRow(id=calendar.id, document=document,
                        **stamped(CalendarRow, calendar.id, document))
        )  # fmt: skip
    await session.flush()
    for group, calendar_id in schedule.assignments.items():
        session.add(CalendarAssignmentRow(group_ref=str(group), calendar_id=calendar_id))
    for day, names in schedule.special_days.items():
        for name in sorted(names):
            session.add(SpecialDayRow(day=day, name=name))
    await session.flush()


async def lock_schedule(session: AsyncSession) -> None:
    """Hold the schedule's write lock for the rest of the caller's transaction; take it before
    reading the schedule to change it, so writers that read, change and save it whole follow
    one another and none loses another's change. PostgreSQL: a transaction-level advisory
    lock (taken again by the same transaction, it holds at once). SQLite: its database write
    lock, taken by a write that changes nothing (another writer waits the busy timeout)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(SCHEDULE_LOCK)))
    else:
        await session.execute(text("UPDATE programs SET name = name WHERE 0 = 1"))


async def saved_programs(session: AsyncSession, only: str | None = None) -> list[SavedEntry]:
    """Every program as stored (or the one `only`), by id."""
    query = select(ProgramRow).order_by(ProgramRow.id)
    if only is not None:
        query = query.where(ProgramRow.id == only)
    return [_saved(row) for row in (await session.scalars(query)).all()]


async def saved_calendars(session: AsyncSession, only: str | None = None) -> list[SavedEntry]:
    """Every calendar as stored (or the one `only`), by id."""
    query = select(CalendarRow).order_by(CalendarRow.id)
    if only is not None:
        query = query.where(CalendarRow.id == only)
    return [_saved(row) for row in (await session.scalars(query)).all()]


def _saved(row: ProgramRow | CalendarRow) -> SavedEntry:
    return SavedEntry(row.id, json.loads(row.document), from_store(row.saved_at), row.saved_by)


async def read_schedule(session: AsyncSession) -> Schedule:
    programs = {
        row.id: parse_program(row.id, json.loads(row.document))
        for row in (await session.scalars(select(ProgramRow))).all()
    }
    calendars = {
        row.id: parse_calendar(row.id, json.loads(row.document))
        for row in (await session.scalars(select(CalendarRow))).all()
    }
    assignments = {
        GroupRef.parse(row.group_ref): row.calendar_id
        for row in (await session.scalars(select(CalendarAssignmentRow))).all()
    }
    special: dict[date, frozenset[str]] = {}
    for row in (await session.scalars(select(SpecialDayRow))).all():
        special[row.day] = special.get(row.day, frozenset()) | {row.name}
    overrides = [_override(row) for row in (await session.scalars(select(OverrideRow))).all()]
    return Schedule(programs, calendars, assignments, special, overrides)


async def read_named_groups(session: AsyncSession) -> dict[str, frozenset[str]]:
    """Named groups of lamps in the field (a planned or retired lamp is in no group's way)."""
    named: dict[str, set[str]] = {}
    members = (
        select(NamedGroupMemberRow)
        .join(LampRow, LampRow.id == NamedGroupMemberRow.lamp_id)
        .where(LampRow.status == LampStatus.INSTALLED)
    )
    for row in (await session.scalars(members)).all():
        named.setdefault(row.group_id, set()).add(row.lamp_id)
    return {group: frozenset(lamps) for group, lamps in named.items()}


async def add_override(
    session: AsyncSession,
    groups: Groups,
    *,
    group: GroupRef,
    level: int | None,
    starts: datetime,
    ends: datetime | None,
    reason: str,
    by: str,
    at: datetime,
) -> Override:
    """Record an override (checked first); the caller commits."""
    groups.check(group)
    checked = Override(0, group, level, starts, ends, reason, by)  # raises ProgramError
    row = OverrideRow(
        scope=group.scope,
        group_id=group.id,
        level=level,
        starts=starts.astimezone(UTC),
        ends=None if ends is None else ends.astimezone(UTC),
        reason=reason,
        set_by=by,
        set_at=at.astimezone(UTC),
    )
    session.add(row)
    await session.flush()
    return Override(row.id, checked.group, level, starts, ends, reason, by)


async def cancel_override(
    session: AsyncSession, override_id: int, *, by: str, at: datetime
) -> None:
    """End an override at `at`; refused if there is none or it was cancelled already (two
    cancellations at once: the first one's stands)."""
    cancelled = await session.execute(
        update(OverrideRow)
        .where(OverrideRow.id == override_id, OverrideRow.cancelled_at.is_(None))
        .values(cancelled_at=at.astimezone(UTC), cancelled_by=by)
        .execution_options(synchronize_session=False)
    )
    if cancelled.rowcount == 1:  # type: ignore[attr-defined]
        return
    row = await session.get(OverrideRow, override_id, populate_existing=True)
    if row is None:
        raise ProgramError(f"override {override_id}: no such override")
    raise ProgramError(f"override {override_id}: already cancelled at {row.cancelled_at}")


async def read_override(session: AsyncSession, override_id: int) -> OverrideRecord | None:
    row = await session.get(OverrideRow, override_id, populate_existing=True)
    return None if row is None else _record(row)


async def list_overrides(
    session: AsyncSession,
    *,
    state: OverrideState,
    now: datetime,
    below_id: int | None = None,
    limit: int,
) -> list[OverrideRecord]:
    """Overrides newest first (by id, below `below_id`): `active` at `now`, `upcoming` (not
    started yet), `past` (expired or cancelled) or `all`."""
    moment = to_store(now)
    standing = or_(OverrideRow.cancelled_at.is_(None), OverrideRow.cancelled_at > moment)
    query = select(OverrideRow)
    if state == "active":
        query = query.where(
            standing,
            OverrideRow.starts <= moment,
            or_(OverrideRow.ends.is_(None), OverrideRow.ends > moment),
        )
    elif state == "upcoming":
        query = query.where(standing, OverrideRow.starts > moment)
    elif state == "past":
        query = query.where(
            or_(
                and_(OverrideRow.cancelled_at.is_not(None), OverrideRow.cancelled_at <= moment),
                OverrideRow.ends <= moment,
            )
        )
    if below_id is not None:
        query = query.where(OverrideRow.id < below_id)
    rows = await session.scalars(query.order_by(OverrideRow.id.desc()).limit(limit))
    return [_record(row) for row in rows.all()]


def _record(row: OverrideRow) -> OverrideRecord:
    return OverrideRecord(_override(row), from_store(row.set_at), row.cancelled_by)


def _override(row: OverrideRow) -> Override:
    return Override(
        row.id,
        GroupRef(row.scope, row.group_id),
        row.level,
        from_store(row.starts),
        None if row.ends is None else from_store(row.ends),
        row.reason,
        row.set_by,
        None if row.cancelled_at is None else from_store(row.cancelled_at),
    )


async def read_evaluator(
    session: AsyncSession, inventory: Inventory, current: Evaluator | None = None
) -> Evaluator | None:
    """The store's schedule as an Evaluator of `inventory`; None when it is the same as
    `current`'s (nothing to rebuild). The groups are rebuilt only if the named groups changed."""
    schedule = await read_schedule(session)
    named = await read_named_groups(session)
    if current is not None and schedule == current.schedule and named == current.groups.named:
        return None
    if current is not None and named == current.groups.named:
        groups = current.groups
    else:
        groups = Groups(inventory, named)
    return Evaluator(groups, schedule)
