"""Alarms and work orders through the API, on SQLite and PostgreSQL, through a real uvicorn, with
the session's Mosquitto: filters and pages, transitions with who and when, an acknowledgement
seen in the store and on the bus, closures refused until the field (or the controller's
verification) allows them, maintainers kept to their own sites, and each role's refusals.

The alarms and orders are made in the store by the store's own functions, as the controller
makes them (write_transitions, open_order, mark_verified).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.deps import encode_cursor
from api.security import new_key
from streetlight.contract import Topics
from streetlight.domain import AlarmChange, AlarmState, AlarmType, Severity
from streetlight.influx import InfluxClient
from streetlight.services import ServiceState, free_port
from streetlight.settings import MqttUrl
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.alarms import Transition, write_transitions
from streetlight.store.models import AlarmRow, AlarmTransitionRow, WorkOrderRow
from streetlight.store.users import Role, add_key, add_user, read_audit
from streetlight.store.workorders import mark_verified, open_order, record_handover
from tests.api_rig import BACKENDS, Api, api_settings, running_api, store_url
from tests.helpers import Listener, eventually, subset

SITES = ["PP-S04", "PP-S09"]  # maintained by XY-LDS and WY-CJ
NOW = datetime.now(UTC).replace(microsecond=0)  # the API's clock is wall time
T0 = NOW - timedelta(hours=2)

# id, type, asset, severity, site, minutes after T0 raised, cleared (None: still raised), parent
ALARMS: list[tuple[int, AlarmType, str, Severity, str, int, int | None, int | None]] = [
    (1, AlarmType.CIRCUIT_DEAD, "circuit:PP-S04-K1-C1", Severity.EMERGENCY, "PP-S04", 0, None,
     None),
    (2, AlarmType.LAMP_FAILURE, "lamp:PP-S04-L001", Severity.ORDINARY, "PP-S04", 1, None, 1),
    (3, AlarmType.DOOR_OPEN, "cabinet:PP-S09-K1", Severity.EMERGENCY, "PP-S09", 2, 10, None),
    (4, AlarmType.DOOR_OPEN, "cabinet:PP-S09-K1", Severity.EMERGENCY, "PP-S09", 20, None, None),
    (5, AlarmType.LEAKAGE, "cabinet:PP-S04-K1", Severity.EMERGENCY, "PP-S04", 30, 40, None),
]  # fmt: skip


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def _stock(db_url: str) -> None:
    """Two sites of two maintainers, five alarms and two work orders, as the controller
    writes them: wo-1 for al-1 (XY-LDS, overdue), wo-2 for al-3 (WY-CJ, due tomorrow)."""
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, subset(SITES), "test")
            for ident, kind, asset, severity, site, raised, cleared, parent in ALARMS:
                raise_ = Transition(ident, kind, asset, severity, site, _at(raised),
                                    f"{kind} seen", AlarmChange.RAISED, _at(raised),
                                    AlarmState.RAISED, parent, None, "")  # fmt: skip
                changes = [raise_]
                if cleared is not None:
                    at = _at(cleared)
                    changes.append(replace(raise_, change=AlarmChange.CLEARED, at=at,
                                           state=AlarmState.CLEARED, cleared_at=at))  # fmt: skip
                await write_transitions(session, changes)
            tomorrow = NOW + timedelta(days=1)
            for alarm, maintainer, deadline in ((1, "XY-LDS", _at(61)), (3, "WY-CJ", tomorrow)):
                await open_order(session, alarm_id=alarm, maintainer=maintainer,
                                 severity=Severity.EMERGENCY, opened_at=_at(1 + alarm),
                                 deadline=deadline)  # fmt: skip
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _as(api: Api, role: Role, maintainer: str | None = None) -> dict[str, str]:
    """Headers of a fresh account of `role` with a machine key: a key is checked by its SHA-256,
    where a password costs Argon2 twice (tests/test_api_auth.py logs in)."""
    name = f"{role.value}-{uuid.uuid4().hex[:6]}"
    key, prefix, digest = new_key()
    async with api.app.state.sessions() as session, session.begin():
        now = api.app.state.clock.now()
        await add_user(session, name=name, role=role, password_hash=None,
                       maintainer_id=maintainer, by="test", at=now)  # fmt: skip
        await add_key(session, name, name="test", prefix=prefix, digest=digest, at=now)
    return {"X-API-Key": key}


async def _audit(api: Api) -> list[tuple[str, str, str]]:
    """The audit log (actor, action, target), oldest first, from the store."""
    async with api.app.state.sessions() as session:
        rows = await read_audit(session, limit=1000)
    return [(row.actor, row.action, row.target) for row in rows]


async def test_alarms_are_listed_shown_acknowledged_and_closed(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url(backend, tmp_path, request))
    await _stock(settings.db_url)
    async with (
        running_api(settings) as api,
        Listener(MqttUrl.parse(service_state.url_for("admin")), [f"{topics.root}/v1/alarm/#"],
                 identifier=f"watch-{topics.root}") as bus,
    ):  # fmt: skip
        operator = await api.as_role(Role.OPERATOR)  # logged in: a token
        get = api.http.get
        every = ["al-1", "al-2", "al-3", "al-4", "al-5"]
        assert _ids(await get("/api/v1/alarms", headers=operator)) == every
        for query, expected in (
            ("state=open", ["al-1", "al-2", "al-4"]),
            ("state=cleared", ["al-3", "al-5"]),
            ("state=closed", []),
            ("type=door_open", ["al-3", "al-4"]),
            ("severity=ordinary", ["al-2"]),
            ("site=PP-S09", ["al-3", "al-4"]),
            ("subdistrict=PP", every),
            ("subdistrict=GT", []),
            ("maintainer=WY-CJ", ["al-3", "al-4"]),
            ("asset=lamp:PP-S04-L001", ["al-2"]),
            ("roots=true", ["al-1", "al-3", "al-4", "al-5"]),
            (f"since={_at(20).isoformat().replace('+', '%2B')}", ["al-4", "al-5"]),
            (f"until={_at(20).isoformat().replace('+', '%2B')}", ["al-1", "al-2", "al-3"]),
            ("newest_first=true&state=open", ["al-4", "al-2", "al-1"]),
        ):
            assert _ids(await get(f"/api/v1/alarms?{query}", headers=operator)) == expected, query
        pages: list[str] = []
        cursor = ""
        while True:
            page = (await get(f"/api/v1/alarms?limit=2{cursor}", headers=operator)).json()
            pages.append(",".join(item["id"] for item in page["items"]))
            if page["next"] is None:
                break
            cursor = f"&cursor={page['next']}"
        assert pages == ["al-1,al-2", "al-3,al-4", "al-5"]
        bad = await get("/api/v1/alarms?state=sleeping", headers=operator)
        assert (bad.status_code, bad.json()["field"]) == (422, "query.state")
        bad = await get("/api/v1/alarms?asset=PP-S04-L001", headers=operator)
        assert (bad.status_code, bad.json()["field"]) == (422, "query.asset")
        for query, field in (
            ("cursor=garbage!", "query.cursor"),
            (f"cursor={encode_cursor(2**40)}", "query.cursor"),  # not one of ours
            ("since=0001-01-01T00:00:00%2B05:00", "query.since"),  # no one's meaning
            (f"since={_at(20).isoformat().replace('+', '%2B')}&until={T0.isoformat()[:19]}Z",
             "query.until"),
        ):  # fmt: skip
            bad = await get(f"/api/v1/alarms?{query}", headers=operator)
            assert (bad.status_code, bad.json()["field"]) == (422, field), query

        one = (await get("/api/v1/alarms/al-1", headers=operator)).json()
        assert (one["type"], one["asset"], one["state"], one["work_order"]) == (
            "circuit_dead", "circuit:PP-S04-K1-C1", "raised", "wo-1")  # fmt: skip
        assert [c["id"] for c in one["children"]] == ["al-2"]
        assert [(t["change"], t["by"]) for t in one["transitions"]] == [("raised", "controller")]
        assert (await get("/api/v1/alarms/1", headers=operator)).json()["id"] == "al-1"
        assert (await get("/api/v1/alarms/al-99", headers=operator)).status_code == 404
        bad = await get("/api/v1/alarms/wo-1", headers=operator)
        assert (bad.status_code, bad.json()["field"]) == (422, "path.alarm_id")

        # acknowledged: in the store (who, when, the note) and on the bus, retained
        await eventually(api.app.state.bus.ready.is_set, what="the API on the bus")
        post = api.http.post
        acked = await post("/api/v1/alarms/al-1/ack", headers=operator, json={"note": "crew sent"})
        assert acked.status_code == 200, acked.text
        body = acked.json()
        assert (body["alarm"]["state"], body["published"], body["bus_error"]) == (
            "acknowledged", True, None)  # fmt: skip
        last = body["alarm"]["transitions"][-1]
        assert (last["change"], last["note"]) == ("acknowledged", "crew sent")
        assert last["by"].startswith("operator-")
        async with api.app.state.sessions() as session:
            row = await session.get(AlarmRow, 1)
            assert row is not None
            assert row.state == "acknowledged"
            steps = (await session.scalars(select(AlarmTransitionRow).where(
                AlarmTransitionRow.alarm_id == 1))).all()  # fmt: skip
            assert [(s.change, s.by) for s in steps][-1] == ("acknowledged", last["by"])
        topic = f"{topics.root}/v1/alarm/circuit/PP-S04-K1-C1/circuit_dead"
        await eventually(lambda: bool(bus.on(topic)), what="the acknowledgement on the bus")
        event = bus.on(topic)[-1]
        assert (event["id"], event["state"], event["type"]) == ("al-1", "acknowledged",
                                                                 "circuit_dead")  # fmt: skip
        twice = await post("/api/v1/alarms/al-1/ack", headers=operator)
        assert twice.status_code == 409

        # closing waits for the field to clear it, as the CLI does
        refused = await post("/api/v1/alarms/al-1/close", headers=operator)
        assert refused.status_code == 409
        assert "the field has not cleared it" in refused.json()["message"]
        noted = await post("/api/v1/alarms/al-1/comment", headers=operator,
                           json={"note": "cable cut at the junction box"})  # fmt: skip
        assert noted.status_code == 200, noted.text
        assert noted.json()["transitions"][-1]["change"] == "comment"
        assert noted.json()["state"] == "acknowledged"
        for note in ("", "\x00", "x" * 501):
            bad = await post("/api/v1/alarms/al-1/comment", headers=operator, json={"note": note})
            assert (bad.status_code, bad.json()["field"]) == (422, "body.note")

        closed = (await post("/api/v1/alarms/al-5/close", headers=operator)).json()
        assert (closed["alarm"]["state"], closed["published"]) == ("closed", True)
        leakage = f"{topics.root}/v1/alarm/cabinet/PP-S04-K1/leakage"
        await eventually(lambda: (leakage, b"") in bus.messages, what="the retained event removed")
        # al-4, the door opened again, holds the door's topic: closing al-3 leaves it alone
        older = (await post("/api/v1/alarms/al-3/close", headers=operator)).json()
        assert (older["alarm"]["state"], older["published"]) == ("closed", False)
        assert "al-4" in older["bus_error"]
        assert _ids(await get("/api/v1/alarms?state=closed", headers=operator)) == ["al-3", "al-5"]

        audit = [(action, target) for _actor, action, target in await _audit(api)]
        assert audit == [("alarm.ack", "alarm:al-1"), ("alarm.comment", "alarm:al-1"),
                         ("alarm.close", "alarm:al-5"), ("alarm.close", "alarm:al-3")]  # fmt: skip


async def test_work_orders_are_dispatched_repaired_verified_and_closed(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url(backend, tmp_path, request))
    await _stock(settings.db_url)
    async with running_api(settings) as api:
        operator = await _as(api, Role.OPERATOR)
        get, post = api.http.get, api.http.post
        for query, expected in (
            ("", ["wo-1", "wo-2"]),
            ("state=registered", ["wo-1", "wo-2"]),
            ("state=closed", []),
            ("site=PP-S09", ["wo-2"]),
            ("maintainer=XY-LDS", ["wo-1"]),
            ("overdue=true", ["wo-1"]),
            ("overdue=false", ["wo-2"]),
            ("severity=ordinary", []),
            ("limit=1", ["wo-1"]),
        ):
            assert _ids(await get(f"/api/v1/workorders?{query}", headers=operator)) == expected, (
                query
            )
        one = (await get("/api/v1/workorders/wo-1", headers=operator)).json()
        assert (one["alarm"], one["asset"], one["maintainer"], one["overdue"]) == (
            "al-1", "circuit:PP-S04-K1-C1", "XY-LDS", True)  # fmt: skip
        assert [(t["change"], t["by"]) for t in one["transitions"]] == [("registered",
                                                                         "controller")]  # fmt: skip
        assert (await get("/api/v1/workorders/1", headers=operator)).json()["id"] == "wo-1"
        assert (await get("/api/v1/workorders/wo-9", headers=operator)).status_code == 404

        early = await post("/api/v1/workorders/wo-1/repaired", headers=operator)
        assert early.status_code == 409
        assert "dispatch it first" in early.json()["message"]
        nobody = await post("/api/v1/workorders/wo-1/dispatch", headers=operator, json={})
        assert (nobody.status_code, nobody.json()["field"]) == (422, "body.to")
        sent = await post("/api/v1/workorders/wo-1/dispatch", headers=operator,
                          json={"to": "crew 7 (Zhang)", "note": "bring cable"})  # fmt: skip
        assert sent.status_code == 200, sent.text
        step = sent.json()["transitions"][-1]
        assert (sent.json()["state"], step["change"], step["note"]) == (
            "dispatched", "dispatched", "to crew 7 (Zhang): bring cable")  # fmt: skip
        assert step["by"].startswith("operator-")
        noted = await post("/api/v1/workorders/wo-1/comment", headers=operator,
                           json={"note": "on site"})  # fmt: skip
        assert noted.status_code == 200, noted.text
        assert noted.json()["transitions"][-1]["note"] == "on site"
        fixed = await post("/api/v1/workorders/wo-1/repaired", headers=operator,
                           json={"note": "cable spliced"})  # fmt: skip
        assert fixed.json()["state"] == "repaired"
        assert fixed.json()["repaired_at"] is not None
        unverified = await post("/api/v1/workorders/wo-1/close", headers=operator)
        assert unverified.status_code == 409
        assert "not verified yet" in unverified.json()["message"]
        async with api.app.state.sessions() as session, session.begin():  # the controller's part
            assert await mark_verified(session, 1, NOW, "healthy for 30 min")
        done = await post("/api/v1/workorders/wo-1/close", headers=operator)
        assert done.status_code == 200, done.text
        assert [(t["change"]) for t in done.json()["transitions"]] == [
            "registered", "dispatched", "comment", "repaired", "verified", "closed"]  # fmt: skip
        assert done.json()["closed_at"] is not None
        assert _ids(await get("/api/v1/workorders?state=open", headers=operator)) == ["wo-2"]

        # a site handed over: by id or exact name; refused for what the tree does not have
        city = "浔阳区城市管理局路灯管理所"  # XY-LDS, by its name
        handed = await post("/api/v1/sites/PP-S09/handover", headers=operator,
                            json={"to": city, "note": "end of contract"})  # fmt: skip
        assert handed.status_code == 201, handed.text
        assert (handed.json()["maintainer"], handed.json()["site"]) == ("XY-LDS", "PP-S09")
        nowhere = await post("/api/v1/sites/PP-S99/handover", headers=operator,
                             json={"to": "XY-LDS"})  # fmt: skip
        assert nowhere.status_code == 404
        nobody = await post("/api/v1/sites/PP-S09/handover", headers=operator,
                            json={"to": "Nobody Ltd"})  # fmt: skip
        assert (nobody.status_code, nobody.json()["field"]) == (422, "body.to")
        async with api.app.state.sessions() as session:
            order = await session.get(WorkOrderRow, 1)
            assert order is not None
            assert order.state == "closed"

        audit = await _audit(api)
        assert [(action, target) for _actor, action, target in audit] == [
            ("workorder.dispatched", "workorder:wo-1"), ("workorder.comment", "workorder:wo-1"),
            ("workorder.repaired", "workorder:wo-1"), ("workorder.closed", "workorder:wo-1"),
            ("site.handover", "site:PP-S09")]  # fmt: skip


async def test_a_maintainer_sees_and_touches_only_its_own_and_roles_are_refused_writes(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url(backend, tmp_path, request))
    await _stock(settings.db_url)
    async with running_api(settings) as api:
        get, post = api.http.get, api.http.post
        crew = await _as(api, Role.MAINTAINER, "WY-CJ")  # PP-S09's
        assert _ids(await get("/api/v1/alarms", headers=crew)) == ["al-3", "al-4"]
        assert _ids(await get("/api/v1/alarms?maintainer=XY-LDS", headers=crew)) == []
        assert _ids(await get("/api/v1/workorders", headers=crew)) == ["wo-2"]
        for method, path in (
            ("GET", "/api/v1/alarms/al-1"),
            ("POST", "/api/v1/alarms/al-1/ack"),
            ("POST", "/api/v1/alarms/al-5/close"),
            ("GET", "/api/v1/workorders/wo-1"),
            ("POST", "/api/v1/workorders/wo-1/repaired"),
        ):
            hidden = await api.http.request(method, path, headers=crew)
            assert hidden.status_code == 404, (method, path, hidden.text)
            assert hidden.json()["code"] == "not_found"  # as if it were not there at all
        hidden = await post("/api/v1/workorders/wo-1/dispatch", headers=crew, json={"to": "x"})
        assert hidden.status_code == 404
        hidden = await post("/api/v1/alarms/al-2/comment", headers=crew, json={"note": "x"})
        assert hidden.status_code == 404
        own = await post("/api/v1/alarms/al-4/ack", headers=crew)
        assert own.status_code == 200, own.text
        assert own.json()["alarm"]["children"] == []
        sent = await post("/api/v1/workorders/wo-2/dispatch", headers=crew, json={"to": "gate"})
        assert sent.status_code == 200, sent.text
        assert (await get("/api/v1/alarms/al-3", headers=crew)).json()["work_order"] == "wo-2"

        # the site handed over: its alarms are the new maintainer's; the order opened before
        # stays with the maintainer it was registered for
        async with api.app.state.sessions() as session, session.begin():
            await record_handover(session, "PP-S09", "XY-LDS", NOW - timedelta(minutes=1),
                                  by="test", note="")  # fmt: skip
        assert _ids(await get("/api/v1/alarms", headers=crew)) == []
        assert _ids(await get("/api/v1/workorders", headers=crew)) == ["wo-2"]
        city = await _as(api, Role.MAINTAINER, "XY-LDS")
        assert _ids(await get("/api/v1/alarms?roots=true", headers=city)) == [
            "al-1", "al-3", "al-4", "al-5"]  # fmt: skip
        assert _ids(await get("/api/v1/workorders", headers=city)) == ["wo-1", "wo-2"]

        writes = (
            ("/api/v1/alarms/al-1/ack", None), ("/api/v1/alarms/al-1/comment", {"note": "x"}),
            ("/api/v1/alarms/al-5/close", None),
            ("/api/v1/workorders/wo-1/dispatch", {"to": "x"}),
            ("/api/v1/workorders/wo-1/comment", {"note": "x"}),
            ("/api/v1/workorders/wo-1/repaired", None), ("/api/v1/workorders/wo-1/close", None),
            ("/api/v1/sites/PP-S04/handover", {"to": "WY-CJ"}),
        )  # fmt: skip
        viewer = await _as(api, Role.VIEWER)
        for path, body in writes:
            refused = await post(path, headers=viewer, json=body)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["code"] == "forbidden"
            assert (await post(path, json=body)).status_code == 401
        refused = await post("/api/v1/sites/PP-S04/handover", headers=city, json={"to": "WY-CJ"})
        assert refused.status_code == 403
        assert [(actor.split("-")[0], action) for actor, action, _target in await _audit(api)] == [
            ("maintainer", "alarm.ack"), ("maintainer", "workorder.dispatched")]  # fmt: skip


async def test_a_step_stands_in_the_store_when_the_bus_is_away(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
) -> None:
    settings = api_settings(service_state, topics, influx, store_url("sqlite", tmp_path, request))
    settings = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    await _stock(settings.db_url)
    async with running_api(settings) as api:
        operator = await _as(api, Role.OPERATOR)
        acked = await api.http.post("/api/v1/alarms/al-1/ack", headers=operator)
        assert acked.status_code == 200, acked.text
        body = acked.json()
        assert (body["alarm"]["state"], body["published"]) == ("acknowledged", False)
        assert "not connected" in body["bus_error"]
        async with api.app.state.sessions() as session:
            row = await session.get(AlarmRow, 1)
            assert row is not None
            assert row.state == "acknowledged"
        assert [action for _actor, action, _target in await _audit(api)] == ["alarm.ack"]
