"""The repair ledger: list and filter work orders, one with its steps, a crew's steps, notes,
and a site's handover to another maintainer.

People take three steps, each refused unless the order is in the state just before it
(streetlight.domain.workorders.check_step, the same rule as `streetlight workorders`):
dispatch (to a crew or person, named in the body), repaired, and close, which waits until the
controller has verified the repair in the field. Every step and note is a transition row with
who and when, and an audit row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Now, Page, Pages, Session
from api.errors import ApiError, not_found
from api.inputs import TEXT_PATTERN, Moment
from api.scope import scope
from api.security import Crew, Operator, Principal, Reader
from streetlight.domain import ID_PATTERN, AlarmType, Severity
from streetlight.domain.workorders import (
    LedgerError,
    OrderState,
    order_label,
    overdue,
    parse_order_id,
)
from streetlight.store.assets import asset_exists
from streetlight.store.models import AlarmRow, WorkOrderRow
from streetlight.store.times import from_store, maybe_from_store
from streetlight.store.users import audit
from streetlight.store.workorders import (
    MaintainerScope,
    OrderQuery,
    comment_order,
    find_orders,
    in_scope,
    maintainers_at,
    order_transitions,
    order_with_alarm,
    people_step,
    record_handover,
)

router = APIRouter(tags=["work orders"])

OrderId = Annotated[str, Path(pattern=r"^(wo-)?[0-9]{1,9}$", description="`wo-7` or `7`")]
SiteId = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]
Ident = Annotated[str | None, Query(pattern=ID_PATTERN.pattern, max_length=64)]
StateFilter = Literal["open", "any", "registered", "dispatched", "repaired", "verified", "closed"]
STATES: dict[str, frozenset[str] | None] = {
    "open": frozenset(s.value for s in OrderState if s is not OrderState.CLOSED),
    "any": None,
    **{s.value: frozenset({s.value}) for s in OrderState},
}


class OrderTransition(BaseModel):
    change: str = Field(description="registered, dispatched, repaired, verified, closed, "
                        "escalated, or comment (a note)")  # fmt: skip
    at: datetime
    by: str
    note: str | None


class OrderOut(BaseModel):
    id: str
    alarm: str
    type: AlarmType
    asset: str = Field(description="kind:id")
    site: str
    maintainer: str
    severity: Severity
    state: OrderState
    opened_at: datetime
    deadline: datetime
    overdue: bool = Field(description="past its deadline and not yet repaired and verified")
    repaired_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None


class OrderDetail(OrderOut):
    transitions: list[OrderTransition]


class OrderStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=400, pattern=TEXT_PATTERN)


class DispatchIn(OrderStepIn):
    to: str = Field(
        min_length=1, max_length=80, pattern=TEXT_PATTERN, description="the crew or person sent"
    )


class OrderCommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=500, pattern=TEXT_PATTERN)


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(
        min_length=1, max_length=200, pattern=TEXT_PATTERN, description="a maintainer's id or name"
    )
    on: Moment | None = Field(default=None, description="from when (default: now)")
    note: str = Field(default="", max_length=500, pattern=TEXT_PATTERN)


class HandoverOut(BaseModel):
    site: str
    maintainer: str
    handed_over_at: datetime
    by: str
    note: str | None


def _order(order: WorkOrderRow, alarm: AlarmRow, now: datetime) -> OrderOut:
    deadline = from_store(order.deadline)
    return OrderOut(
        id=order_label(order.id),
        alarm=f"al-{alarm.id}",
        type=AlarmType(alarm.type),
        asset=f"{alarm.asset_kind}:{alarm.asset_id}",
        site=alarm.site_id,
        maintainer=order.maintainer_id,
        severity=Severity(order.severity),
        state=OrderState(order.state),
        opened_at=from_store(order.opened_at),
        deadline=deadline,
        overdue=overdue(order.state, deadline, now),
        repaired_at=maybe_from_store(order.repaired_at),
        escalated_at=maybe_from_store(order.escalated_at),
        closed_at=maybe_from_store(order.closed_at),
    )


async def _found(
    session: AsyncSession, limits: MaintainerScope | None, order_id: str
) -> tuple[WorkOrderRow, AlarmRow]:
    """The order and its alarm; 404 if there is none, or none the caller may see."""
    found = await order_with_alarm(session, parse_order_id(order_id))
    if found is None or not in_scope(limits, *found):
        raise not_found("work order", order_id)
    return found


async def _detail(
    session: AsyncSession, order: WorkOrderRow, alarm: AlarmRow, now: datetime
) -> OrderDetail:
    transitions = [
        OrderTransition(change=t.change, at=from_store(t.at), by=t.by, note=t.note)
        for t in await order_transitions(session, order.id)
    ]
    return OrderDetail(**_order(order, alarm, now).model_dump(), transitions=transitions)


@router.get("/workorders", summary="Work orders, filtered, oldest first, in pages")
async def list_orders(
    who: Reader,
    session: Session,
    now: Now,
    paging: Pages,
    state: Annotated[StateFilter, Query(description="`open`: not closed")] = "any",
    site: Ident = None,
    maintainer: Annotated[
        str | None, Query(pattern=ID_PATTERN.pattern, description="the order's maintainer")
    ] = None,
    severity: Severity | None = None,
    overdue: Annotated[bool | None, Query(description="past its deadline, not verified")] = None,
) -> Page[OrderOut]:
    after = paging.after
    if after is not None and (not isinstance(after, int) or not 0 <= after < 2**31):
        raise ApiError(422, "invalid", "not a cursor this list gave", "query.cursor")
    query = OrderQuery(
        states=STATES[state],
        site=site,
        maintainer=maintainer,
        severity=None if severity is None else severity.value,
        overdue=overdue,
        now=now,
        scope=await scope(session, who, now),
    )
    rows = await find_orders(session, query, after=after, limit=paging.limit + 1)
    return paging.page([_order(order, alarm, now) for order, alarm in rows],
                       lambda o: parse_order_id(o.id))  # fmt: skip


@router.get("/workorders/{order_id}", summary="A work order with its steps (who, when)")
async def get_order(order_id: OrderId, who: Reader, session: Session, now: Now) -> OrderDetail:
    order, alarm = await _found(session, await scope(session, who, now), order_id)
    return await _detail(session, order, alarm, now)


async def _take(
    session: AsyncSession,
    who: Principal,
    now: datetime,
    order_id: str,
    step: OrderState | None,
    note: str,
    extra: dict[str, str] | None = None,
) -> OrderDetail:
    """A person's step (None: a note), audited, in one transaction."""
    async with session.begin():
        order, alarm = await _found(session, await scope(session, who, now), order_id)
        before = order.state
        if step is None:
            await comment_order(session, order.id, by=who.name, at=now, note=note)
        else:
            order = await people_step(session, order.id, step, by=who.name, at=now, note=note)
        await session.flush()
        action = "comment" if step is None else step.value
        await audit(session, actor=who.name, action=f"workorder.{action}",
                    target=f"workorder:{order_label(order.id)}", before={"state": before},
                    after={"state": order.state, "note": note, **(extra or {})},
                    at=now)  # fmt: skip
        return await _detail(session, order, alarm, now)


@router.post("/workorders/{order_id}/dispatch", summary="Send a crew to a registered order")
async def dispatch(
    order_id: OrderId, body: DispatchIn, who: Crew, session: Session, now: Now
) -> OrderDetail:
    note = f"to {body.to}" + (f": {body.note}" if body.note else "")
    return await _take(session, who, now, order_id, OrderState.DISPATCHED, note, {"to": body.to})


@router.post("/workorders/{order_id}/comment", summary="A note on a work order (who, when)")
async def comment(
    order_id: OrderId, body: OrderCommentIn, who: Crew, session: Session, now: Now
) -> OrderDetail:
    return await _take(session, who, now, order_id, None, body.note)


@router.post(
    "/workorders/{order_id}/repaired",
    summary="Report a dispatched order repaired (the controller then verifies it in the field)",
)
async def repaired(
    order_id: OrderId, who: Crew, session: Session, now: Now, body: OrderStepIn | None = None
) -> OrderDetail:
    note = "" if body is None else body.note
    return await _take(session, who, now, order_id, OrderState.REPAIRED, note)


@router.post(
    "/workorders/{order_id}/close",
    summary="Close (销号) an order whose repair is verified (refused before: 409)",
)
async def close(
    order_id: OrderId, who: Crew, session: Session, now: Now, body: OrderStepIn | None = None
) -> OrderDetail:
    note = "" if body is None else body.note
    return await _take(session, who, now, order_id, OrderState.CLOSED, note)


@router.post(
    "/sites/{site_id}/handover",
    status_code=201,
    summary="Record a site handed over to a maintainer (移交接管)",
)
async def handover(
    site_id: SiteId, body: HandoverIn, who: Operator, session: Session, now: Now
) -> HandoverOut:
    on = body.on or now
    async with session.begin():
        if not await asset_exists(session, "site", site_id):
            raise not_found("site", site_id)
        before = (await maintainers_at(session, on)).get(site_id)
        try:
            row = await record_handover(session, site_id, body.to, on, by=who.name,
                                        note=body.note)  # fmt: skip
        except LedgerError as exc:  # the site is there: it is the maintainer that is not
            raise ApiError(422, "invalid", str(exc), "body.to") from exc
        out = HandoverOut(site=site_id, maintainer=row.maintainer_id, handed_over_at=on,
                          by=who.name, note=row.note)  # fmt: skip
        await audit(session, actor=who.name, action="site.handover", target=f"site:{site_id}",
                    before={"maintainer": before}, after=out.model_dump(mode="json"),
                    at=now)  # fmt: skip
    return out
