"""The survey (调查摸底) of the renovation programme: per site, community, subdistrict or the
district, the lamps planned, installed, registered and reporting (JSON or CSV); and the roads
without lamps (有路无灯), as GeoJSON and per site. docs/contract.md ("Survey") defines each
figure; the core (streetlight.survey) computes them, as `streetlight survey` does."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.deps import Now, Session, Settings
from api.errors import ApiError
from api.inputs import Moment
from api.security import Reader
from streetlight.domain import ID_PATTERN, KpiScope
from streetlight.influx import InfluxRequestError, InfluxUnavailableError
from streetlight.store import read_inventory
from streetlight.survey import (
    GapReport,
    SurveyError,
    count_survey,
    counts_csv,
    gap_report,
    gaps_geojson,
    site_rows,
    sites_csv,
)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["survey"])

Format = Literal["json", "csv"]
CSV = "text/csv; charset=utf-8"
AS_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}, "description": "JSON or CSV"}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "InfluxDB does not answer (or refuses the query)"}
}
NodeId = Annotated[str | None, Query(pattern=ID_PATTERN.pattern, max_length=64)]


class SurveyRow(BaseModel):
    scope: str
    id: str
    name: str
    subdistrict: str | None
    community: str | None
    project: str | None
    phase: str | None
    planned: int
    installed: int
    registered: int
    reporting: int


class SurveyOut(BaseModel):
    at: datetime
    scope: KpiScope
    reporting_s: float
    rows: list[SurveyRow]


class SiteGapsRow(BaseModel):
    site: str
    name: str
    community: str
    subdistrict: str
    roads: int
    road_length_m: float
    stretches: int
    dark_length_m: float
    dark_pct: float | None


class SiteGapsOut(BaseModel):
    projection: str
    sites: list[SiteGapsRow]


@router.get(
    "/survey",
    summary="Lamps planned, installed, registered and reporting, per node of a scope",
    responses={**AS_CSV, **UNAVAILABLE},
    response_model=SurveyOut,
)
async def survey(
    request: Request,
    _who: Reader,
    session: Session,
    settings: Settings,
    now: Now,
    scope: KpiScope = KpiScope.SITE,
    at: Annotated[Moment | None, Query(description="the moment counted (default: now)")] = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
) -> Any:
    moment = at or now
    try:
        rows = await count_survey(
            session, request.app.state.influx, scope=scope, at=moment,
            reporting_s=settings.survey_reporting_s, profiles_dir=settings.profiles_dir,
        )  # fmt: skip
    except SurveyError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    except InfluxUnavailableError as exc:
        raise ApiError(503, "influx_unavailable", f"reporting cannot be read: {exc}") from exc
    except InfluxRequestError as exc:
        logger.exception("InfluxDB refused the survey's query")
        raise ApiError(503, "influx_refused", f"InfluxDB refused the query: {exc}") from exc
    if fmt == "csv":
        return _csv(counts_csv(rows), f"survey-{scope}.csv")
    out = [SurveyRow.model_validate(row, from_attributes=True) for row in rows]
    return SurveyOut(at=moment, scope=scope, reporting_s=settings.survey_reporting_s, rows=out)


def _csv(text: str, name: str) -> Response:
    disposition = f'attachment; filename="{name}"'
    return Response(text, media_type=CSV, headers={"Content-Disposition": disposition})


async def _gaps(request: Request, session: Any) -> GapReport:
    inventory = await read_inventory(session)
    if inventory is None:
        raise ApiError(404, "not_found", "the store holds no inventory: import one")
    await session.close()  # the geometry takes a while: no store connection held meanwhile
    rule = request.app.state.settings.dark_road_rule()
    return await asyncio.to_thread(gap_report, inventory, rule)


@router.get(
    "/survey/gaps",
    summary="Roads without lamps: every dark stretch, as GeoJSON LineStrings with length_m",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}, "description": "GeoJSON"}},
)
async def gaps(
    request: Request,
    _who: Reader,
    session: Session,
    site: NodeId = None,
    subdistrict: NodeId = None,
) -> Response:
    report = await _gaps(request, session)
    document = gaps_geojson(report)
    if site is not None or subdistrict is not None:
        keep = {s.site for s in report.sites
                if site in (None, s.site) and subdistrict in (None, s.subdistrict)}  # fmt: skip
        document["features"] = [f for f in document["features"] if f["properties"]["site"] in keep]
    return Response(orjson.dumps(document), media_type="application/geo+json")


@router.get(
    "/roads",
    summary="Road centre lines, as GeoJSON LineStrings with name, road_class and site",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}, "description": "GeoJSON"}},
)
async def roads(_who: Reader, session: Session) -> Response:
    inventory = await read_inventory(session)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[p.lon, p.lat] for p in r.line]},
            "properties": {"road": r.id, "name": r.name, "road_class": r.road_class.value,
                           "site": r.site_id},
        }
        for r in (inventory.roads.values() if inventory is not None else ())
    ]  # fmt: skip
    document = {"type": "FeatureCollection", "features": features}
    return Response(orjson.dumps(document), media_type="application/geo+json")


@router.get(
    "/survey/gaps/sites",
    summary="Per site with roads: its roads' length and how much of it is dark",
    responses=AS_CSV,
    response_model=SiteGapsOut,
)
async def gap_sites(
    request: Request,
    _who: Reader,
    session: Session,
    fmt: Annotated[Format, Query(alias="format")] = "json",
) -> Any:
    report = await _gaps(request, session)
    if fmt == "csv":
        return _csv(sites_csv(report), "dark-roads.csv")
    rows = [SiteGapsRow.model_validate(row) for row in site_rows(report)]
    return SiteGapsOut(projection=report.projection, sites=rows)
