"""The schedule in the relational store: saved whole after checking, read back as domain objects.

Programs and calendars are stored as their JSON documents (the schedule file's form), so what
an operator wrote is what they read back; they are checked (every program at every site that
follows it, every day of the coming year) before anything is written. Overrides are rows of
their own, kept after they expire or are cancelled: the record of who set what and why.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import delete, select
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
from streetlight.store.times import from_store


async def save_schedule(
    session: AsyncSession, schedule: Schedule, groups: Groups, *, by: str, at: datetime
) -> None:
    """Replace programs, calendars, assignments and special days (overrides stay), in one
    transaction the caller commits. Checked first: nothing is written if anything is wrong."""
    check_schedule(schedule, groups, at.year)
    for model in (CalendarAssignmentRow, CalendarRow, ProgramRow, SpecialDayRow):
        await session.execute(delete(model))
    for program in schedule.programs.values():
        session.add(
            ProgramRow(
                id=program.id,
                name=program.name,
                document=json.dumps(program_document(program)),
                saved_at=at.astimezone(UTC),
                saved_by=by,
            )
        )
    for calendar in schedule.calendars.values():
        session.add(
            CalendarRow(
                id=calendar.id,
                document=json.dumps(calendar_document(calendar)),
                saved_at=at.astimezone(UTC),
                saved_by=by,
            )
        )
    await session.flush()
    for group, calendar_id in schedule.assignments.items():
        session.add(CalendarAssignmentRow(group_ref=str(group), calendar_id=calendar_id))
    for day, names in schedule.special_days.items():
        for name in sorted(names):
            session.add(SpecialDayRow(day=day, name=name))
    await session.flush()


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
    row = await session.get(OverrideRow, override_id)
    if row is None:
        raise ProgramError(f"override {override_id}: no such override")
    if row.cancelled_at is not None:
        raise ProgramError(f"override {override_id}: already cancelled at {row.cancelled_at}")
    row.cancelled_at, row.cancelled_by = at.astimezone(UTC), by
    await session.flush()


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
