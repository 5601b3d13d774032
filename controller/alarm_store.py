"""Alarms in the relational store: written as they change, read back after a restart, exported.

The controller writes every change of the alarm book (raised, suppressed under a root cause,
surfaced, cleared) with the transition log; operators acknowledge and close alarms here too
(`streetlight alarms ack|close`), by name. Detection's debounce state is saved as a snapshot so
a restarted controller neither forgets a fault half-way to being raised nor raises one twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from controller.alarms import Alarm, Change, Key, Watch
from streetlight.domain import AlarmState, AlarmType, Severity
from streetlight.errors import StreetlightError
from streetlight.store.models import AlarmRow, AlarmTransitionRow, AlarmWatchRow
from streetlight.store.times import from_store, maybe_from_store, to_store

CONTROLLER = "controller"


class AlarmStoreError(StreetlightError):
    """An operator's request the store refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of one alarm, as the book reported it."""

    alarm_id: int
    type: AlarmType
    asset: str
    severity: Severity
    site: str
    raised_at: datetime
    detail: str
    change: Change
    at: datetime
    state: AlarmState
    parent: int | None
    cleared_at: datetime | None
    note: str

    @classmethod
    def of(cls, alarm: Alarm, change: Change, at: datetime, note: str) -> Transition:
        return cls(
            alarm_id=alarm.id,
            type=alarm.type,
            asset=alarm.asset,
            severity=alarm.severity,
            site=alarm.site,
            raised_at=alarm.raised_at,
            detail=alarm.detail,
            change=change,
            at=at,
            state=alarm.state,
            parent=alarm.parent.id if alarm.parent is not None else None,
            cleared_at=alarm.cleared_at,
            note=note,
        )


async def write_transitions(session: AsyncSession, transitions: Sequence[Transition]) -> None:
    """Apply the book's changes, in order, in the caller's transaction."""
    for t in transitions:
        if t.change is Change.RAISED:
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
        elif t.change is Change.CLEARED:
            await session.execute(
                update(AlarmRow)
                .where(AlarmRow.id == t.alarm_id)
                .values(state=AlarmState.CLEARED.value, cleared_at=to_store(t.at))
            )
        elif t.change in (Change.SUPPRESSED, Change.SURFACED):
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


async def read_open_alarms(session: AsyncSession) -> list[Alarm]:
    """Alarms the field has not cleared, with their parents linked (for a restart)."""
    rows = (
        await session.scalars(
            select(AlarmRow).where(AlarmRow.cleared_at.is_(None)).order_by(AlarmRow.id)
        )
    ).all()
    alarms = {
        row.id: Alarm(
            id=row.id,
            type=AlarmType(row.type),
            asset=f"{row.asset_kind}:{row.asset_id}",
            severity=Severity(row.severity),
            site=row.site_id,
            raised_at=from_store(row.raised_at),
            detail=row.detail,
            state=AlarmState(row.state),
        )
        for row in rows
    }
    for row in rows:
        if row.parent_id is not None and row.parent_id in alarms:
            child, parent = alarms[row.id], alarms[row.parent_id]
            child.parent = parent
            parent.children.append(child)
    return list(alarms.values())


def _watch_key(key: Key) -> str:
    return f"{key[0].value}|{key[1]}"


async def save_watches(session: AsyncSession, watches: dict[Key, Watch], at: datetime) -> None:
    """Replace the saved debounce state with the book's."""
    await session.execute(delete(AlarmWatchRow))
    for key, watch in watches.items():
        document = {
            "bad": watch.bad,
            "good": watch.good,
            "onset": watch.onset.isoformat() if watch.onset else None,
            "alarm": watch.alarm.id if watch.alarm else None,
        }
        session.add(
            AlarmWatchRow(key=_watch_key(key), document=json.dumps(document), saved_at=to_store(at))
        )


async def read_watches(session: AsyncSession) -> dict[Key, tuple[Watch, int | None]]:
    """The saved debounce states, with the id of the alarm each had raised (if any)."""
    found: dict[Key, tuple[Watch, int | None]] = {}
    for row in (await session.scalars(select(AlarmWatchRow))).all():
        kind, _, asset = row.key.partition("|")
        document = json.loads(row.document)
        onset = document.get("onset")
        watch = Watch(
            bad=int(document.get("bad", 0)),
            good=int(document.get("good", 0)),
            onset=datetime.fromisoformat(onset) if onset else None,
        )
        found[(AlarmType(kind), asset)] = (watch, document.get("alarm"))
    return found


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
