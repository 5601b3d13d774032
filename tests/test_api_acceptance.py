"""The acceptance routes on both store backends: a run over a window (here with no lamp heard:
it fails), the latest run as the console reads it, a stored run, a site's runs, accepting a
passed run (the handover) and refusing a failed one; roles, bad input, not found, audit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streetlight.acceptance import AcceptanceCriteria, record_run
from streetlight.clock import ManualClock
from streetlight.contract import Topics
from streetlight.contract.influx_schema import ensure_database
from streetlight.influx import InfluxClient
from streetlight.services import ServiceState
from streetlight.store.users import Role, read_audit
from tests.acceptance_inputs import END, inputs
from tests.api_rig import BACKENDS, api_settings, running_api, store_url, store_with
from tests.helpers import subset

CRITERIA = AcceptanceCriteria()
NOW = datetime(2026, 12, 24, 4, tzinfo=UTC)  # noon on the 24th in Shanghai


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_acceptance_routes(  # one API, every route, as the rig advises
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url(backend, tmp_path, request))
    await store_with(settings.db_url, subset(["PP-S04", "PP-S09"]))
    await ensure_database(influx)  # its retention policies, as the gateway makes them
    async with running_api(settings, ManualClock(NOW)) as api:
        operator = await api.as_role(Role.OPERATOR)
        viewer = await api.as_role(Role.VIEWER)
        other = await api.as_role(Role.MAINTAINER, maintainer="WY-CJ")  # PP-S09's, not PP-S04's
        url = "/api/v1/sites/PP-S04/acceptance"

        async def call(method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
            return await api.http.request(method, path, headers=headers, **kw)

        none = await call("GET", url, viewer)
        assert none.status_code == 200, none.text
        assert none.json()["status"] == "none"

        window = {"from": "2026-12-21", "to": "2026-12-22"}
        assert (await call("POST", url, viewer, json=window)).status_code == 403
        ran = await call("POST", url, operator, json=window)
        assert ran.status_code == 201, ran.text
        body = ran.json()
        assert body["status"] == "fail"  # no lamp was heard
        assert body["window"] == {"from": "2026-12-21", "to": "2026-12-22"}
        assert [c["number"] for c in body["criteria"]] == [1, 2, 3, 4, 5]
        assert all(
            isinstance(c["name"], str) and c["passed"] is False for c in body["criteria"][:1]
        )
        run_id = body["run_id"]
        assert body["report"] == {
            "html": f"/api/v1/acceptance/{run_id}/report?format=html",
            "pdf": f"/api/v1/acceptance/{run_id}/report?format=pdf",
        }
        assert body["result"]["site"] == "PP-S04"

        latest = (await call("GET", url, viewer)).json()
        assert latest["run_id"] == run_id
        assert (await call("GET", f"/api/v1/acceptance/{run_id}", viewer)).json()[
            "status"
        ] == "fail"
        assert (await call("GET", url, other)).status_code == 404  # not its site
        assert (await call("GET", f"/api/v1/acceptance/{run_id}", other)).status_code == 404
        runs = (await call("GET", f"{url}/runs?limit=1", viewer)).json()
        assert [r["run_id"] for r in runs["items"]] == [run_id]

        for bad, field in (
            ({"from": "2026-12-22", "to": "2026-12-21"}, "body.to"),
            ({"from": "2026-11-01", "to": "2026-12-22"}, "body.to"),  # 52 nights
            ({"from": "2026-12-23", "to": "2026-12-24"}, "body.to"),  # not over yet
            ({"from": "2026-12-21"}, "body.to"),
            ({**window, "criteria": {"energy_tolerance_pct": -3}}, "body.criteria"),
        ):
            refused = await call("POST", url, operator, json=bad)
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["field"] == field, refused.text
        assert (await call("POST", "/api/v1/sites/NOPE/acceptance", operator,
                           json=window)).status_code == 404  # fmt: skip
        assert (await call("GET", "/api/v1/acceptance/acc-nope", viewer)).status_code == 404

        accept = {"maintainer": "WY-CJ", "from": "2026-12-25"}
        failed = await call("POST", f"/api/v1/acceptance/{run_id}/accept", operator, json=accept)
        assert failed.status_code == 409
        assert "cannot be accepted" in failed.json()["message"]
        async with api.app.state.sessions() as session, session.begin():
            passed = await record_run(session, inputs(), CRITERIA, by="committee", now=END)
        path = f"/api/v1/acceptance/{passed.run_id}/accept"
        assert (await call("POST", path, viewer, json=accept)).status_code == 403
        unknown = await call("POST", path, operator, json={**accept, "maintainer": "nobody"})
        assert unknown.status_code == 422
        assert unknown.json()["field"] == "body.maintainer"
        done = await call("POST", path, operator, json=accept)
        assert done.status_code == 200, done.text
        assert done.json()["accepted_by"] is not None
        assert (await call("POST", path, operator, json=accept)).status_code == 409  # once
        # from the 25th the site is WY-CJ's: its maintainer account now reads it
        assert (await call("GET", url, other)).status_code == 404  # not yet (the 24th)
        async with api.app.state.sessions() as session:
            actions = [row.action for row in await read_audit(session, limit=1000)]
        assert actions.count("acceptance.run") == 2
        assert actions.count("acceptance.accept") == 1
