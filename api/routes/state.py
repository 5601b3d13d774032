"""The live state: a lamp's, a site's, the whole district's in columns, and the event stream.

Expected (the schedule's level and why) against reported (relay, level, power, when), online,
open alarms; fresh as soon as the gateway's batch reaches the bus. The district's state is one
call for a map of 100,000 lamps: columns of ids, positions, state codes (`states` names them),
levels and power. `GET /events` streams every change of state and every alarm event (a
maintainer's, its own sites' alarms) as server-sent events, so a page never polls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from api.deps import Now, Session
from api.errors import not_found
from api.live import STATES, LiveState
from api.security import Reader
from streetlight.domain import ID_PATTERN
from streetlight.store.users import Role
from streetlight.store.workorders import sites_of

router = APIRouter(tags=["live state"])

Ident = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]


class Expected(BaseModel):
    level: int | None
    why: str


class Reported(BaseModel):
    relay_on: bool | None
    level: int | None
    power_w: float | None
    at: str


class LampState(BaseModel):
    lamp: str
    site: str
    state: str
    expected: Expected | None
    reported: Reported | None
    online: bool | None
    alarms: list[dict[str, Any]]


class SiteState(BaseModel):
    site: str
    lamps: dict[str, int]  # state -> how many
    cabinets: dict[str, str]  # cabinet -> its state
    alarms: list[dict[str, Any]]


class Columns(BaseModel):
    id: list[str]
    lat: list[float]
    lon: list[float]
    site: list[int]
    state: list[int]


class LampColumns(Columns):
    level: list[int | None]
    power_w: list[float | None]


class DistrictState(BaseModel):
    """Every lamp and cabinet in columns; `states[code]` names a state code, `sites[i]` a site
    index."""

    at: str
    states: list[str]
    sites: list[str]
    lamps: LampColumns
    cabinets: Columns


def _live(request: Request) -> LiveState:
    live: LiveState = request.app.state.live
    return live


@router.get(
    "/lamps/{lamp_id}/state",
    summary="A lamp: expected against reported, and alarms",
    response_model=LampState,
)
async def lamp_state(lamp_id: Ident, request: Request, _who: Reader) -> Response:
    live = _live(request)
    i = live.row.get(lamp_id)
    if i is None:
        raise not_found("lamp", lamp_id)
    # the view is built of the live state's typed columns, in LampState's shape and order;
    # encoded at once, not validated twice (here and by FastAPI) on the busiest read there is
    return Response(orjson.dumps(live.lamp_view(i)), media_type="application/json")


@router.get("/sites/{site_id}/state", summary="A site: its lamps by state, cabinets, alarms")
async def site_state(site_id: Ident, request: Request, _who: Reader) -> SiteState:
    live = _live(request)
    rows = [i for i, lamp in enumerate(live.lamps) if lamp.site == site_id]
    cabinets = [j for j, c in enumerate(live.cabinets) if c.site == site_id]
    if not rows and not cabinets:
        raise not_found("site", site_id)
    alarms = [
        event.model_dump(mode="json", exclude_none=True)
        for (asset, _type), event in live.alarms.items()
        if live.site_of(asset) == site_id and event.state.value in ("raised", "acknowledged")
    ]
    return SiteState(
        site=site_id,
        lamps=dict(Counter(STATES[live.state[i]] for i in rows)),
        cabinets={live.cabinets[j].id: STATES[live.cabinet_state[j]] for j in cabinets},
        alarms=alarms,
    )


@router.get(
    "/district/state",
    summary="Every lamp and cabinet in columns, for a map",
    response_class=Response,
    responses={200: {"model": DistrictState, "description": "the district's live state"}},
)
async def district_state(request: Request, _who: Reader, now: Now) -> Response:
    return Response(_live(request).district(now), media_type="application/json")


@router.get(
    "/events",
    summary="Changes of state and alarm events, as server-sent events",
    response_class=EventSourceResponse,
)
async def events(
    request: Request, who: Reader, session: Session, now: Now
) -> AsyncIterator[ServerSentEvent]:
    sites = None
    if who.role is Role.MAINTAINER and who.maintainer_id is not None:
        sites = await sites_of(session, who.maintainer_id, now)
    await session.close()  # the stream may last hours: no store connection held meanwhile
    async with request.app.state.hub.subscribe(sites) as subscriber:
        yield ServerSentEvent(event="hello", data={"at": now.isoformat()})
        while True:
            event, data = await subscriber.queue.get()
            yield ServerSentEvent(event=event, data=data)
            if event == "resync":
                return
