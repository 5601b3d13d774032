"""The API's accounts, tokens, keys, roles, errors, health and metrics, on SQLite and
PostgreSQL, through a real uvicorn and a real HTTP client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.security import issue_token
from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.services import ServiceState
from streetlight.store.users import Role, user_by_name
from tests.api_rig import BACKENDS, api_settings, running_api, store_url
from tests.helpers import subset

SITE = "PP-S01"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_an_admin_logs_in_adds_accounts_and_keys_and_revokes_them(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url(backend, tmp_path, request))
    async with running_api(settings) as api:
        password = await api.account("root", Role.ADMIN)
        token = (await api.login("root", password)).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        me = (await api.http.get("/api/v1/auth/me", headers=admin)).json()
        assert (me["name"], me["role"]) == ("root", "admin")

        created = await api.http.post("/api/v1/users", headers=admin, json={
            "name": "scada", "role": "viewer"})  # fmt: skip
        assert created.status_code == 201, created.text
        key = (await api.http.post("/api/v1/users/scada/keys", headers=admin,
                                   json={"name": "historian"})).json()  # fmt: skip
        machine = {"X-API-Key": key["key"]}
        assert (await api.http.get("/api/v1/auth/me", headers=machine)).json()["name"] == "scada"
        listed = (await api.http.get("/api/v1/keys", headers=admin)).json()
        assert [k["prefix"] for k in listed] == [key["prefix"]]
        assert "key" not in listed[0]  # only its digest is kept
        assert (await api.http.delete(f"/api/v1/keys/{key['id']}", headers=admin)).json()["revoked"]
        refused = await api.http.get("/api/v1/auth/me", headers=machine)
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthenticated"

        # a token logged out is refused; so is every older one after "everywhere"
        other = (await api.login("root", password)).json()["access_token"]
        assert (await api.http.post("/api/v1/auth/logout", headers=admin)).status_code == 204
        assert (await api.http.get("/api/v1/auth/me", headers=admin)).status_code == 401
        again = {"Authorization": f"Bearer {other}"}
        assert (await api.http.get("/api/v1/auth/me", headers=again)).status_code == 200
        await api.http.post("/api/v1/auth/logout?everywhere=true", headers=again)
        assert (await api.http.get("/api/v1/auth/me", headers=again)).status_code == 401

        audit = [row["action"] for row in await _audit(api, password)]
        assert audit == ["user.create", "key.create", "key.revoke", "auth.logout", "auth.logout"]


async def _audit(api: object, password: str) -> list[dict[str, object]]:
    from tests.api_rig import Api  # noqa: PLC0415 - the type, for this helper only

    assert isinstance(api, Api)
    token = (await api.login("root", password)).json()["access_token"]
    response = await api.http.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def test_credentials_that_do_not_hold_are_refused(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url("sqlite", tmp_path, request),
                            api_login_attempts=3)  # fmt: skip
    async with running_api(settings) as api:
        password = await api.account("wang", Role.OPERATOR)
        nothing = await api.http.get("/api/v1/auth/me")
        assert nothing.status_code == 401
        assert nothing.headers["WWW-Authenticate"] == "Bearer"
        assert set(nothing.json()) == {"code", "message"}
        forged = {"Authorization": "Bearer not.a.token"}
        assert (await api.http.get("/api/v1/auth/me", headers=forged)).status_code == 401
        async with api.app.state.sessions() as session:
            account = await user_by_name(session, "wang")
        assert account is not None
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        old = issue_token(account, api.app.state.secret, 15, an_hour_ago)
        expired = await api.http.get("/api/v1/auth/me",
                                     headers={"Authorization": f"Bearer {old.value}"})  # fmt: skip
        assert expired.status_code == 401
        assert "expired" in expired.json()["message"]
        other = issue_token(account, "another-servers-secret-" + "x" * 20, 15, datetime.now(UTC))
        bearer = {"Authorization": f"Bearer {other.value}"}
        foreign = await api.http.get("/api/v1/auth/me", headers=bearer)
        assert foreign.status_code == 401

        for _ in range(3):
            assert (await api.login("wang", "wrong password")).status_code == 401
        limited = await api.login("wang", password)  # right, but too late
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.json()["code"] == "too_many_attempts"
        assert (await api.login("li", "wrong password")).status_code == 401  # per name


async def test_each_role_is_refused_what_it_may_not_do(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url("sqlite", tmp_path, request))
    async with running_api(settings) as api:
        for role in (Role.OPERATOR, Role.MAINTAINER, Role.VIEWER):
            maintainer = "XY-LDS" if role is Role.MAINTAINER else None
            if maintainer:
                from tests.api_rig import store_with  # noqa: PLC0415

                await store_with(settings.db_url, subset([SITE]))
            headers = await api.as_role(role, maintainer)
            admins_only = (("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
                           ("GET", "/api/v1/keys"), ("GET", "/api/v1/audit"))  # fmt: skip
            for method, path in admins_only:
                response = await api.http.request(method, path, headers=headers,
                                                  json={"name": "x", "role": "viewer"})  # fmt: skip
                assert response.status_code == 403, (role, method, path, response.text)
                assert response.json()["code"] == "forbidden"


async def test_bad_requests_get_a_4xx_that_names_the_field(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url("sqlite", tmp_path, request),
                            api_max_body_mb=0.01)  # fmt: skip
    async with running_api(settings) as api:
        admin = await api.as_role(Role.ADMIN)
        bad_role = await api.http.post("/api/v1/users", headers=admin,
                                       json={"name": "x", "role": "king"})  # fmt: skip
        assert bad_role.status_code == 422
        assert bad_role.json()["field"] == "body.role"
        unreadable = await api.http.post("/api/v1/users", headers={**admin,
            "Content-Type": "application/json"}, content=b"{not json")  # fmt: skip
        assert unreadable.status_code == 422
        too_large = await api.http.post("/api/v1/users", headers=admin, json={
            "name": "x", "role": "viewer", "pad": "x" * 20_000})  # fmt: skip
        assert too_large.status_code == 413
        assert too_large.json()["code"] == "too_large"
        li = {"name": "li", "role": "viewer"}
        twice = [await api.http.post("/api/v1/users", headers=admin, json=li) for _ in range(2)]
        assert [r.status_code for r in twice] == [201, 409]
        assert "exists already" in twice[1].json()["message"]
        assert (await api.http.get("/api/v1/nowhere", headers=admin)).status_code == 404


async def test_health_names_each_server_and_metrics_count_requests(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url("sqlite", tmp_path, request))
    async with running_api(settings) as api:
        from tests.helpers import eventually  # noqa: PLC0415

        await eventually(api.app.state.bus.ready.is_set, what="the API on the bus")
        health = (await api.http.get("/health")).json()
        assert health["ok"], health
        for server in ("store", "influxdb", "broker"):
            assert health[server]["latency_ms"] >= 0
        metrics = (await api.http.get("/metrics")).text
        assert 'streetlight_api_requests_total{method="GET",route="/health",status="200"} 1.0' in (
            metrics
        )
