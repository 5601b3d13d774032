"""The assets through the API: every kind listed, read, added, changed, deleted or retired;
filters and pages; an inventory imported whole or not at all, and exported as it came; roles,
on SQLite and PostgreSQL, through a real uvicorn and a real HTTP client."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.live import STATES, CabinetRef, LampRef, LiveState
from api.security import issue_token
from streetlight.contract import LampTelemetry, TelemetryBatch, Topics
from streetlight.domain import Inventory, LampStatus
from streetlight.influx import InfluxClient
from streetlight.inventory import dump_csv, dump_geojson
from streetlight.services import ServiceState
from streetlight.store.models import AlarmRow
from streetlight.store.users import Role, add_user
from tests.api_rig import BACKENDS, Api, api_settings, running_api, store_url, store_with
from tests.helpers import subset

V1 = "/api/v1"
SITES = ("PP-S01", "GT-S09")  # two subdistricts, two maintainers, two kinds of site
KINDS = ("districts", "subdistricts", "communities", "maintainers", "sites", "cabinets",
         "circuits", "lamps")  # fmt: skip


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def district() -> Inventory:
    return subset(SITES)


@asynccontextmanager
async def _api(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    inventory: Inventory | None,
) -> AsyncIterator[Api]:
    db_url = store_url(backend, tmp_path, request)
    await store_with(db_url, inventory)
    async with running_api(api_settings(service_state, topics, influx, db_url)) as api:
        yield api


async def _as(api: Api, role: Role, maintainer: str | None = None) -> dict[str, str]:
    """Headers of a fresh account of `role`, with a token as the API issues them (logging in,
    and its deliberately slow Argon2, is tests/test_api_auth.py's)."""
    async with api.app.state.sessions() as session, session.begin():
        account = await add_user(session, name=f"{role.value}-{uuid.uuid4().hex[:6]}", role=role,
                                 password_hash=None, maintainer_id=maintainer, by="test",
                                 at=datetime.now(UTC))  # fmt: skip
    token = issue_token(account, api.app.state.secret, 15, datetime.now(UTC))
    return {"Authorization": f"Bearer {token.value}"}


async def _all(api: Api, headers: dict[str, str], path: str, **query: Any) -> list[Any]:
    """Every item of a list, page after page."""
    items: list[Any] = []
    params: dict[str, Any] = dict(query)
    while True:
        response = await api.http.get(f"{V1}{path}", headers=headers, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next"] is None:
            return items
        params["cursor"] = page["next"]


def _lamps_of(inventory: Inventory, site: str) -> list[str]:
    return sorted(k for k in inventory.lamps if inventory.place(k).site_id == site)


async def test_every_kind_is_listed_filtered_read_added_changed_deleted_or_retired(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    district: Inventory,
) -> None:
    async with _api(backend, tmp_path, request, service_state, topics, influx, district) as api:
        await _lists_filter_and_page(api, district)
        await _every_kind_reads_and_changes(api, district)
        await _a_retired_lamp_keeps_its_history(api, district)


async def _lists_filter_and_page(api: Api, district: Inventory) -> None:
    viewer = await _as(api, Role.VIEWER)
    every = await _all(api, viewer, "/lamps", limit=7)  # 17 pages
    assert [lamp["id"] for lamp in every] == sorted(district.lamps)
    for site in SITES:
        lamps = await _all(api, viewer, "/lamps", site=site, limit=10)
        assert [lamp["id"] for lamp in lamps] == _lamps_of(district, site)
        assert {lamp["site"] for lamp in lamps} == {site}
    by_subdistrict = await _all(api, viewer, "/lamps", subdistrict="GT", limit=50)
    assert [lamp["id"] for lamp in by_subdistrict] == _lamps_of(district, "GT-S09")
    by_maintainer = await _all(api, viewer, "/lamps", maintainer="XY-LDS", limit=50)
    assert [lamp["id"] for lamp in by_maintainer] == _lamps_of(district, "PP-S01")
    profile = district.lamps[_lamps_of(district, "GT-S09")[0]].profile
    by_profile = await _all(api, viewer, "/lamps", profile=profile, site="GT-S09")
    assert by_profile
    assert [x["id"] for x in by_profile] == sorted(
        k for k in _lamps_of(district, "GT-S09") if district.lamps[k].profile == profile
    )
    cabinet = next(c for c in district.cabinets.values() if c.site_id == "PP-S01")
    on_cabinet = await _all(api, viewer, "/lamps", cabinet=cabinet.id)
    assert {x["cabinet"] for x in on_cabinet} == {cabinet.id}
    assert len(on_cabinet) == sum(len(district.lamps_on_circuit(c)) for c in cabinet.circuit_ids)
    assert await _all(api, viewer, "/lamps", status="planned") == []
    unknown = await _all(api, viewer, "/lamps", state="unknown", limit=40)
    assert len(unknown) == len(district.lamps)  # nothing reported yet
    assert await _all(api, viewer, "/lamps", state="lit") == []
    sites = await _all(api, viewer, "/sites", maintainer="WY-LS")
    assert [s["id"] for s in sites] == ["GT-S09"]
    assert [s["id"] for s in await _all(api, viewer, "/sites", category="back_street")] == [
        "PP-S01"]  # fmt: skip
    assert {c["site"] for c in await _all(api, viewer, "/cabinets", site="GT-S09")} == {
        "GT-S09"}  # fmt: skip
    circuits = await _all(api, viewer, "/circuits", cabinet=cabinet.id)
    assert [c["id"] for c in circuits] == list(cabinet.circuit_ids)
    assert [c["id"] for c in await _all(api, viewer, "/communities", subdistrict="GT")] == [
        district.sites["GT-S09"].community_id]  # fmt: skip
    assert [m["id"] for m in await _all(api, viewer, "/maintainers", kind="city_management")
            ] == ["XY-LDS"]  # fmt: skip

    for query, field in (("status=lost", "query.status"), ("cursor=nope", "query.cursor"),
                         ("site=a%20b", "query.site"), ("limit=0", "query.limit")):  # fmt: skip
        bad = await api.http.get(f"{V1}/lamps?{query}", headers=viewer)
        assert (bad.status_code, bad.json()["field"]) == (422, field), query


async def _every_kind_reads_and_changes(api: Api, district: Inventory) -> None:
    op = await _as(api, Role.OPERATOR)
    for kind in KINDS:  # every list, and each of its first item, reads back
        first = (await api.http.get(f"{V1}/{kind}", headers=op)).json()["items"][0]
        one = await api.http.get(f"{V1}/{kind}/{first['id']}", headers=op)
        assert one.json() == first, kind
        missing = await api.http.get(f"{V1}/{kind}/NOPE", headers=op)
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found"), kind
    tree = (await api.http.get(f"{V1}/assets/tree", headers=op)).json()
    assert [s["id"] for s in tree["district"]["subdistricts"]] == ["GT", "PP"]
    assert "lamps" not in tree["district"]
    counted = (await api.http.get(f"{V1}/assets/tree?counts=true", headers=op)).json()
    assert counted["district"]["lamps"] == {"planned": 0, "installed": len(district.lamps),
                                            "retired": 0}  # fmt: skip
    assert {m["id"] for m in counted["maintainers"]} == {"XY-LDS", "WY-LS"}

    lamp = district.lamps[_lamps_of(district, "PP-S01")[0]]
    new: dict[str, dict[str, Any]] = {
        "subdistricts": {"id": "JJP", "name": "金鸡坡街道", "district": district.district.id},
        "communities": {"id": "JJP-C9", "name": "新社区", "subdistrict": "JJP"},
        "maintainers": {"id": "WY-NEW", "name": "新物业", "kind": "property_company"},
        "sites": {"id": "JJP-S99", "name": "新巷", "community": "JJP-C9",
                  "category": "back_street", "road_class": "branch", "maintainer": "WY-NEW"},
        "cabinets": {"id": "JJP-S99-K1", "name": "1号柜", "site": "JJP-S99", "lat": 29.71,
                     "lon": 116.0, "profile": "cabinet-modbus-a",
                     "circuits": ["JJP-S99-K1-C1"]},
        "circuits": {"id": "JJP-S99-K1-C2", "cabinet": "JJP-S99-K1"},
        "lamps": {"id": "JJP-S99-L001", "circuit": "JJP-S99-K1-C2", "lat": 29.711,
                  "lon": 116.001, "rated_power_w": 60, "phase": "B", "profile": lamp.profile,
                  "device_address": "IMEI-869975030000001", "status": "planned"},
    }  # fmt: skip
    for kind, body in new.items():
        created = await api.http.post(f"{V1}/{kind}", headers=op, json=body)
        assert created.status_code == 201, (kind, created.text)
    assert created.json()["site"] == "JJP-S99"
    assert created.json()["state"] == "planned"  # the live state followed at once
    assert (await api.http.get(f"{V1}/circuits/JJP-S99-K1-C2", headers=op)).json()["number"] == 2
    cabinet = (await api.http.get(f"{V1}/cabinets/JJP-S99-K1", headers=op)).json()
    assert cabinet["circuits"] == ["JJP-S99-K1-C1", "JJP-S99-K1-C2"]
    state = await api.http.get(f"{V1}/lamps/JJP-S99-L001/state", headers=op)
    assert state.json()["state"] == "planned"

    changes: dict[str, dict[str, Any]] = {
        "districts/" + district.district.id: {"name": "浔阳区 (新)"},
        "subdistricts/JJP": {"name": "金鸡坡"},
        "communities/JJP-C9": {"subdistrict": "PP"},
        "maintainers/WY-NEW": {"kind": "city_management"},
        "sites/JJP-S99": {"road_class": "main", "maintainer": "XY-LDS"},
        "cabinets/JJP-S99-K1": {"nominal_voltage_v": 230, "device_address": None},
        "lamps/JJP-S99-L001": {"status": "installed", "installed_on": "2026-11-30",
                               "circuit": "JJP-S99-K1-C1"},
    }  # fmt: skip
    for path, body in changes.items():
        changed = await api.http.patch(f"{V1}/{path}", headers=op, json=body)
        assert changed.status_code == 200, (path, changed.text)
        assert changed.json() | body == changed.json(), path
    assert changed.json()["state"] == "unknown"  # installed: no report yet

    held = await api.http.delete(f"{V1}/sites/JJP-S99", headers=op)
    assert held.status_code == 409
    assert "1 cabinets under it" in held.json()["message"]
    deleted = await api.http.delete(f"{V1}/circuits/JJP-S99-K1-C2", headers=op)
    assert deleted.status_code == 200, deleted.text
    retired = await api.http.delete(f"{V1}/lamps/JJP-S99-L001", headers=op)
    assert retired.json()["status"] == "retired"
    kept = await api.http.delete(f"{V1}/cabinets/JJP-S99-K1", headers=op)
    assert kept.status_code == 409
    assert "1 lamps on its circuits (retired ones too)" in kept.json()["message"]
    for path in ("maintainers/WY-NEW", "communities/JJP-C9", "subdistricts/JJP"):
        gone = await api.http.delete(f"{V1}/{path}", headers=op)
        assert gone.status_code == (200 if path != "communities/JJP-C9" else 409), path

    admin = await _as(api, Role.ADMIN)
    audit = await _all(api, admin, "/audit")
    actions = [(row["action"], row["target"]) for row in audit]
    assert actions[:7] == [(f"{k}.create", f"{k}:{b['id']}") for k, b in
                           zip(("subdistrict", "community", "maintainer", "site", "cabinet",
                                "circuit", "lamp"), new.values(), strict=True)]  # fmt: skip
    assert ("lamp.retire", "lamp:JJP-S99-L001") in actions
    assert ("maintainer.delete", "maintainer:WY-NEW") in actions
    update = next(row for row in audit if row["action"] == "site.update")
    assert (update["before"]["road_class"], update["after"]["road_class"]) == ("branch", "main")


async def _a_retired_lamp_keeps_its_history(api: Api, district: Inventory) -> None:
    lamp_id = _lamps_of(district, "PP-S01")[0]
    circuit = district.lamps[lamp_id].circuit_id
    async with api.app.state.sessions() as session, session.begin():
        session.add(AlarmRow(id=1, type="lamp_failure", asset_kind="lamp", asset_id=lamp_id,
                             severity="ordinary", state="raised", site_id="PP-S01",
                             raised_at=datetime.now(UTC), detail="dark"))  # fmt: skip
    op = await _as(api, Role.OPERATOR)
    retired = await api.http.post(f"{V1}/lamps/{lamp_id}/retire", headers=op)
    assert retired.status_code == 200, retired.text
    assert (retired.json()["status"], retired.json()["state"]) == ("retired", None)
    again = await api.http.delete(f"{V1}/lamps/{lamp_id}", headers=op)
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    kept = (await api.http.get(f"{V1}/lamps/{lamp_id}", headers=op)).json()
    assert (kept["status"], kept["circuit"]) == ("retired", circuit)
    assert lamp_id in [x["id"] for x in await _all(api, op, "/lamps", status="retired")]
    assert (await api.http.get(f"{V1}/lamps/{lamp_id}/state", headers=op)).status_code == 404
    async with api.app.state.sessions() as session:
        assert await session.get(AlarmRow, 1) is not None
    site = await api.http.delete(f"{V1}/sites/PP-S01", headers=op)
    assert site.status_code == 409
    assert "1 alarms at it" in site.json()["message"]
    counted = (await api.http.get(f"{V1}/assets/tree?counts=true", headers=op)).json()
    assert counted["district"]["lamps"]["retired"] == 2  # with the one retired above
    back = await api.http.patch(f"{V1}/lamps/{lamp_id}", headers=op,
                                json={"status": "installed"})  # fmt: skip
    assert back.json()["state"] == "unknown"  # an operator's mistake, undone


def _csv_with_bad_rows(inventory: Inventory) -> tuple[str, dict[tuple[str, str], str]]:
    """The inventory as CSV with several bad rows; what each bad row must be blamed for."""
    rows = list(csv.DictReader(io.StringIO(dump_csv(inventory))))
    lamps = [i for i, row in enumerate(rows) if row["kind"] == "lamp"]
    cabinet = max(i for i, row in enumerate(rows) if row["kind"] == "cabinet")  # not theirs
    rows[lamps[0]]["rated_power_w"] = "0"
    rows[lamps[0]]["phase"] = "D"
    rows[lamps[5]]["circuit"] = "NO-SUCH-CIRCUIT"
    rows[lamps[9]]["profile"] = "no-such-profile"
    rows[lamps[12]]["id"] = "has space"
    rows[cabinet]["circuits"] = ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    blamed = {
        (f"row {lamps[0] + 2}", "rated_power_w"): "greater than or equal to 1",
        (f"row {lamps[0] + 2}", "phase"): "'A', 'B' or 'C'",
        (f"row {lamps[5] + 2}", "circuit"): "'NO-SUCH-CIRCUIT' is not in cabinet",
        (f"row {lamps[9] + 2}", "profile"): "'no-such-profile' does not exist",
        (f"row {lamps[12] + 2}", "id"): "should match pattern",
        (f"row {cabinet + 2}", "circuits"): "circuits",
    }
    return out.getvalue(), blamed


async def test_an_import_is_all_or_nothing_and_its_export_gives_the_file_back(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    district: Inventory,
) -> None:
    async with _api(backend, tmp_path, request, service_state, topics, influx, None) as api:
        await _bad_rows_are_every_one_answered_and_nothing_saved(api, district)
        await _an_import_then_its_export_give_the_file_back(api, district)


async def _bad_rows_are_every_one_answered_and_nothing_saved(api: Api, district: Inventory) -> None:
    op = await _as(api, Role.OPERATOR)
    text, blamed = _csv_with_bad_rows(district)
    refused = await api.http.post(f"{V1}/assets/import", headers=op,
                                  files={"file": ("plan.csv", text, "text/csv")})  # fmt: skip
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert (body["code"], body["source"]) == ("invalid_inventory", "plan.csv")
    found = {(p["where"], p["field"]): p["message"] for p in body["problems"]}
    assert set(found) == set(blamed)
    for key, reason in blamed.items():
        assert reason in found[key], (key, found[key])
    assert all(p["id"] for p in body["problems"] if p["field"] != "circuit")
    assert "nothing was saved" in body["message"]
    assert (await api.http.get(f"{V1}/lamps", headers=op)).json()["items"] == []
    tree = (await api.http.get(f"{V1}/assets/tree", headers=op)).json()
    assert tree == {"district": None, "maintainers": []}
    assert (await api.http.get(f"{V1}/assets/export", headers=op)).status_code == 404

    not_json = await api.http.post(f"{V1}/assets/import", headers={
        **op, "Content-Type": "application/geo+json"}, content=b"{nope")  # fmt: skip
    assert not_json.status_code == 422
    assert not_json.json()["problems"][0]["where"] == "file"
    unsaid = await api.http.post(f"{V1}/assets/import", headers={
        **op, "Content-Type": "application/octet-stream"}, content=b"x")  # fmt: skip
    assert (unsaid.status_code, unsaid.json()["field"]) == (422, "query.format")
    admin = await _as(api, Role.ADMIN)
    assert await _all(api, admin, "/audit") == []


async def _an_import_then_its_export_give_the_file_back(api: Api, district: Inventory) -> None:
    planned = _lamps_of(district, "GT-S09")[:3]
    status = dict.fromkeys(planned, LampStatus.PLANNED)
    document = dump_geojson(district, status)
    op = await _as(api, Role.OPERATOR)
    geo = {**op, "Content-Type": "application/geo+json"}
    dry = await api.http.post(f"{V1}/assets/import?dry_run=true", headers=geo,
                              content=json.dumps(document))  # fmt: skip
    assert dry.status_code == 200, dry.text
    assert dry.json()["added"]["lamps"] == len(district.lamps)
    assert (await api.http.get(f"{V1}/lamps", headers=op)).json()["items"] == []

    imported = await api.http.post(f"{V1}/assets/import", headers=geo,
                                   content=json.dumps(document))  # fmt: skip
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert report["added"]["lamps"] == len(district.lamps)
    assert report["added"]["cabinets"] == len(district.cabinets)
    assert report["dry_run"] is False

    exported = await api.http.get(f"{V1}/assets/export", headers=op)
    assert exported.headers["content-type"] == "application/geo+json"
    again = exported.json()

    def by_id(doc: dict[str, Any]) -> list[Any]:
        return sorted(doc["features"], key=lambda f: f["properties"]["id"])

    assert again["district"] == document["district"]
    assert by_id(again) == by_id(document)
    as_csv = await api.http.get(f"{V1}/assets/export?format=csv", headers=op)
    assert as_csv.headers["content-type"].startswith("text/csv")

    def rows(text: str) -> list[dict[str, str]]:
        return sorted(csv.DictReader(io.StringIO(text)), key=lambda r: r["id"])

    assert rows(as_csv.text) == rows(dump_csv(district, status))

    # the live state knows them: planned lamps as planned, the others not yet heard
    states = (await api.http.get(f"{V1}/district/state", headers=op)).json()
    assert len(states["lamps"]["id"]) == len(district.lamps)
    planned_code = states["states"].index("planned")
    assert sorted(k for k, s in zip(states["lamps"]["id"], states["lamps"]["state"],
                                    strict=True) if s == planned_code) == planned  # fmt: skip

    # another district's file does not fit the store
    other = {**document, "district": {**document["district"], "id": "OTHER"}}
    refused = await api.http.post(f"{V1}/assets/import", headers=geo, content=json.dumps(other))
    assert refused.status_code == 422
    assert [(p["field"], p["where"]) for p in refused.json()["problems"]] == [("district", "file")]

    # the export imported again (as a multipart CSV) changes nothing
    twice = await api.http.post(f"{V1}/assets/import", headers=op,
                                files={"file": ("x.csv", as_csv.text, "text/csv")})  # fmt: skip
    assert twice.status_code == 200, twice.text
    assert sum(twice.json()["added"].values()) + sum(twice.json()["updated"].values()) == 0
    admin = await _as(api, Role.ADMIN)
    imports = [r for r in await _all(api, admin, "/audit") if r["action"] == "assets.import"]
    assert [r["target"] for r in imports] == ["inventory:upload", "inventory:x.csv"]


async def test_each_role_is_refused_what_it_may_not_change_and_bad_input_names_its_field(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    district: Inventory,
) -> None:
    async with _api("sqlite", tmp_path, request, service_state, topics, influx, district) as api:
        lamp_id = _lamps_of(district, "PP-S01")[0]
        writes: list[tuple[str, str, dict[str, str] | None]] = [
            ("POST", f"/{kind}", {}) for kind in KINDS
        ]
        writes += [("PATCH", f"/{kind}/X", {"name": "x"}) for kind in KINDS if kind != "circuits"]
        writes += [("DELETE", f"/{kind}/X", None) for kind in KINDS]
        writes += [("POST", f"/lamps/{lamp_id}/retire", None),
                   ("POST", "/assets/import", {})]  # fmt: skip
        for role, maintainer in ((Role.VIEWER, None), (Role.MAINTAINER, "XY-LDS")):
            headers = await _as(api, role, maintainer)
            assert (await api.http.get(f"{V1}/lamps/{lamp_id}", headers=headers)).status_code == 200
            for method, path, body in writes:
                refused = await api.http.request(method, f"{V1}{path}", headers=headers, json=body)
                assert refused.status_code == 403, (role, method, path, refused.text)
        assert (await api.http.get(f"{V1}/lamps")).status_code == 401

        op = await _as(api, Role.OPERATOR)
        lamp = (await api.http.get(f"{V1}/lamps/{lamp_id}", headers=op)).json()
        good = {k: lamp[k] for k in ("circuit", "lat", "lon", "rated_power_w", "phase", "profile")}
        site = {"id": "S-X", "name": "x", "community": "PP-C2", "category": "back_street",
                "road_class": "main", "maintainer": "XY-LDS"}  # fmt: skip
        cases: list[tuple[str, str, dict[str, Any], int, str]] = [
            ("POST", "/sites", {**site, "id": "bad id"}, 422, "body.id"),
            ("POST", "/sites", {**site, "community": "NOPE"}, 422, "body.community"),
            ("POST", "/sites", {**site, "maintainer": "NOPE"}, 422, "body.maintainer"),
            ("POST", "/sites", {**site, "category": "castle"}, 422, "body.category"),
            ("POST", "/sites", {**site, "colour": "red"}, 422, "body.colour"),
            ("POST", "/sites", {**site, "id": "PP-S01"}, 409, "body.id"),
            ("POST", "/districts", {"id": "D2", "name": "x", "timezone": "Asia/Shanghai"}, 409,
             "body.id"),
            ("PATCH", f"/districts/{district.district.id}", {"timezone": "Mars/Olympus"}, 422,
             "body.timezone"),
            ("POST", "/lamps", {**good, "id": "L-X", "rated_power_w": 0}, 422,
             "body.rated_power_w"),
            ("POST", "/lamps", {**good, "id": "L-X", "circuit": "NOPE"}, 422, "body.circuit"),
            ("POST", "/lamps", {**good, "id": "L-X", "profile": "cabinet-modbus-a"}, 422,
             "body.profile"),
            ("POST", "/lamps", {**good, "id": "L-X", "lat": 91}, 422, "body.lat"),
            ("POST", "/circuits", {"id": "C-X", "cabinet": "PP-S01-K1", "number": 1}, 409,
             "body.number"),
            ("PATCH", f"/lamps/{lamp_id}", {"rated_power_w": None}, 422, "body.rated_power_w"),
            ("PATCH", f"/lamps/{lamp_id}", {"id": "L-Y"}, 422, "body.id"),
            ("PATCH", "/lamps/bad%20id", {"project": "x"}, 422, "path.lamp_id"),
        ]  # fmt: skip
        for method, path, body, status, field in cases:
            answer = await api.http.request(method, f"{V1}{path}", headers=op, json=body)
            assert (answer.status_code, answer.json().get("field")) == (status, field), (
                path, body, answer.text)  # fmt: skip
        await api.http.patch(f"{V1}/lamps/{lamp_id}", headers=op,
                             json={"device_address": "IMEI-1"})  # fmt: skip
        taken = await api.http.post(
            f"{V1}/cabinets",
            headers=op,
            json={
                "id": "K-X",
                "name": "x",
                "site": "PP-S01",
                "lat": 29.7,
                "lon": 116.0,
                "profile": "cabinet-modbus-a",
                "circuits": ["K-X-C1"],
                "device_address": "imei-1",
            },
        )
        assert (taken.status_code, taken.json()["field"]) == (409, "body.device_address")
        for method, path in (("PATCH", "/sites/NOPE"), ("DELETE", "/sites/NOPE"),
                             ("POST", "/lamps/NOPE/retire")):  # fmt: skip
            answer = await api.http.request(method, f"{V1}{path}", headers=op, json={"name": "x"})
            assert answer.status_code == 404, (method, path, answer.text)


def test_the_live_state_keeps_what_the_bus_said_when_the_assets_change() -> None:
    """reassign keeps the readings of lamps that stay, forgets those that went, takes the
    new ones in, tells listeners which states changed, and says when a map must refetch."""
    cabinet = CabinetRef("K1", "S1", 29.7, 116.0)

    def lamp(ident: str, *, planned: bool = False) -> LampRef:
        return LampRef(ident, "S1", "K1-C1", "K1", "A", 29.7, 116.0, 60.0, planned=planned)

    live = LiveState([lamp("L1"), lamp("L2"), lamp("L3", planned=True)], [cabinet], stale_s=900)
    told: list[list[str]] = []
    live.listeners.append(lambda rows, _cabinets: told.append([live.lamps[i].id for i in rows]))
    now = datetime(2026, 12, 21, 12, tzinfo=UTC)
    reading = LampTelemetry(lamp="L2", ts=now, relay_on=True, dim_pct=100, power_w=59.0)
    live.telemetry(TelemetryBatch(source="gw", lamps=[reading]), now.timestamp())
    told.clear()

    moved = live.reassign([lamp("L2"), lamp("L3"), lamp("L4")], [cabinet], now.timestamp())

    assert moved  # L1 went, L4 came: a map refetches
    assert [x.id for x in live.lamps] == ["L2", "L3", "L4"]
    assert (live.power[live.row["L2"]], STATES[live.state[live.row["L2"]]]) == (59.0, "lit")
    assert STATES[live.state[live.row["L3"]]] == "unknown"  # installed now, not heard yet
    assert told == [["L3", "L4"]]
    assert live.site_of("lamp:L1") is None
    assert not live.reassign(list(live.lamps), [cabinet], now.timestamp())
