"""The reports through the API, on SQLite and PostgreSQL: the monthly report in each format
with its media type and file name, the same figures as the core computes, any role reading it;
the committee's report of a stored acceptance run, a maintainer seeing its own sites' only;
bad input refused naming the field, unknown runs 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from streetlight.acceptance import AcceptanceInputs, AcceptanceResult, inputs_json, to_json
from streetlight.acceptance.inputs import inputs_sha256
from streetlight.clock import ManualClock
from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.services import ServiceState
from streetlight.store.acceptance import StoredRun, save_run
from streetlight.store.users import Role
from tests import acceptance_results as acc
from tests.api_rig import BACKENDS, Api, api_settings, running_api, store_url
from tests.test_reports import NOW, _inventory, _write_nights, _write_store, pdf_text

MONTHLY = "/api/v1/reports/monthly"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def api(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> AsyncIterator[Api]:
    inventory = _inventory()
    db_url = store_url(backend, tmp_path, request)
    await _write_store(db_url, inventory)
    await _write_nights(influx, inventory)
    settings = api_settings(service_state, topics, influx, db_url)
    async with running_api(settings, ManualClock(NOW)) as running:
        yield running


def _refused(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body.get("field") == field, body
    return body


async def test_the_monthly_report_through_the_api(api: Api, tmp_path: Path) -> None:
    http = api.http
    maintainer = await api.as_role(Role.MAINTAINER, maintainer="XY-LDS")
    answer = await http.get(MONTHLY, params={"month": "2026-12"}, headers=maintainer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["id"] for r in body["rows"]] == ["GT", "PP"]
    pp = body["rows"][1]
    assert pp["lamp_intervals_should_lit"] == 3000 + 3000 + 2900  # December's nights only
    assert (pp["faults_opened"], pp["faults_closed"], pp["faults_closed_in_time"]) == (2, 2, 1)
    assert pp["closed_in_time_pct"] == 50.0
    assert body["total"]["scope"] == "district"
    assert [n["night"] for n in body["nightly"]["PP"]] == ["2026-12-01", "2026-12-02",
                                                          "2026-12-03"]  # fmt: skip

    viewer = await api.as_role(Role.VIEWER)
    one = {"month": "2026-12", "subdistrict": "GT"}
    csv = await http.get(MONTHLY, params={**one, "format": "csv"}, headers=viewer)
    assert csv.status_code == 200, csv.text
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.headers["content-disposition"] == 'attachment; filename="streetlight-2026-12-GT.csv"'
    assert [line.split(",")[2] for line in csv.text.splitlines()[1:]] == ["GT", "XY"]
    html = await http.get(MONTHLY, params={**one, "format": "html", "lang": "en"}, headers=viewer)
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "Monthly progress report" in html.text
    pdf = await http.get(MONTHLY, params={"month": "2026-12", "format": "pdf"}, headers=viewer)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="streetlight-2026-12.pdf"'
    assert "月度进展报告" in pdf_text(pdf.content, tmp_path)

    assert (await http.get(MONTHLY, params={"month": "2026-12"})).status_code == 401
    for params, field in (
        ({"month": "2026-13"}, "query.month"),
        ({"month": "december"}, "query.month"),
        ({"month": "2027-02"}, "query.month"),  # not begun
        ({}, "query.month"),
        ({"month": "2026-12", "format": "docx"}, "query.format"),
        ({"month": "2026-12", "lang": "fr"}, "query.lang"),
        ({"month": "2026-12", "subdistrict": "ZZ"}, "query.subdistrict"),
        ({"month": "2026-12", "subdistrict": "bad id!"}, "query.subdistrict"),
    ):
        _refused(await http.get(MONTHLY, params=params, headers=viewer), 422, field)


async def _stored_run(api: Api, result: AcceptanceResult) -> None:
    inputs = AcceptanceInputs(
        site=result.site, site_name=result.site_name, subdistrict=result.subdistrict,
        community=result.community, project=result.project, maintainer=result.maintainer,
        road_class=result.road_class, timezone="Asia/Shanghai", first_night=result.first_night,
        last_night=result.last_night, window_start=NOW, window_end=NOW, gathered_at=NOW,
        lamps=[], nights=[], lamp_nights=[], alarms=[], orders=[],
    )  # fmt: skip
    data = inputs_json(inputs)
    run = StoredRun(
        id=result.run_id, site=result.site, first_night=result.first_night,
        last_night=result.last_night, verdict=result.verdict.value, criteria="{}",
        inputs=data.decode(), inputs_sha256=inputs_sha256(data), result=to_json(result).decode(),
        run_by="test", run_at=NOW, accepted_by=None, accepted_at=None, handover_id=None,
    )  # fmt: skip
    async with api.app.state.sessions() as session, session.begin():
        await save_run(session, run)


async def test_the_acceptance_report_of_a_stored_run(api: Api, tmp_path: Path) -> None:
    http, viewer = api.http, await api.as_role(Role.VIEWER)
    await _stored_run(api, acc.failing())
    report = f"/api/v1/acceptance/{acc.failing().run_id}/report"
    pdf = await http.get(report, headers=viewer)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="acceptance-{acc.SITE}-{acc.failing().run_id}.pdf"')  # fmt: skip
    text = pdf_text(pdf.content, tmp_path)
    for words in ("竣工验收报告", "验收结论：不通过", acc.DARK_LAMP, acc.LATE_LAMP):  # noqa: RUF001
        assert words in text, words
    html = await http.get(report, params={"format": "html", "lang": "en"}, headers=viewer)
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "Handover acceptance report" in html.text
    # a maintainer sees the runs of its own sites only; unknown runs and bad input
    stranger = await api.as_role(Role.MAINTAINER, maintainer="WY-CJ")  # PP-S09's
    _refused(await http.get(report, headers=stranger), 404)
    _refused(await http.get("/api/v1/acceptance/acc-nothing/report", headers=viewer), 404)
    _refused(await http.get("/api/v1/acceptance/bad!/report", headers=viewer), 422,
             "path.run_id")  # fmt: skip
    _refused(await http.get(report, params={"format": "docx"}, headers=viewer), 422,
             "query.format")  # fmt: skip
    assert (await http.get(report)).status_code == 401
