"""Work orders, their transitions and site handovers in the relational store.

The controller opens orders, marks them verified and escalates them; crews dispatch, report
repairs and close them from the CLI, in another process, at any moment. Every state change is
therefore a conditional UPDATE (`WHERE state = <the state before>`): whichever side comes
second finds nothing to update and is told so, and neither overwrites the other. Every change
is also a row of `work_order_transitions`, with who and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, and_, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import AlarmType, Severity
from streetlight.domain.workorders import (
    COMMENT,
    CONTROLLER,
    ESCALATED,
    OPEN_STATES,
    LedgerError,
    OrderState,
    check_step,
    order_label,
    overdue,
)
from streetlight.store.models import (
    AlarmRow,
    HandoverRow,
    MaintainerRow,
    SiteRow,
    WorkOrderRow,
    WorkOrderTransitionRow,
)
from streetlight.store.times import from_store, maybe_from_store, to_store

NOTE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ActiveOrder:
    """An order not yet verified, with what the controller needs of its alarm."""

    id: int
    alarm_id: int
    type: AlarmType
    asset: str
    site: str
    maintainer: str
    severity: Severity
    state: OrderState
    opened_at: datetime
    deadline: datetime
    repaired_at: datetime | None
    escalated_at: datetime | None
    raised_at: datetime
    detail: str

    @property
    def label(self) -> str:
        return order_label(self.id)


@dataclass(frozen=True, slots=True)
class OrderTimes:
    """A work order's moments with its alarm's, for the KPIs (docs/contract.md, "KPI
    measurements"): `verified_at` is its latest verification."""

    id: int
    alarm_id: int
    type: AlarmType
    asset: str
    site: str
    maintainer: str
    severity: Severity
    state: OrderState
    raised_at: datetime
    opened_at: datetime
    deadline: datetime
    repaired_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None

    @property
    def label(self) -> str:
        return order_label(self.id)


def _transition(order_id: int, change: str, at: datetime, by: str, note: str) -> Any:
    return WorkOrderTransitionRow(
        work_order_id=order_id, change=change, at=to_store(at), by=by,
        note=note[:NOTE_LIMIT] or None,
    )  # fmt: skip


async def _changed(session: AsyncSession, statement: Update) -> bool:
    """Run a conditional UPDATE; whether it changed a row."""
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount > 0


# --- handovers -----------------------------------------------------------------------------------


async def record_handover(
    session: AsyncSession, site: str, maintainer: str, at: datetime, *, by: str, note: str
) -> HandoverRow:
    """Record that `site` passed to `maintainer` (its id or its exact name) at `at`."""
    if await session.get(SiteRow, site) is None:
        raise LedgerError(f"unknown site {site!r}: not in the store's asset tree")
    row = await session.get(MaintainerRow, maintainer)
    if row is None:
        row = await session.scalar(select(MaintainerRow).where(MaintainerRow.name == maintainer))
    if row is None:
        raise LedgerError(f"unknown maintainer {maintainer!r}: no maintainer has that id or name")
    handover = HandoverRow(
        site_id=site, maintainer_id=row.id, handed_over_at=to_store(at), by=by,
        note=note[:NOTE_LIMIT] or None,
    )  # fmt: skip
    session.add(handover)
    await session.flush()
    return handover


async def maintainer_for(session: AsyncSession, site: str, at: datetime, default: str) -> str:
    """Who maintains `site` at `at`: the latest handover on or before it, else `default`."""
    latest = await session.scalar(
        select(HandoverRow.maintainer_id)
        .where(HandoverRow.site_id == site, HandoverRow.handed_over_at <= to_store(at))
        .order_by(HandoverRow.handed_over_at.desc(), HandoverRow.id.desc())
        .limit(1)
    )
    return latest or default


async def maintainers_at(session: AsyncSession, at: datetime) -> dict[str, str]:
    """Every site's maintainer at `at`: the latest handover on or before it, else the tree's."""
    current = {row.id: row.maintainer_id for row in (await session.scalars(select(SiteRow)))}
    handovers = await session.scalars(
        select(HandoverRow)
        .where(HandoverRow.handed_over_at <= to_store(at))
        .order_by(HandoverRow.handed_over_at, HandoverRow.id)
    )
    for handover in handovers:  # in time order: the latest wins
        if handover.site_id in current:
            current[handover.site_id] = handover.maintainer_id
    return current


async def sites_of(session: AsyncSession, maintainer: str, at: datetime) -> frozenset[str]:
    """The sites `maintainer` maintains at `at`."""
    return frozenset(s for s, m in (await maintainers_at(session, at)).items() if m == maintainer)


@dataclass(frozen=True, slots=True)
class MaintainerScope:
    """What one maintainer's people see and touch: the alarms and orders of the sites it
    maintains now, and the orders registered to it (an order opened before a handover stays
    with the maintainer it was registered for)."""

    maintainer: str
    sites: frozenset[str]


async def scope_of(session: AsyncSession, maintainer: str, at: datetime) -> MaintainerScope:
    return MaintainerScope(maintainer, await sites_of(session, maintainer, at))


def in_scope(scope: MaintainerScope | None, order: WorkOrderRow, alarm: AlarmRow) -> bool:
    """Whether an order is the scope's (None: every order is)."""
    return scope is None or alarm.site_id in scope.sites or order.maintainer_id == scope.maintainer


# --- the controller's steps ----------------------------------------------------------------------


async def order_of_alarm(session: AsyncSession, alarm_id: int) -> WorkOrderRow | None:
    found: WorkOrderRow | None = await session.scalar(
        select(WorkOrderRow).where(WorkOrderRow.alarm_id == alarm_id)
    )
    return found


async def open_alarms_with_orders(session: AsyncSession) -> set[int]:
    """The alarms not yet cleared that have a work order (a restart holds the others again)."""
    found = await session.scalars(
        select(WorkOrderRow.alarm_id)
        .join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
        .where(AlarmRow.cleared_at.is_(None))
    )
    return set(found.all())


async def open_order(
    session: AsyncSession,
    *,
    alarm_id: int,
    maintainer: str,
    severity: Severity,
    opened_at: datetime,
    deadline: datetime,
) -> tuple[WorkOrderRow, bool]:
    """The alarm's work order, registered now unless it has one already (True if new)."""
    existing = await order_of_alarm(session, alarm_id)
    if existing is not None:
        return existing, False
    row = WorkOrderRow(
        alarm_id=alarm_id, maintainer_id=maintainer, severity=severity.value,
        state=OrderState.REGISTERED.value, opened_at=to_store(opened_at),
        deadline=to_store(deadline),
    )  # fmt: skip
    session.add(row)  # a second one would fail the unique alarm_id and roll back
    await session.flush()
    session.add(
        _transition(row.id, OrderState.REGISTERED.value, opened_at, CONTROLLER, f"for {maintainer}")
    )
    return row, True


def _order_and_alarm(order: WorkOrderRow, alarm: AlarmRow) -> dict[str, Any]:
    """What ActiveOrder and OrderTimes both hold of an order and its alarm."""
    return {
        "id": order.id,
        "alarm_id": alarm.id,
        "type": AlarmType(alarm.type),
        "asset": f"{alarm.asset_kind}:{alarm.asset_id}",
        "site": alarm.site_id,
        "maintainer": order.maintainer_id,
        "severity": Severity(order.severity),
        "state": OrderState(order.state),
        "raised_at": from_store(alarm.raised_at),
        "opened_at": from_store(order.opened_at),
        "deadline": from_store(order.deadline),
        "repaired_at": maybe_from_store(order.repaired_at),
    }


async def read_active_orders(session: AsyncSession) -> list[ActiveOrder]:
    """Orders registered, dispatched or repaired, oldest first, with their alarms."""
    rows = (
        await session.execute(
            select(WorkOrderRow, AlarmRow)
            .join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
            .where(WorkOrderRow.state.in_([s.value for s in OPEN_STATES]))
            .order_by(WorkOrderRow.id)
        )
    ).all()
    return [
        ActiveOrder(
            **_order_and_alarm(order, alarm),
            escalated_at=maybe_from_store(order.escalated_at),
            detail=alarm.detail,
        )
        for order, alarm in rows
    ]


async def orders_since(session: AsyncSession, since: datetime) -> list[OrderTimes]:
    """Orders not closed, and those closed at or after `since`, oldest first, with their
    alarms' and when each was verified."""
    verified = (
        select(
            WorkOrderTransitionRow.work_order_id.label("order_id"),
            func.max(WorkOrderTransitionRow.at).label("at"),
        )
        .where(WorkOrderTransitionRow.change == OrderState.VERIFIED.value)
        .group_by(WorkOrderTransitionRow.work_order_id)
        .subquery()
    )
    rows = await session.execute(
        select(WorkOrderRow, AlarmRow, verified.c.at)
        .join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
        .outerjoin(verified, verified.c.order_id == WorkOrderRow.id)
        .where(or_(WorkOrderRow.closed_at.is_(None), WorkOrderRow.closed_at >= to_store(since)))
        .order_by(WorkOrderRow.id)
    )
    return [
        OrderTimes(
            **_order_and_alarm(order, alarm),
            verified_at=maybe_from_store(verified_at),
            closed_at=maybe_from_store(order.closed_at),
        )
        for order, alarm, verified_at in rows.all()
    ]


async def mark_verified(session: AsyncSession, order_id: int, at: datetime, note: str) -> bool:
    """The controller's step: repaired → verified, unless someone moved the order meanwhile."""
    done = await _changed(
        session,
        update(WorkOrderRow)
        .where(WorkOrderRow.id == order_id, WorkOrderRow.state == OrderState.REPAIRED.value)
        .values(state=OrderState.VERIFIED.value),
    )
    if done:
        session.add(_transition(order_id, OrderState.VERIFIED.value, at, CONTROLLER, note))
    return done


async def mark_escalated(session: AsyncSession, order_id: int, at: datetime, note: str) -> bool:
    """Escalate an overdue order, once: False if it was escalated or verified meanwhile."""
    done = await _changed(
        session,
        update(WorkOrderRow)
        .where(
            WorkOrderRow.id == order_id,
            WorkOrderRow.escalated_at.is_(None),
            WorkOrderRow.state.in_([s.value for s in OPEN_STATES]),
        )
        .values(escalated_at=to_store(at)),
    )
    if done:
        session.add(_transition(order_id, ESCALATED, at, CONTROLLER, note))
    return done


# --- people's steps ------------------------------------------------------------------------------


async def comment_order(
    session: AsyncSession, order_id: int, *, by: str, at: datetime, note: str
) -> WorkOrderRow:
    """A note on an order, in its transition log; its state stays as it is."""
    row = await session.get(WorkOrderRow, order_id)
    if row is None:
        raise LedgerError(f"work order {order_label(order_id)}: no such work order")
    session.add(_transition(order_id, COMMENT, at, by, note))
    return row


async def people_step(
    session: AsyncSession, order_id: int, step: OrderState, *, by: str, at: datetime, note: str
) -> WorkOrderRow:
    """Dispatch, report repaired or close an order; refused unless it is in the state before."""
    row = await session.get(WorkOrderRow, order_id)
    if row is None:
        raise LedgerError(f"work order {order_label(order_id)}: no such work order")
    if step not in (OrderState.DISPATCHED, OrderState.REPAIRED, OrderState.CLOSED):
        raise LedgerError(f"work order {order_label(order_id)}: only the controller verifies")
    check_step(order_id, row.state, step)
    before = row.state
    values: dict[str, Any] = {"state": step.value}
    if step is OrderState.REPAIRED:
        values["repaired_at"] = to_store(at)
    elif step is OrderState.CLOSED:
        values["closed_at"] = to_store(at)
    statement = (
        update(WorkOrderRow)
        .where(WorkOrderRow.id == order_id, WorkOrderRow.state == before)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not await _changed(session, statement):
        await session.refresh(row)  # someone else moved it: say where it is now
        check_step(order_id, row.state, step)
        raise LedgerError(f"work order {order_label(order_id)} changed meanwhile: try again")
    session.add(_transition(order_id, step.value, at, by, note))
    await session.refresh(row)
    return row


# --- listing -------------------------------------------------------------------------------------


async def list_orders(
    session: AsyncSession, *, state: str | None = None, maintainer: str | None = None
) -> list[tuple[WorkOrderRow, AlarmRow]]:
    query = (
        select(WorkOrderRow, AlarmRow)
        .join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
        .order_by(WorkOrderRow.id)
    )
    if state is not None:
        query = query.where(WorkOrderRow.state == state)
    if maintainer is not None:
        query = query.where(WorkOrderRow.maintainer_id == maintainer)
    return [(order, alarm) for order, alarm in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """Which orders to list; each None filter lets every order through."""

    states: frozenset[str] | None = None
    site: str | None = None
    maintainer: str | None = None  # the order's maintainer
    severity: str | None = None
    overdue: bool | None = None  # past its deadline at `now` and not yet repaired and verified
    now: datetime | None = None  # for `overdue`
    scope: MaintainerScope | None = None  # a maintainer's people: only what is theirs


async def find_orders(
    session: AsyncSession, query: OrderQuery, *, after: int | None, limit: int
) -> list[tuple[WorkOrderRow, AlarmRow]]:
    """A page of the orders `query` lets through, oldest first, after the order `after`."""
    statement = select(WorkOrderRow, AlarmRow).join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
    if query.states is not None:
        statement = statement.where(WorkOrderRow.state.in_(sorted(query.states)))
    for column, value in (
        (AlarmRow.site_id, query.site),
        (WorkOrderRow.maintainer_id, query.maintainer),
        (WorkOrderRow.severity, query.severity),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.overdue is not None:
        if query.now is None:
            raise ValueError("an overdue filter needs the moment it is judged at")
        late = and_(
            WorkOrderRow.deadline < to_store(query.now),
            WorkOrderRow.state.in_([s.value for s in OPEN_STATES]),
        )
        statement = statement.where(late if query.overdue else not_(late))
    if query.scope is not None:
        statement = statement.where(
            or_(
                AlarmRow.site_id.in_(sorted(query.scope.sites)),
                WorkOrderRow.maintainer_id == query.scope.maintainer,
            )
        )
    if after is not None:
        statement = statement.where(WorkOrderRow.id > after)
    rows = await session.execute(statement.order_by(WorkOrderRow.id).limit(limit))
    return [(order, alarm) for order, alarm in rows.all()]


async def order_with_alarm(
    session: AsyncSession, order_id: int
) -> tuple[WorkOrderRow, AlarmRow] | None:
    found = (
        await session.execute(
            select(WorkOrderRow, AlarmRow)
            .join(AlarmRow, AlarmRow.id == WorkOrderRow.alarm_id)
            .where(WorkOrderRow.id == order_id)
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def order_transitions(
    session: AsyncSession, order_id: int
) -> Sequence[WorkOrderTransitionRow]:
    """Every step of an order and every note on it, oldest first."""
    return (
        await session.scalars(
            select(WorkOrderTransitionRow)
            .where(WorkOrderTransitionRow.work_order_id == order_id)
            .order_by(WorkOrderTransitionRow.id)
        )
    ).all()


def order_record(order: WorkOrderRow, alarm: AlarmRow, now: datetime) -> dict[str, object]:
    """A work order as a line of `streetlight workorders list --json` (docs/contract.md)."""
    deadline = from_store(order.deadline)
    escalated = maybe_from_store(order.escalated_at)
    return {
        "id": order_label(order.id),
        "alarm": f"al-{alarm.id}",
        "type": alarm.type,
        "asset": f"{alarm.asset_kind}:{alarm.asset_id}",
        "site": alarm.site_id,
        "maintainer": order.maintainer_id,
        "severity": order.severity,
        "state": order.state,
        "opened_at": from_store(order.opened_at).isoformat(),
        "deadline": deadline.isoformat(),
        "overdue": overdue(order.state, deadline, now),
        "escalated_at": escalated.isoformat() if escalated is not None else None,
    }
