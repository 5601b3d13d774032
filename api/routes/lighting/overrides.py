"""Overrides: a level (or off) for a group for a while, set by an operator, with the reason.

The same checks as `streetlight controller override set` (streetlight.store.schedules): the
group must exist, the level be 0-100 or off, the expiry after the start, a reason given; the
caller is who set it. Expiry is `until`, `minutes` from the start, or `until_cancelled`:
exactly one, as the command line asks. Overrides stay in the store once expired or cancelled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api.deps import Now, Page, Pages, Session
from api.errors import ApiError, not_found
from api.routes.lighting._common import (
    GROUP_PATTERN,
    YEARS,
    Level,
    Told,
    group_ref,
    groups_of,
    level_of,
    tell,
)
from api.security import Operator, Principal, Reader
from streetlight.contract import ScheduleChange
from streetlight.schedule import ProgramError
from streetlight.store.schedules import (
    OverrideRecord,
    OverrideState,
    add_override,
    cancel_override,
    list_overrides,
    read_override,
)
from streetlight.store.users import audit

router = APIRouter(tags=["lighting: overrides"])

MAX_MINUTES = 366 * 24 * 60
OverrideId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class OverrideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: str = Field(pattern=GROUP_PATTERN, max_length=80, examples=["subdistrict:PP"])
    level: Level
    start: AwareDatetime | None = Field(default=None, description="default: now")
    until: AwareDatetime | None = Field(default=None, description="the expiry")
    minutes: float | None = Field(
        default=None, gt=0, le=MAX_MINUTES, allow_inf_nan=False, description="or: from the start"
    )
    until_cancelled: bool = Field(default=False, description="or: no expiry")
    reason: str = Field(min_length=1, max_length=500)

    @field_validator("start", "until")
    @classmethod
    def _within_years(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.year not in YEARS:
            raise ValueError(f"{value.isoformat()} is not in the years {YEARS.start}-"
                             f"{YEARS.stop - 1}")  # fmt: skip
        return value


State = Literal["active", "upcoming", "expired", "cancelled"]


class OverrideOut(BaseModel):
    id: int
    group: str
    level: Level
    starts: datetime
    ends: datetime | None = Field(description="null: until cancelled")
    reason: str
    by: str
    set_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None
    state: State = Field(description="at the time of the answer")


class OverrideSaved(OverrideOut, Told):
    pass


def _out(record: OverrideRecord, now: datetime) -> OverrideOut:
    o = record.override
    state: State
    if o.cancelled_at is not None and o.cancelled_at <= now:
        state = "cancelled"
    elif o.ends is not None and o.ends <= now:
        state = "expired"
    elif o.starts > now:
        state = "upcoming"
    else:
        state = "active"
    return OverrideOut(
        id=o.id, group=str(o.group), level=level_of(o.level), starts=o.starts, ends=o.ends,
        reason=o.reason, by=o.by, set_at=record.set_at, cancelled_at=o.cancelled_at,
        cancelled_by=record.cancelled_by, state=state,
    )  # fmt: skip


def _expiry(body: OverrideBody, starts: datetime) -> datetime | None:
    given = [body.until is not None, body.minutes is not None, body.until_cancelled]
    if sum(given) != 1:
        raise ApiError(422, "invalid", "give one of until, minutes or until_cancelled: true",
                       "body.until")  # fmt: skip
    if body.minutes is not None:
        return starts + timedelta(minutes=body.minutes)
    return body.until


@router.post("/overrides", status_code=201, summary="Set a level for a group for a while")
async def create_override(
    body: OverrideBody, who: Operator, session: Session, now: Now, request: Request
) -> OverrideSaved:
    starts = body.start or now
    ends = _expiry(body, starts)
    async with session.begin():
        groups = await groups_of(session)
        override = await add_override(
            session, groups, group=group_ref(body.group, "body.group", groups),
            level=None if body.level == "off" else body.level, starts=starts, ends=ends,
            reason=body.reason, by=who.name, at=now,
        )  # fmt: skip
        record = await read_override(session, override.id)
        assert record is not None
        out = _out(record, now)
        await audit(session, actor=who.name, action="override.create",
                    target=f"override:{override.id}", after=out.model_dump(mode="json"),
                    at=now)  # fmt: skip
    told = await tell(request, ScheduleChange(what="override", id=out.id, by=who.name, at=now))
    return OverrideSaved(**out.model_dump(), **told.model_dump())


@router.get("/overrides", summary="Overrides, newest first")
async def overrides(
    _who: Reader,
    session: Session,
    now: Now,
    paging: Pages,
    state: Annotated[OverrideState, Query(description="past: expired or cancelled")] = "all",
) -> Page[OverrideOut]:
    after = paging.after
    below = after if isinstance(after, int) and 0 < after < 2**31 else None
    records = await list_overrides(session, state=state, now=now, below_id=below,
                                   limit=paging.limit + 1)  # fmt: skip
    return paging.page([_out(r, now) for r in records], lambda o: o.id)


@router.get("/overrides/{override_id}", summary="An override")
async def get_override(
    override_id: OverrideId, _who: Reader, session: Session, now: Now
) -> OverrideOut:
    record = await read_override(session, override_id)
    if record is None:
        raise not_found("override", override_id)
    return _out(record, now)


@router.post("/overrides/{override_id}/cancel", summary="End an override now")
async def cancel(
    override_id: OverrideId, who: Operator, session: Session, now: Now, request: Request
) -> OverrideSaved:
    return await _cancel(override_id, who, session, now, request)


@router.delete("/overrides/{override_id}", summary="End an override now (as .../cancel)")
async def delete(
    override_id: OverrideId, who: Operator, session: Session, now: Now, request: Request
) -> OverrideSaved:
    return await _cancel(override_id, who, session, now, request)


async def _cancel(
    override_id: int, who: Principal, session: Session, now: datetime, request: Request
) -> OverrideSaved:
    async with session.begin():
        record = await read_override(session, override_id)
        if record is None:
            raise not_found("override", override_id)
        cancelled_at = record.override.cancelled_at
        if cancelled_at is not None:
            raise ApiError(409, "refused", f"override {override_id} was cancelled already, at "
                           f"{cancelled_at.isoformat()} by {record.cancelled_by}")  # fmt: skip
        try:
            await cancel_override(session, override_id, by=who.name, at=now)
        except ProgramError as exc:  # cancelled by another meanwhile
            raise ApiError(409, "refused", str(exc)) from exc
        after = await read_override(session, override_id)
        assert after is not None
        out = _out(after, now)
        await audit(session, actor=who.name, action="override.cancel",
                    target=f"override:{override_id}",
                    before=_out(record, now).model_dump(mode="json"),
                    after=out.model_dump(mode="json"), at=now)  # fmt: skip
    told = await tell(request, ScheduleChange(what="override", id=override_id, by=who.name, at=now))
    return OverrideSaved(**out.model_dump(), **told.model_dump())
