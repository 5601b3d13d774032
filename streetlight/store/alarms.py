"""Alarms in the relational store: written as they change, read by operators, exported.

The controller writes every change of its alarm book (raised, suppressed under a root cause,
surfaced, cleared) with the transition log; operators acknowledge, comment and close alarms
here too (`streetlight alarms ack|close`, the API), by name. The controller's own restart state
(open alarms linked to their roots, detection's debounce) is read and saved by the controller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import AlarmChange, AlarmState, AlarmType, Severity
from streetlight.domain.workorders import CONTROLLER
from streetlight.errors import StreetlightError
from streetlight.store.models import (
    AlarmRow,
    AlarmTransitionRow,
    CommunityRow,
    SiteRow,
    WorkOrderRow,
)
from streetlight.store.times import from_store, maybe_from_store, to_store


class AlarmStoreError(StreetlightError):
    """An operator's request the store refuses; the message says why."""


COMMENT = "comment"  # a transition that changes nothing: a note, who wrote it, when
NOTE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of one alarm, as the controller's alarm book reported it."""

    alarm_id: int
    type: AlarmType
    asset: str
    severity: Severity
    site: str
    raised_at: datetime
    detail: str
    change: AlarmChange
    at: datetime
    state: AlarmState
    parent: int | None
    cleared_at: datetime | None
    note: str


async def write_transitions(session: AsyncSession, transitions: Sequence[Transition]) -> None:
    """Apply the book's changes, in order, in the caller's transaction."""
    for t in transitions:
        if t.change is AlarmChange.RAISED:
            kind, _, ident = t.asset.partition(":")
            session.add(
                AlarmRow(
                    id=t.alarm_id,
                    type=t.type.value,
                    asset_kind=kind,
                    asset_id=ident,
                    severity=t.severity.value,
                    state=AlarmState.RAISED.value,
                    site_id=t.site,
                    parent_id=t.parent,
                    raised_at=to_store(t.at),
                    cleared_at=None,
                    detail=t.detail[:500],
                )
            )
            await session.flush()
        elif t.change is AlarmChange.CLEARED:
            await session.execute(
                update(AlarmRow)
                .where(AlarmRow.id == t.alarm_id)
                .values(state=AlarmState.CLEARED.value, cleared_at=to_store(t.at))
            )
        elif t.change in (AlarmChange.SUPPRESSED, AlarmChange.SURFACED):
            await session.execute(
                update(AlarmRow).where(AlarmRow.id == t.alarm_id).values(parent_id=t.parent)
            )
        session.add(
            AlarmTransitionRow(
                alarm_id=t.alarm_id,
                change=t.change.value,
                at=to_store(t.at),
                by=CONTROLLER,
                detail=(t.note or None) and t.note[:500],
            )
        )


async def next_alarm_id(session: AsyncSession) -> int:
    highest = await session.scalar(select(func.max(AlarmRow.id)))
    return (highest or 0) + 1


# --- operators -----------------------------------------------------------------------------------

_NEXT: dict[str, tuple[str, ...]] = {
    # the states from which each operator step may be taken
    AlarmState.ACKNOWLEDGED.value: (AlarmState.RAISED.value,),
    AlarmState.CLOSED.value: (AlarmState.CLEARED.value,),
}


async def operator_step(
    session: AsyncSession, alarm_id: int, step: AlarmState, *, by: str, at: datetime, note: str
) -> AlarmRow:
    """Acknowledge a raised alarm, or close one the field has cleared; refused otherwise."""
    row = await session.get(AlarmRow, alarm_id)
    if row is None:
        raise AlarmStoreError(f"alarm al-{alarm_id}: no such alarm")
    allowed = _NEXT.get(step.value)
    if allowed is None:
        raise AlarmStoreError(f"alarm al-{alarm_id}: an operator cannot make it {step.value}")
    if step is AlarmState.ACKNOWLEDGED and row.state == AlarmState.CLEARED.value:
        allowed = (*allowed, AlarmState.CLEARED.value)  # noted; the state stays cleared
    if row.state not in allowed:
        why = " (the field has not cleared it)" if step is AlarmState.CLOSED else ""
        raise AlarmStoreError(f"alarm al-{alarm_id} is {row.state}: it cannot be {step.value}{why}")
    if not (step is AlarmState.ACKNOWLEDGED and row.state == AlarmState.CLEARED.value):
        row.state = step.value
    session.add(
        AlarmTransitionRow(
            alarm_id=alarm_id, change=step.value, at=to_store(at), by=by,
            detail=note[:NOTE_LIMIT] or None,
        )
    )  # fmt: skip
    return row


async def comment_alarm(
    session: AsyncSession, alarm_id: int, *, by: str, at: datetime, note: str
) -> AlarmRow:
    """A note on an alarm, in its transition log; its state stays as it is."""
    row = await session.get(AlarmRow, alarm_id)
    if row is None:
        raise AlarmStoreError(f"alarm al-{alarm_id}: no such alarm")
    session.add(
        AlarmTransitionRow(
            alarm_id=alarm_id, change=COMMENT, at=to_store(at), by=by, detail=note[:NOTE_LIMIT]
        )
    )
    return row


async def newer_alarm(session: AsyncSession, row: AlarmRow) -> int | None:
    """A later alarm of the same type on the same asset, if there is one: the bus keeps one
    retained message per asset and type, and that one is then the later alarm's."""
    found: int | None = await session.scalar(
        select(func.min(AlarmRow.id)).where(
            AlarmRow.type == row.type,
            AlarmRow.asset_kind == row.asset_kind,
            AlarmRow.asset_id == row.asset_id,
            AlarmRow.id > row.id,
        )
    )
    return found


# --- reading -------------------------------------------------------------------------------------

OPEN_STATES = frozenset({AlarmState.RAISED.value, AlarmState.ACKNOWLEDGED.value})


@dataclass(frozen=True, slots=True)
class AlarmQuery:
    """Which alarms to list; each None (or False) filter lets every alarm through."""

    states: frozenset[str] | None = None
    type: str | None = None
    severity: str | None = None
    site: str | None = None
    sites: frozenset[str] | None = None  # a caller's scope, or a maintainer's sites
    subdistrict: str | None = None
    asset: tuple[str, str] | None = None  # (kind, id)
    raised_since: datetime | None = None  # inclusive
    raised_until: datetime | None = None  # exclusive
    roots_only: bool = False


def _with_order() -> Select[AlarmRow, int | None]:
    """Alarms with the id of their work order (None: none)."""
    return select(AlarmRow, WorkOrderRow.id).outerjoin(
        WorkOrderRow, WorkOrderRow.alarm_id == AlarmRow.id
    )


class AlarmLine(NamedTuple):
    """An alarm as a list shows it: its row's columns and its work order's id (None: none),
    read as plain rows: building the ORM's objects cost a page of the list more than twice
    what its query did."""

    id: int
    type: str
    asset_kind: str
    asset_id: str
    severity: str
    state: str
    site_id: str
    parent_id: int | None
    raised_at: datetime
    cleared_at: datetime | None
    detail: str
    work_order: int | None


_LINE_COLUMNS = [AlarmRow.__table__.c[name] for name in AlarmLine._fields[:-1]]


_Statement = TypeVar("_Statement", bound=Select[Any])


def _filtered(statement: _Statement, query: AlarmQuery) -> _Statement:
    if query.states is not None:
        statement = statement.where(AlarmRow.state.in_(sorted(query.states)))
    for column, value in (
        (AlarmRow.type, query.type),
        (AlarmRow.severity, query.severity),
        (AlarmRow.site_id, query.site),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.sites is not None:
        statement = statement.where(AlarmRow.site_id.in_(sorted(query.sites)))
    if query.subdistrict is not None:
        sites = (
            select(SiteRow.id)
            .join(CommunityRow, CommunityRow.id == SiteRow.community_id)
            .where(CommunityRow.subdistrict_id == query.subdistrict)
        )
        statement = statement.where(AlarmRow.site_id.in_(sites))
    if query.asset is not None:
        kind, ident = query.asset
        statement = statement.where(AlarmRow.asset_kind == kind, AlarmRow.asset_id == ident)
    if query.raised_since is not None:
        statement = statement.where(AlarmRow.raised_at >= to_store(query.raised_since))
    if query.raised_until is not None:
        statement = statement.where(AlarmRow.raised_at < to_store(query.raised_until))
    if query.roots_only:
        statement = statement.where(AlarmRow.parent_id.is_(None))
    return statement


def _lines() -> Select[Any]:
    return select(*_LINE_COLUMNS, WorkOrderRow.id).outerjoin(
        WorkOrderRow, WorkOrderRow.alarm_id == AlarmRow.id
    )


async def find_alarms(
    session: AsyncSession,
    query: AlarmQuery,
    *,
    after: int | None,
    limit: int,
    newest_first: bool = False,
) -> list[AlarmLine]:
    """A page of the alarms `query` lets through, by id, after the alarm `after`."""
    statement = _filtered(_lines(), query)
    if newest_first:
        if after is not None:
            statement = statement.where(AlarmRow.id < after)
        statement = statement.order_by(AlarmRow.id.desc())
    else:
        if after is not None:
            statement = statement.where(AlarmRow.id > after)
        statement = statement.order_by(AlarmRow.id)
    return [AlarmLine._make(row) for row in (await session.execute(statement.limit(limit))).all()]


async def alarm_lines(session: AsyncSession, ids: Collection[int] | None) -> list[AlarmLine]:
    """The lines of the alarms `ids` (None: of every alarm), by id; an id of no alarm is left
    out."""
    if ids is None:
        return [AlarmLine._make(row) for row in (await session.execute(_lines())).all()]
    lines: list[AlarmLine] = []
    wanted = sorted(ids)
    for first in range(0, len(wanted), _CHUNK):
        statement = _lines().where(AlarmRow.id.in_(wanted[first : first + _CHUNK]))
        lines.extend(AlarmLine._make(row) for row in (await session.execute(statement)).all())
    return sorted(lines)


_CHUNK = 500  # ids in one `IN (...)`
# the two logs of what changes an alarm as a list shows it: each change of its state (and each
# note) is a transition, and its work order, once opened, is for good
CHANGE_LOGS: dict[str, type[AlarmTransitionRow] | type[WorkOrderRow]] = {
    "transitions": AlarmTransitionRow,
    "orders": WorkOrderRow,
}


async def changes_after(
    session: AsyncSession, log: str, after: int, also: Collection[int] = ()
) -> list[tuple[int, int]]:
    """The rows of a change log (`CHANGE_LOGS`) with an id after `after` or in `also`, as
    (row id, alarm id), by row id."""
    table = CHANGE_LOGS[log]
    wanted = table.id > after
    if also:
        wanted = wanted | table.id.in_(sorted(also))
    rows = await session.execute(select(table.id, table.alarm_id).where(wanted).order_by(table.id))
    return [(row_id, alarm_id) for row_id, alarm_id in rows.all()]


async def last_change(session: AsyncSession, log: str) -> int:
    """The highest row id of a change log (0: empty)."""
    table = CHANGE_LOGS[log]
    return int(await session.scalar(select(func.max(table.id))) or 0)


async def site_subdistricts(session: AsyncSession) -> dict[str, str]:
    """Each site's subdistrict, as the `subdistrict` filter of a query joins them."""
    rows = await session.execute(
        select(SiteRow.id, CommunityRow.subdistrict_id).join(
            CommunityRow, CommunityRow.id == SiteRow.community_id
        )
    )
    return {str(site): str(subdistrict) for site, subdistrict in rows.all()}


async def alarm_with_order(
    session: AsyncSession, alarm_id: int
) -> tuple[AlarmRow, int | None] | None:
    found = (await session.execute(_with_order().where(AlarmRow.id == alarm_id))).first()
    return None if found is None else (found[0], found[1])


async def alarm_children(session: AsyncSession, alarm_id: int) -> list[tuple[AlarmRow, int | None]]:
    """The alarms linked under `alarm_id` now (suppressed by it as their root cause)."""
    statement = _with_order().where(AlarmRow.parent_id == alarm_id).order_by(AlarmRow.id)
    return [(row, order) for row, order in (await session.execute(statement)).all()]


async def alarm_transitions(session: AsyncSession, alarm_id: int) -> Sequence[AlarmTransitionRow]:
    """Every change of an alarm and every note on it, oldest first."""
    return (
        await session.scalars(
            select(AlarmTransitionRow)
            .where(AlarmTransitionRow.alarm_id == alarm_id)
            .order_by(AlarmTransitionRow.id)
        )
    ).all()


# --- export --------------------------------------------------------------------------------------


def parse_alarm_id(text: str) -> int:
    """`al-12` or `12` -> 12."""
    digits = text.removeprefix("al-")
    if not digits.isdigit():
        raise AlarmStoreError(f"{text!r} is not an alarm id (al-<number>)")
    return int(digits)


def export_record(row: AlarmRow) -> dict[str, object]:
    """An alarm as a line of `streetlight alarms export` (docs/contract.md)."""
    return {
        "id": f"al-{row.id}",
        "type": row.type,
        "asset": f"{row.asset_kind}:{row.asset_id}",
        "raised_at": from_store(row.raised_at).isoformat(),
        "cleared_at": _iso(maybe_from_store(row.cleared_at)),
        "parent": f"al-{row.parent_id}" if row.parent_id is not None else None,
        "severity": row.severity,
        "state": row.state,
        "site": row.site_id,
        "detail": row.detail,
    }


async def open_alarm_rows(session: AsyncSession) -> Sequence[AlarmRow]:
    return (
        await session.scalars(
            select(AlarmRow).where(AlarmRow.cleared_at.is_(None)).order_by(AlarmRow.id)
        )
    ).all()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def export_alarms(
    session: AsyncSession, start: datetime, end: datetime
) -> AsyncIterator[dict[str, object]]:
    """Alarms raised in [start, end), oldest first."""
    query = (
        select(AlarmRow)
        .where(AlarmRow.raised_at >= to_store(start), AlarmRow.raised_at < to_store(end))
        .order_by(AlarmRow.raised_at, AlarmRow.id)
    )
    for row in (await session.scalars(query)).all():
        yield export_record(row)


async def root_alarm_counts(
    session: AsyncSession, start: datetime, end: datetime
) -> dict[str, tuple[int, int]]:
    """Per site, for the KPIs: root alarms (no parent) raised in [start, end), and root alarms
    the field cleared in it."""
    counts: dict[str, list[int]] = {}
    for index, column in enumerate((AlarmRow.raised_at, AlarmRow.cleared_at)):
        rows = await session.execute(
            select(AlarmRow.site_id, func.count())
            .where(
                AlarmRow.parent_id.is_(None),
                column >= to_store(start),
                column < to_store(end),
            )
            .group_by(AlarmRow.site_id)
        )
        for site, count in rows.all():
            counts.setdefault(site, [0, 0])[index] = count
    return {site: (raised, cleared) for site, (raised, cleared) in counts.items()}
