"""The planning view of `streetlight plan`: a site's nights as the programs will run them.

Per night: the program the calendar chooses and why, the sun times, each switching time and
level, and the energy the lamps' rated powers imply (streetlight.schedule.plan; lux triggers
and overrides aside, as they are not known in advance). For the whole site, or one group of
its lamps (`?group=scope:id`). At most a year.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Session
from api.errors import ApiError, not_found
from api.routes.lighting._common import (
    GROUP_PATTERN,
    Ident,
    Level,
    group_ref,
    groups_of,
    within_years,
)
from api.security import Reader
from streetlight.schedule import Evaluator, GroupRef, Groups, Schedule, plan
from streetlight.store.schedules import read_schedule

router = APIRouter(tags=["lighting: plan"])

MAX_DAYS = 366


class Change(BaseModel):
    at: datetime
    level: Level


class Night(BaseModel):
    night: date = Field(description="the local date the night starts on (noon to noon)")
    program: str | None
    why: str
    sunset: datetime | None
    sunrise: datetime | None
    changes: list[Change]
    energy_kwh: float


class Plan(BaseModel):
    site: str
    group: str
    timezone: str
    nights: list[Night]


def _nights(groups: Groups, schedule: Schedule, group: GroupRef, first: date, last: date) -> Any:
    # the plan sets overrides aside: an override of a group since removed must not refuse it
    evaluator = Evaluator(groups, dataclasses.replace(schedule, overrides=[]))
    return [night.as_dict() for night in plan(evaluator, group, first, last)]


@router.get("/sites/{site_id}/plan", summary="A site's nights: programs, switching, energy")
async def site_plan(
    site_id: Ident,
    _who: Reader,
    session: Session,
    first: Annotated[date, Query(alias="from", description="the first night")],
    last: Annotated[date, Query(alias="to", description="the last night (inclusive)")],
    group: Annotated[
        str | None,
        Query(pattern=GROUP_PATTERN, max_length=80, description="default: the whole site"),
    ] = None,
) -> Plan:
    within_years(first, "query.from")
    within_years(last, "query.to")
    if last < first:
        raise ApiError(422, "invalid", f"to {last} is before from {first}", "query.to")
    if (last - first).days > MAX_DAYS:
        raise ApiError(422, "invalid", "a plan covers at most a year: from and to at most "
                       f"{MAX_DAYS} days apart", "query.to")  # fmt: skip
    groups = await groups_of(session)
    inventory = groups.inventory
    if site_id not in inventory.sites:
        raise not_found("site", site_id)
    ref = GroupRef("site", site_id) if group is None else group_ref(group, "query.group", groups)
    site = GroupRef("site", site_id)
    if any(site not in groups.chains[lamp] for lamp in groups.lamps_of(ref)):
        raise ApiError(422, "invalid", f"{ref}: not all at site {site_id}", "query.group")
    schedule = await read_schedule(session)
    await session.close()  # the night's sums need no store connection
    nights = await asyncio.to_thread(_nights, groups, schedule, ref, first, last)
    return Plan(site=site_id, group=str(ref), timezone=inventory.district.timezone, nights=nights)
