"""Handover acceptance (竣工验收 → 移交接管): run a site's acceptance over a window of nights,
read its latest run (what the console shows), any stored run and a site's runs, and accept a
passed run, which hands the site over to its new maintainer through the ledger. The core
(streetlight.acceptance) gathers, judges, stores and accepts, as `streetlight acceptance`
does; each run and acceptance is audited there, in the request's transaction.

A maintainer account reads the runs of the sites it maintains now; anything else is a 404.
The report of a run (HTML, PDF) is served under `/acceptance/{run_id}/report`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Now, Page, Pages, Session, Settings
from api.errors import ApiError, not_found
from api.scope import scope
from api.security import Operator, Principal, Reader
from streetlight.acceptance import (
    AcceptanceError,
    AcceptanceRefusedError,
    AcceptanceResult,
    RunNotFoundError,
    Window,
    accept_run,
    criteria_from,
    gather,
    record_run,
    stored_result,
    stored_run,
    to_plain,
    write_points,
)
from streetlight.domain import ID_PATTERN
from streetlight.domain.workorders import LedgerError
from streetlight.influx import InfluxRequestError, InfluxUnavailableError
from streetlight.store.acceptance import StoredRun, latest_run, site_runs
from streetlight.store.assets import asset_exists

logger = logging.getLogger(__name__)
router = APIRouter(tags=["acceptance"])

SiteId = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]
RunId = Annotated[str, Path(pattern=r"^acc-[0-9A-Za-z-]{1,60}$", max_length=64)]
REPORT = "/api/v1/acceptance/{run}/report?format={fmt}"
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "InfluxDB does not answer (or refuses the query)"}
}


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first: date = Field(alias="from", description="the first night (its evening's date)")
    last: date = Field(alias="to", description="the last night")
    criteria: dict[str, Any] | None = Field(
        default=None, description="thresholds, as the criteria file gives them (default: all)"
    )


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    maintainer: str = Field(min_length=1, max_length=200, description="its id or exact name")
    on: date = Field(alias="from", description="the day it maintains the site from")


class WindowOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")


class CriterionOut(BaseModel):
    number: int
    key: str
    name: str
    passed: bool
    verdict: str
    figures: dict[str, float | int | str | None]
    threshold: dict[str, float | str]
    findings: int


class ReportLinks(BaseModel):
    html: str
    pdf: str


class AcceptanceOut(BaseModel):
    status: Literal["pass", "fail", "none"]
    site: str
    run_id: str | None = None
    window: WindowOut | None = None
    criteria: list[CriterionOut] = []
    run_by: str | None = None
    run_at: datetime | None = None
    accepted_by: str | None = None
    accepted_at: datetime | None = None
    result: dict[str, Any] | None = None
    report: ReportLinks | None = None


class RunOut(BaseModel):
    run_id: str
    status: Literal["pass", "fail"]
    window: WindowOut
    run_by: str
    run_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None


# the criteria as the committee reads them (the report words its Chinese itself)
NAMES = {
    "complete": "Every planned lamp installed, registered and reporting",
    "lighting_rate": "Nightly lighting rate at or above the target",
    "switch_times": "Lamps switched within tolerance of the plan",
    "energy": "Power per lamp within tolerance of rated at each dim level",
    "faults_closed": "No open fault at the end; every fault closed in time",
}


def _out(run: StoredRun, result: AcceptanceResult) -> AcceptanceOut:
    return AcceptanceOut(
        status="pass" if result.verdict.value == "pass" else "fail",
        site=run.site,
        run_id=run.id,
        window=WindowOut(first=result.first_night, last=result.last_night),
        criteria=[
            CriterionOut(
                number=c.criterion.number,
                key=c.criterion.value,
                name=NAMES[c.criterion.value],
                passed=c.verdict.value == "pass",
                verdict=c.verdict.value,
                figures=c.figures,
                threshold=c.threshold,
                findings=len(c.findings),
            )
            for c in result.criteria
        ],
        run_by=run.run_by,
        run_at=run.run_at,
        accepted_by=run.accepted_by,
        accepted_at=run.accepted_at,
        result=to_plain(result),
        report=ReportLinks(
            html=REPORT.format(run=run.id, fmt="html"), pdf=REPORT.format(run=run.id, fmt="pdf")
        ),
    )


async def _visible_site(session: Session, who: Principal, now: datetime, site: str) -> None:
    """404 for a site the store does not have, or one a maintainer does not maintain now."""
    if not await asset_exists(session, "site", site):
        raise not_found("site", site)
    mine = await scope(session, who, now)
    if mine is not None and site not in mine.sites:
        raise not_found("site", site)


def _window_error(exc: AcceptanceError) -> ApiError:
    """The core names the field first (`to: ...`, `criteria: ...`)."""
    head, _, _rest = str(exc).partition(":")
    field = {"from": "body.from", "to": "body.to", "site": "path.site_id"}.get(head)
    if head.startswith("body.criteria"):
        field = "body.criteria"
    return ApiError(422, "invalid", str(exc), field)


@router.post(
    "/sites/{site_id}/acceptance",
    summary="Run the site's acceptance over a window of nights; the stored run",
    status_code=201,
    response_model=AcceptanceOut,
    response_model_by_alias=True,
    responses=UNAVAILABLE,
)
async def run_acceptance(
    request: Request,
    who: Operator,
    session: Session,
    settings: Settings,
    now: Now,
    site_id: SiteId,
    body: WindowIn,
) -> AcceptanceOut:
    await _visible_site(session, who, now, site_id)
    try:
        criteria = criteria_from(body.criteria, "body.criteria")
        inputs = await gather(
            session, request.app.state.influx, Window(site_id, body.first, body.last), criteria,
            profiles_dir=settings.profiles_dir, now=now,
        )  # fmt: skip
    except AcceptanceError as exc:
        raise _window_error(exc) from exc
    except InfluxUnavailableError as exc:
        raise ApiError(503, "influx_unavailable", f"the lamps cannot be read: {exc}") from exc
    except InfluxRequestError as exc:
        logger.exception("InfluxDB refused the acceptance's query")
        raise ApiError(503, "influx_refused", f"InfluxDB refused the query: {exc}") from exc
    await session.rollback()  # the reads' transaction; the run is written in its own
    async with session.begin():
        result = await record_run(session, inputs, criteria, by=who.name, now=now)
    await write_points(request.app.state.influx, result)  # for the acceptance dashboard
    run = await stored_run(session, result.run_id)
    return _out(run, result)


@router.get(
    "/sites/{site_id}/acceptance",
    summary="The site's latest acceptance run (status none before the first)",
    response_model=AcceptanceOut,
    response_model_by_alias=True,
)
async def latest_acceptance(
    who: Reader, session: Session, now: Now, site_id: SiteId
) -> AcceptanceOut:
    await _visible_site(session, who, now, site_id)
    run = await latest_run(session, site_id)
    if run is None:
        return AcceptanceOut(status="none", site=site_id)
    return _out(run, stored_result(run))


@router.get(
    "/sites/{site_id}/acceptance/runs",
    summary="The site's acceptance runs, newest first",
    response_model=Page[RunOut],
    response_model_by_alias=True,
)
async def acceptance_runs(
    who: Reader, session: Session, now: Now, paging: Pages, site_id: SiteId
) -> Page[RunOut]:
    await _visible_site(session, who, now, site_id)
    after = paging.after if isinstance(paging.after, str) else None
    runs = await site_runs(session, site_id, after=after, limit=paging.limit + 1)
    items = [
        RunOut(
            run_id=run.id,
            status="pass" if run.verdict == "pass" else "fail",
            window=WindowOut(first=run.first_night, last=run.last_night),
            run_by=run.run_by,
            run_at=run.run_at,
            accepted_by=run.accepted_by,
            accepted_at=run.accepted_at,
        )
        for run in runs
    ]
    return paging.page(items, lambda item: item.run_id)


@router.get(
    "/acceptance/{run_id}",
    summary="A stored acceptance run",
    response_model=AcceptanceOut,
    response_model_by_alias=True,
)
async def acceptance_run(who: Reader, session: Session, now: Now, run_id: RunId) -> AcceptanceOut:
    try:
        run = await stored_run(session, run_id)
    except RunNotFoundError as exc:
        raise not_found("acceptance run", run_id) from exc
    mine = await scope(session, who, now)
    if mine is not None and run.site not in mine.sites:
        raise not_found("acceptance run", run_id)
    return _out(run, stored_result(run))


@router.post(
    "/acceptance/{run_id}/accept",
    summary="Accept a passed run: hand its site over to the maintainer from a date",
    response_model=AcceptanceOut,
    response_model_by_alias=True,
)
async def accept_acceptance(
    who: Operator, session: Session, now: Now, run_id: RunId, body: AcceptIn
) -> AcceptanceOut:
    try:
        async with session.begin():
            await accept_run(
                session, run_id, maintainer=body.maintainer, on=body.on, by=who.name, now=now
            )
    except RunNotFoundError as exc:
        raise not_found("acceptance run", run_id) from exc
    except AcceptanceRefusedError as exc:
        raise ApiError(409, "refused", str(exc)) from exc
    except LedgerError as exc:  # the maintainer the ledger does not know
        raise ApiError(422, "invalid", str(exc), "body.maintainer") from exc
    run = await stored_run(session, run_id)
    return _out(run, stored_result(run))
