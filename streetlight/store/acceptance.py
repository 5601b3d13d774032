"""Acceptance runs in the store (docs/contract.md, "Acceptance"): each run with the criteria,
the gathered inputs and the result, and what the acceptance reads of the ledger (a site's
fault alarms open at a moment, its work orders of a window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain.alarms import NOT_FAULTS
from streetlight.store.models import AcceptanceRunRow, AlarmRow, WorkOrderRow
from streetlight.store.times import from_store, maybe_from_store, to_store


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: str
    site: str
    first_night: date
    last_night: date
    verdict: str
    criteria: str  # JSON
    inputs: str  # JSON
    inputs_sha256: str
    result: str  # JSON
    run_by: str
    run_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None
    handover_id: int | None


def _stored(row: AcceptanceRunRow) -> StoredRun:
    return StoredRun(
        id=row.id, site=row.site_id, first_night=row.first_night, last_night=row.last_night,
        verdict=row.verdict, criteria=row.criteria, inputs=row.inputs,
        inputs_sha256=row.inputs_sha256, result=row.result, run_by=row.run_by,
        run_at=from_store(row.run_at), accepted_by=row.accepted_by,
        accepted_at=maybe_from_store(row.accepted_at), handover_id=row.handover_id,
    )  # fmt: skip


async def save_run(session: AsyncSession, run: StoredRun) -> None:
    session.add(
        AcceptanceRunRow(
            id=run.id,
            site_id=run.site,
            first_night=run.first_night,
            last_night=run.last_night,
            verdict=run.verdict,
            criteria=run.criteria,
            inputs=run.inputs,
            inputs_sha256=run.inputs_sha256,
            result=run.result,
            run_by=run.run_by,
            run_at=to_store(run.run_at),
        )
    )
    await session.flush()


async def read_run(session: AsyncSession, run_id: str) -> StoredRun | None:
    row = await session.get(AcceptanceRunRow, run_id)
    return None if row is None else _stored(row)


async def latest_run(session: AsyncSession, site: str) -> StoredRun | None:
    row = await session.scalar(
        select(AcceptanceRunRow)
        .where(AcceptanceRunRow.site_id == site)
        .order_by(AcceptanceRunRow.run_at.desc(), AcceptanceRunRow.id.desc())
        .limit(1)
    )
    return None if row is None else _stored(row)


async def site_runs(
    session: AsyncSession, site: str, *, after: str | None, limit: int
) -> list[StoredRun]:
    """A site's runs, newest first (run ids sort by time: `after` is the last id seen)."""
    query = select(AcceptanceRunRow).where(AcceptanceRunRow.site_id == site)
    if after is not None:
        query = query.where(AcceptanceRunRow.id < after)
    rows = await session.scalars(query.order_by(AcceptanceRunRow.id.desc()).limit(limit))
    return [_stored(row) for row in rows]


async def mark_accepted(
    session: AsyncSession, run_id: str, *, by: str, at: datetime, handover_id: int
) -> bool:
    """Record a run accepted, unless it already was (then False)."""
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(AcceptanceRunRow)
            .where(AcceptanceRunRow.id == run_id, AcceptanceRunRow.accepted_at.is_(None))
            .values(accepted_by=by, accepted_at=to_store(at), handover_id=handover_id)
        ),
    )
    return result.rowcount > 0


# --- what an acceptance reads of the ledger ------------------------------------------------


async def open_fault_alarms(session: AsyncSession, site: str, at: datetime) -> Sequence[AlarmRow]:
    """The site's alarms of a fault type (not a door, a lost command or stale data) raised
    before `at` and not cleared by the field by then."""
    moment = to_store(at)
    rows = await session.scalars(
        select(AlarmRow)
        .where(
            AlarmRow.site_id == site,
            AlarmRow.raised_at < moment,
            or_(AlarmRow.cleared_at.is_(None), AlarmRow.cleared_at > moment),
            AlarmRow.type.not_in([kind.value for kind in NOT_FAULTS]),
        )
        .order_by(AlarmRow.raised_at, AlarmRow.id)
    )
    return rows.all()


async def window_orders(
    session: AsyncSession, site: str, start: datetime, end: datetime
) -> list[tuple[WorkOrderRow, AlarmRow]]:
    """The site's work orders of a window: opened before its end and not closed before its
    start, oldest first, with their alarms."""
    rows = await session.execute(
        select(WorkOrderRow, AlarmRow)
        .join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
        .where(
            and_(
                AlarmRow.site_id == site,
                WorkOrderRow.opened_at < to_store(end),
                or_(WorkOrderRow.closed_at.is_(None), WorkOrderRow.closed_at >= to_store(start)),
            )
        )
        .order_by(WorkOrderRow.opened_at, WorkOrderRow.id)
    )
    return [(order, alarm) for order, alarm in rows.all()]
