"""A lamp's, circuit's or cabinet's telemetry over a time range, per interval, from InfluxDB.

`from` and `to` (default: the last day up to now), `interval` (`30s`, `5m`, `1h`, `1d`; default
`5m`) and `fields` (comma-separated; default: all of the asset's). The answer is columnar: the
start of each interval in `time`, and a column per field with null where nothing was reported.
A range that would take more than `api_history_points_max` intervals is refused, naming the
smallest interval that fits. What each column is: api/history.py.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Now, Session, Settings
from api.errors import ApiError, ErrorBody, not_found
from api.history import (
    FIELDS,
    INTERVAL_PATTERN,
    HistoryQuery,
    format_interval,
    parse_interval,
    read_history,
    smallest_interval,
)
from api.inputs import Moment
from api.security import Reader
from streetlight.domain import ID_PATTERN
from streetlight.influx import InfluxRequestError, InfluxUnavailableError
from streetlight.store.assets import asset_exists

logger = logging.getLogger(__name__)

router = APIRouter(tags=["history"])

Ident = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]
From = Annotated[Moment | None, Query(alias="from", description="default: a day before `to`")]
To = Annotated[Moment | None, Query(description="default: now")]
Interval = Annotated[str, Query(pattern=INTERVAL_PATTERN, description="30s, 5m, 1h, 1d ...")]
Fields = Annotated[
    str | None,
    Query(pattern=r"^[a-z_]{1,40}(,[a-z_]{1,40}){0,19}$", description="comma-separated"),
]
DEFAULT_SPAN = timedelta(days=1)
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "InfluxDB cannot be reached"}
}


class HistoryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    asset: str = Field(description="kind:id")
    start: datetime = Field(alias="from")
    to: datetime
    interval: str
    time: list[datetime] = Field(description="the start of each interval")
    units: dict[str, str]
    series: dict[str, list[float | None]] = Field(description="a column per field, as `time`")


async def _history(
    request: Request,
    session: Session,
    settings: Settings,
    now: datetime,
    kind: str,
    ident: str,
    params: tuple[datetime | None, datetime | None, str, str | None],
) -> HistoryOut:
    start, end, interval, fields = params
    end = end or now
    start = start or end - DEFAULT_SPAN
    if end <= start:
        raise ApiError(422, "invalid", "to is not after from", "query.to")
    known = FIELDS[kind]
    wanted = tuple(fields.split(",")) if fields else tuple(known)
    if unknown := [name for name in wanted if name not in known]:
        raise ApiError(422, "invalid", f"a {kind} has no field {unknown[0]!r}; it has "
                       f"{', '.join(known)}", "query.fields")  # fmt: skip
    if not await asset_exists(session, kind, ident):
        raise not_found(kind, ident)
    query = HistoryQuery(kind, ident, wanted, start, end, parse_interval(interval))
    cap = settings.api_history_points_max
    if query.steps > cap:
        fits = format_interval(smallest_interval(start, end, cap))
        raise ApiError(422, "too_many_points", f"{query.steps} intervals of {interval} from "
                       f"{start.isoformat()} to {end.isoformat()} are over the cap of {cap} an "
                       f"answer: an interval of {fits} or more fits", "query.interval")  # fmt: skip
    await session.close()  # InfluxDB may take a while: no store connection held meanwhile
    try:
        history = await read_history(request.app.state.influx, query)
    except InfluxUnavailableError as exc:
        raise ApiError(503, "influx_unavailable", f"the history cannot be read: {exc}") from exc
    except InfluxRequestError as exc:
        logger.exception("InfluxDB refused a history query")
        raise ApiError(503, "influx_refused", f"InfluxDB refused the history query: {exc}") from exc
    return HistoryOut(asset=f"{kind}:{ident}", start=start, to=end, interval=interval,
                      time=history.times, units=history.units,
                      series=history.columns)  # fmt: skip


@router.get("/lamps/{lamp_id}/history", summary="A lamp's readings", responses=UNAVAILABLE)
async def lamp_history(
    lamp_id: Ident,
    request: Request,
    _who: Reader,
    session: Session,
    settings: Settings,
    now: Now,
    start: From = None,
    to: To = None,
    interval: Interval = "5m",
    fields: Fields = None,
) -> HistoryOut:
    params = (start, to, interval, fields)
    return await _history(request, session, settings, now, "lamp", lamp_id, params)


@router.get(
    "/circuits/{circuit_id}/history",
    summary="A circuit's current (its cabinet's reading) and power (its lamps')",
    responses=UNAVAILABLE,
)
async def circuit_history(
    circuit_id: Ident,
    request: Request,
    _who: Reader,
    session: Session,
    settings: Settings,
    now: Now,
    start: From = None,
    to: To = None,
    interval: Interval = "5m",
    fields: Fields = None,
) -> HistoryOut:
    params = (start, to, interval, fields)
    return await _history(request, session, settings, now, "circuit", circuit_id, params)


@router.get(
    "/cabinets/{cabinet_id}/history",
    summary="A cabinet's readings, its phases' among them",
    responses=UNAVAILABLE,
)
async def cabinet_history(
    cabinet_id: Ident,
    request: Request,
    _who: Reader,
    session: Session,
    settings: Settings,
    now: Now,
    start: From = None,
    to: To = None,
    interval: Interval = "5m",
    fields: Fields = None,
) -> HistoryOut:
    params = (start, to, interval, fields)
    return await _history(request, session, settings, now, "cabinet", cabinet_id, params)
