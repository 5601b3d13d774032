"""Alarms in the relational store: written as they change, read by operators, exported.

The controller writes every change of its alarm book (raised, suppressed under a root cause,
surfaced, cleared) with the transition log; operators acknowledge and close alarms here too
(`streetlight alarms ack|close`), by name. The controller's own restart state (open alarms
linked to their roots, detection's debounce) is read and saved by the controller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import AlarmChange, AlarmState, AlarmType, Severity
from streetlight.domain.workorders import CONTROLLER
from streetlight.errors import StreetlightError
from streetlight.store.models import AlarmRow, AlarmTransitionRow
from streetlight.store.times import from_store, maybe_from_store, to_store


class AlarmStoreError(StreetlightError):
    """An operator's request the store refuses; the message says why."""


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
            alarm_id=alarm_id, change=step.value, at=to_store(at), by=by, detail=note or None
        )
    )
    return row


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
