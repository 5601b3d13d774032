"""Alarms: list and filter, one with its transitions and children, acknowledge, comment, close.

An acknowledgement or a closure is recorded in the store (who, when, the note), audited, and
then published on the bus as the alarm's retained `alarm_event` with its new state (a closure
removes the retained message), so the live state, the event stream and every other reader see
it. The store is the record: when the broker is away the step still stands, and the answer
says it was not published. Closing is refused until the field has cleared the alarm, exactly
as `streetlight alarms close` is (streetlight.store.alarms.operator_step).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.alarm_index import AlarmIndex
from api.bus import Bus
from api.deps import (
    ListQuery,
    Now,
    Page,
    Session,
    encode_cursor,
    paging,
    query_parameters,
    read_query,
)
from api.errors import ApiError, not_found
from api.inputs import TEXT_PATTERN, Moment
from api.scope import scope
from api.security import Crew, Principal, Reader
from streetlight.contract import AlarmEvent, Target, TargetKind
from streetlight.domain import ID_PATTERN, AlarmState, AlarmType, Severity
from streetlight.domain.workorders import order_label
from streetlight.store.alarms import (
    OPEN_STATES,
    AlarmQuery,
    alarm_children,
    alarm_transitions,
    alarm_with_order,
    comment_alarm,
    newer_alarm,
    operator_step,
    parse_alarm_id,
)
from streetlight.store.models import AlarmRow
from streetlight.store.times import from_store, maybe_from_store
from streetlight.store.users import Role, audit
from streetlight.store.workorders import MaintainerScope, sites_of

router = APIRouter(tags=["alarms"])

ALARM_ID = r"^(al-)?[0-9]{1,9}$"
ASSET = r"^(lamp|circuit|cabinet|gateway):[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
AlarmId = Annotated[str, Path(pattern=ALARM_ID, description="`al-12` or `12`")]
StateFilter = Literal["open", "closed", "any", "raised", "acknowledged", "cleared"]
STATES: dict[str, frozenset[str] | None] = {
    "open": OPEN_STATES,  # the field still sees it, as the KPIs and `alarms list` count
    "closed": frozenset({AlarmState.CLOSED.value}),
    "any": None,
    **{state.value: frozenset({state.value}) for state in AlarmState},
}


class AlarmTransition(BaseModel):
    change: str = Field(description="raised, suppressed, surfaced, cleared, acknowledged, "
                        "closed, or comment (a note)")  # fmt: skip
    at: datetime
    by: str
    note: str | None


class AlarmOut(BaseModel):
    id: str
    type: AlarmType
    asset: str = Field(description="kind:id")
    severity: Severity
    state: AlarmState
    site: str
    parent: str | None = Field(description="the root-cause alarm it is linked under")
    raised_at: datetime
    cleared_at: datetime | None
    detail: str
    work_order: str | None


class AlarmDetail(AlarmOut):
    transitions: list[AlarmTransition]
    children: list[AlarmOut] = Field(description="the alarms linked under it")


class AlarmStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500, pattern=TEXT_PATTERN)


class AlarmCommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=500, pattern=TEXT_PATTERN)


class AlarmStepOut(BaseModel):
    alarm: AlarmDetail
    published: bool = Field(description="the alarm's retained event on the bus carries the step")
    bus_error: str | None = Field(
        default=None, description="why it was not published; the step stands in the store"
    )


def _alarm(row: AlarmRow, order: int | None) -> AlarmOut:
    return AlarmOut(
        id=f"al-{row.id}",
        type=AlarmType(row.type),
        asset=f"{row.asset_kind}:{row.asset_id}",
        severity=Severity(row.severity),
        state=AlarmState(row.state),
        site=row.site_id,
        parent=None if row.parent_id is None else f"al-{row.parent_id}",
        raised_at=from_store(row.raised_at),
        cleared_at=maybe_from_store(row.cleared_at),
        detail=row.detail,
        work_order=None if order is None else order_label(order),
    )


def _visible(limits: MaintainerScope | None, row: AlarmRow) -> bool:
    return limits is None or row.site_id in limits.sites


async def _found(
    session: AsyncSession, limits: MaintainerScope | None, alarm_id: str
) -> tuple[AlarmRow, int | None]:
    """The alarm and its order's id; 404 if there is none, or none the caller may see."""
    found = await alarm_with_order(session, parse_alarm_id(alarm_id))
    if found is None or not _visible(limits, found[0]):
        raise not_found("alarm", alarm_id)
    return found


async def _detail(
    session: AsyncSession, limits: MaintainerScope | None, row: AlarmRow, order: int | None
) -> AlarmDetail:
    transitions = [
        AlarmTransition(change=t.change, at=from_store(t.at), by=t.by, note=t.detail)
        for t in await alarm_transitions(session, row.id)
    ]
    children = [
        _alarm(child, child_order)
        for child, child_order in await alarm_children(session, row.id)
        if _visible(limits, child)
    ]
    return AlarmDetail(
        **_alarm(row, order).model_dump(), transitions=transitions, children=children
    )


class AlarmListQuery(ListQuery):
    """The alarm list's filters, besides `limit` and `cursor`."""

    state: StateFilter = Field(default="any", description="`open`: raised or acknowledged")
    alarm_type: AlarmType | None = Field(default=None, alias="type")
    severity: Severity | None = None
    site: str | None = Field(default=None, pattern=ID_PATTERN.pattern, max_length=64)
    subdistrict: str | None = Field(default=None, pattern=ID_PATTERN.pattern, max_length=64)
    maintainer: str | None = Field(default=None, pattern=ID_PATTERN.pattern, max_length=64,
                                   description="whose sites, now")  # fmt: skip
    asset: str | None = Field(default=None, pattern=ASSET, description="kind:id")
    since: Moment | None = Field(default=None, description="raised at or after")
    until: Moment | None = Field(default=None, description="raised before")
    roots: bool = Field(default=False, description="only root causes (no parent)")
    newest_first: bool = False


@router.get(
    "/alarms",
    summary="Alarms, filtered, in pages",
    response_model=Page[AlarmOut],
    openapi_extra=query_parameters(AlarmListQuery),
)
async def list_alarms(request: Request, who: Reader, now: Now) -> Response:
    """Served from the alarms the API holds in memory (api.alarm_index), within a second of
    the store; only a maintainer's scope is read from the store."""
    asked = read_query(AlarmListQuery, request)
    since, until, maintainer, asset = asked.since, asked.until, asked.maintainer, asked.asset
    if since is not None and until is not None and until <= since:
        raise ApiError(422, "invalid", "until is not after since", "query.until")
    pages = paging(request, asked.limit, asked.cursor)
    after = pages.after
    if after is not None and (not isinstance(after, int) or not 0 <= after < 2**31):
        raise ApiError(422, "invalid", "not a cursor this list gave", "query.cursor")
    sites = None
    if who.role is Role.MAINTAINER or maintainer is not None:
        async with request.app.state.sessions() as session:
            limits = await scope(session, who, now)
            sites = None if limits is None else limits.sites
            if maintainer is not None:
                theirs = await sites_of(session, maintainer, now)
                sites = theirs if sites is None else sites & theirs
    kind, _, ident = asset.partition(":") if asset is not None else ("", "", "")
    query = AlarmQuery(
        states=STATES[asked.state],
        type=None if asked.alarm_type is None else asked.alarm_type.value,
        severity=None if asked.severity is None else asked.severity.value,
        site=asked.site,
        sites=sites,
        subdistrict=asked.subdistrict,
        asset=(kind, ident) if asset is not None else None,
        raised_since=since,
        raised_until=until,
        roots_only=asked.roots,
    )
    index: AlarmIndex = request.app.state.alarm_index
    items, last = index.page(query, after=after, limit=pages.limit,
                             newest_first=asked.newest_first)  # fmt: skip
    cursor = None if last is None else encode_cursor(last)
    body = b"".join((b'{"items":[', b",".join(items), b'],"next":', orjson.dumps(cursor), b"}"))
    return Response(body, media_type="application/json")


@router.get("/alarms/{alarm_id}", summary="An alarm, its transitions (who, when) and children")
async def get_alarm(alarm_id: AlarmId, who: Reader, session: Session, now: Now) -> AlarmDetail:
    limits = await scope(session, who, now)
    row, order = await _found(session, limits, alarm_id)
    return await _detail(session, limits, row, order)


async def _take(
    alarm_id: str,
    who: Principal,
    session: AsyncSession,
    now: datetime,
    step: AlarmState | None,
    note: str,
) -> tuple[AlarmDetail, AlarmRow, int | None]:
    """Take `step` (None: a comment), audited, in one transaction: the alarm after it, its
    row, and a later alarm of its type on its asset, if any."""
    async with session.begin():
        limits = await scope(session, who, now)
        row, order = await _found(session, limits, alarm_id)
        before = row.state
        if step is None:
            await comment_alarm(session, row.id, by=who.name, at=now, note=note)
        else:
            await operator_step(session, row.id, step, by=who.name, at=now, note=note)
        await session.flush()
        verb = {None: "comment", AlarmState.ACKNOWLEDGED: "ack", AlarmState.CLOSED: "close"}
        await audit(session, actor=who.name, action=f"alarm.{verb[step]}",
                    target=f"alarm:al-{row.id}", before={"state": before},
                    after={"state": row.state, "note": note}, at=now)  # fmt: skip
        detail = await _detail(session, limits, row, order)
        newer = await newer_alarm(session, row)
    return detail, row, newer


async def _step(
    request: Request,
    alarm_id: str,
    who: Principal,
    session: AsyncSession,
    now: datetime,
    step: AlarmState,
    body: AlarmStepIn | None,
) -> AlarmStepOut:
    """An operator's step, stored, then on the bus."""
    detail, row, newer = await _take(alarm_id, who, session, now, step, body.note if body else "")
    await request.app.state.alarm_index.catch_up()  # the caller's next list shows the step
    error = await _publish(request.app.state.bus, row, newer, now)
    return AlarmStepOut(alarm=detail, published=error is None, bus_error=error)


async def _publish(bus: Bus, row: AlarmRow, newer: int | None, now: datetime) -> str | None:
    """The alarm's retained event with its new state (closed: removed); what went wrong."""
    asset = Target(kind=TargetKind(row.asset_kind), id=row.asset_id)
    if newer is not None:  # the retained message is the later alarm's: leave it be
        return f"not published: al-{newer}, a later {row.type} on the same asset, holds its topic"
    event = None
    if row.state != AlarmState.CLOSED.value:
        event = AlarmEvent(
            id=f"al-{row.id}",
            type=AlarmType(row.type),
            asset=asset,
            severity=Severity(row.severity),
            state=AlarmState(row.state),
            at=now,
            raised_at=from_store(row.raised_at),
            cleared_at=maybe_from_store(row.cleared_at),
            parent=None if row.parent_id is None else f"al-{row.parent_id}",
            detail=row.detail or None,
        )
    return await bus.alarm_step(event, asset, row.type)


@router.post("/alarms/{alarm_id}/ack", summary="Acknowledge a raised alarm")
async def ack_alarm(
    alarm_id: AlarmId,
    request: Request,
    who: Crew,
    session: Session,
    now: Now,
    body: AlarmStepIn | None = None,
) -> AlarmStepOut:
    return await _step(request, alarm_id, who, session, now, AlarmState.ACKNOWLEDGED, body)


@router.post("/alarms/{alarm_id}/comment", summary="A note on an alarm (who, when)")
async def comment(
    alarm_id: AlarmId, body: AlarmCommentIn, who: Crew, session: Session, now: Now
) -> AlarmDetail:
    detail, _row, _newer = await _take(alarm_id, who, session, now, None, body.note)
    return detail


@router.post(
    "/alarms/{alarm_id}/close",
    summary="Close an alarm the field has cleared (refused before: 409)",
)
async def close_alarm(
    alarm_id: AlarmId,
    request: Request,
    who: Crew,
    session: Session,
    now: Now,
    body: AlarmStepIn | None = None,
) -> AlarmStepOut:
    return await _step(request, alarm_id, who, session, now, AlarmState.CLOSED, body)
