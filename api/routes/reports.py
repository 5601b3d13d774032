"""The reports as downloads: the leading group's monthly progress per subdistrict (JSON, CSV,
HTML or PDF, Chinese by default), read by anyone, as the survey and the KPIs it sums are (it
holds counts per subdistrict, no site's alarms); and the committee's report of a stored
acceptance run (HTML or PDF), which a maintainer sees only for the sites it maintains, as it
sees the run itself. docs/contract.md ("Reports") defines every figure; the core
(streetlight.reports) makes them, as `streetlight report` and `streetlight acceptance` do."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from api.deps import Now, Session, Settings
from api.errors import ApiError, not_found
from api.scope import scope
from api.security import Reader
from streetlight.acceptance import RunNotFoundError, stored_result, stored_run
from streetlight.domain import ID_PATTERN
from streetlight.influx import InfluxRequestError, InfluxUnavailableError
from streetlight.reports import (
    Lang,
    MonthlyReport,
    ReportError,
    acceptance_html,
    acceptance_pdf,
    monthly_csv,
    monthly_html,
    monthly_pdf,
    monthly_report,
    row_record,
)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["reports"])

Format = Literal["json", "csv", "html", "pdf"]
MEDIA = {"csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8",
         "pdf": "application/pdf"}  # fmt: skip
DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/csv": {}, "text/html": {}, "application/pdf": {}},
        "description": "the report as JSON, CSV, HTML or PDF (`format`)",
    },
    503: {"description": "InfluxDB does not answer (or refuses the query)"},
}


class MonthlyRowOut(BaseModel):
    scope: str
    id: str
    name: str
    planned: int
    installed: int
    registered: int
    reporting: int
    nights: int
    lamp_intervals_should_lit: int
    lamp_intervals_lit_ok: int
    lighting_rate_pct: float | None
    lighting_target_pct: float | None
    worst_night: date | None
    worst_night_rate_pct: float | None
    nights_below_target: int
    faults_opened: int
    faults_closed: int
    faults_closed_in_time: int
    faults_open_at_end: int
    energy_kwh: float
    baseline_kwh: float
    saved_kwh: float
    road_length_m: float
    dark_road_m: float
    installed_pct: float | None
    closed_in_time_pct: float | None
    saved_pct: float | None
    dark_road_pct: float | None


class NightOut(BaseModel):
    night: date
    lighting_rate_pct: float | None
    lighting_target_pct: float | None


class MonthlyOut(BaseModel):
    month: str
    district: str
    district_name: str
    window_start: datetime
    window_end: datetime
    counted_at: datetime
    computed_at: datetime
    subdistrict: str | None
    rows: list[MonthlyRowOut]
    total: MonthlyRowOut
    nightly: dict[str, list[NightOut]]


def download(body: str | bytes, fmt: str, name: str) -> Response:
    """The report as a file: its media type, and a name a browser saves it under."""
    disposition = f'attachment; filename="{name}.{fmt}"'
    return Response(body, media_type=MEDIA[fmt], headers={"Content-Disposition": disposition})


def _out(report: MonthlyReport) -> MonthlyOut:
    return MonthlyOut(
        month=str(report.month), district=report.district, district_name=report.district_name,
        window_start=report.window_start, window_end=report.window_end,
        counted_at=report.counted_at, computed_at=report.computed_at,
        subdistrict=report.subdistrict,
        rows=[MonthlyRowOut.model_validate(row_record(r)) for r in report.rows],
        total=MonthlyRowOut.model_validate(row_record(report.total)),
        nightly={k: [NightOut.model_validate(n, from_attributes=True) for n in v]
                 for k, v in report.nightly.items()},
    )  # fmt: skip


@router.get(
    "/reports/monthly",
    summary="The monthly progress report per subdistrict (月度进展报告): JSON, CSV, HTML or PDF",
    response_model=MonthlyOut,
    responses=DOWNLOADS,
)
async def monthly(
    request: Request,
    _who: Reader,
    session: Session,
    settings: Settings,
    now: Now,
    month: Annotated[str, Query(max_length=7, description="YYYY-MM")],
    subdistrict: Annotated[
        str | None, Query(pattern=ID_PATTERN.pattern, max_length=64, description="default: all")
    ] = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
    lang: Lang = "zh",
) -> Any:
    try:
        report = await monthly_report(
            session, request.app.state.influx, month=month, now=now, subdistrict=subdistrict,
            reporting_s=settings.survey_reporting_s, profiles_dir=settings.profiles_dir,
            dark_rule=settings.dark_road_rule(),
        )  # fmt: skip
    except ReportError as exc:
        if exc.field is None:  # no inventory in the store
            raise ApiError(404, "not_found", str(exc)) from exc
        raise ApiError(422, "invalid", str(exc), f"query.{exc.field}") from exc
    except InfluxUnavailableError as exc:
        raise ApiError(503, "influx_unavailable", f"KPIs cannot be read: {exc}") from exc
    except InfluxRequestError as exc:
        logger.exception("InfluxDB refused the monthly report's query")
        raise ApiError(503, "influx_refused", f"InfluxDB refused the query: {exc}") from exc
    name = f"streetlight-{report.month}{f'-{subdistrict}' if subdistrict else ''}"
    if fmt == "csv":
        return download(monthly_csv(report), fmt, name)
    if fmt == "html":
        return download(await asyncio.to_thread(monthly_html, report, lang), fmt, name)
    if fmt == "pdf":
        return download(await asyncio.to_thread(monthly_pdf, report, lang), fmt, name)
    return _out(report)


RunId = Annotated[str, Path(pattern=r"^acc-[0-9A-Za-z-]{1,60}$", max_length=64)]
PAGES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/html": {}, "application/pdf": {}},
        "description": "the committee's report as HTML or PDF (`format`)",
    }
}


@router.get(
    "/acceptance/{run_id}/report",
    summary="The acceptance committee's report of a stored run (竣工验收报告): HTML or PDF",
    response_class=Response,
    responses=PAGES,
)
async def acceptance_report(
    who: Reader,
    session: Session,
    now: Now,
    run_id: RunId,
    fmt: Annotated[Literal["html", "pdf"], Query(alias="format")] = "pdf",
    lang: Lang = "zh",
) -> Response:
    try:
        run = await stored_run(session, run_id)
    except RunNotFoundError as exc:
        raise not_found("acceptance run", run_id) from exc
    mine = await scope(session, who, now)
    if mine is not None and run.site not in mine.sites:
        raise not_found("acceptance run", run_id)
    await session.close()
    result = stored_result(run)  # its times in the district's zone, as it was judged
    body: str | bytes
    if fmt == "pdf":
        body = await asyncio.to_thread(acceptance_pdf, result, lang)
    else:
        body = await asyncio.to_thread(acceptance_html, result, lang)
    return download(body, fmt, f"acceptance-{result.site}-{run_id}")
