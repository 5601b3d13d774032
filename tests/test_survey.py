"""The survey: roads without lamps found exactly (the sample's deliberate gaps, and hand-made
roads: no lamp, a lamp just inside or just outside the distance, a curve), and the counts of
lamps planned, installed, registered and reporting against a real store and a real influxd;
the CLI as an operator runs it; the API's survey and projects on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pyproj import Geod, Transformer

from api.security import issue_token
from streetlight.contract import Topics
from streetlight.domain import (
    DarkRoadRule,
    GeoPoint,
    Inventory,
    KpiScope,
    LampStatus,
    Project,
    Road,
    RoadClass,
)
from streetlight.influx import InfluxClient, to_ns
from streetlight.inventory import InventoryFile, load_inventory, load_inventory_file
from streetlight.services import ServiceState
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.users import Role, add_user
from streetlight.survey import count_survey, find_gaps, gap_report
from tests.api_rig import BACKENDS, Api, api_settings, running_api, store_url
from tests.conftest import ROOT, SAMPLE_INVENTORY
from tests.helpers import subset
from tests.test_cli import run

GEOD = Geod(ellps="WGS84")
TRUTH = ROOT / "examples" / "xunyang" / "dark-roads.geojson"
RULE = DarkRoadRule()
PATH_D = RULE.distance_m(RoadClass.RESIDENTIAL_PATH)  # 1.5 x 25 m = 37.5 m
ORIGIN = (29.73, 115.99)
# a local plane in metres to lay hand-made roads out in (the finder uses its own)
_TO_WGS84 = Transformer.from_crs(
    f"+proj=aeqd +lat_0={ORIGIN[0]} +lon_0={ORIGIN[1]} +datum=WGS84 +units=m", "EPSG:4326",
    always_xy=True,
)  # fmt: skip
V1 = "/api/v1"


def _at(x: float, y: float) -> GeoPoint:
    lon, lat = _TO_WGS84.transform(x, y)
    return GeoPoint(lat=lat, lon=lon)


def _road(*points: tuple[float, float], road_class: RoadClass = RoadClass.RESIDENTIAL_PATH
          ) -> Road:  # fmt: skip
    return Road("R1", "test road", "S1", road_class, tuple(_at(x, y) for x, y in points))


def _metres(a: GeoPoint, b: GeoPoint) -> float:
    return float(GEOD.inv(a.lon, a.lat, b.lon, b.lat)[2])


# --- roads without lamps ----------------------------------------------------------------


def test_the_sample_s_dark_stretches_are_exactly_the_generator_s() -> None:
    report = gap_report(load_inventory(SAMPLE_INVENTORY), RULE)
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["features"]
    assert len(truth) == 5
    assert sorted(s.road for s in report.stretches) == sorted(
        f["properties"]["road"] for f in truth
    )
    found = {s.road: s for s in report.stretches}
    for feature in truth:
        stretch = found[feature["properties"]["road"]]
        line = [GeoPoint(lat=lat, lon=lon) for lon, lat in feature["geometry"]["coordinates"]]
        assert stretch.site == feature["properties"]["site"]
        assert stretch.distance_m == feature["properties"]["distance_m"]
        assert abs(stretch.length_m - feature["properties"]["length_m"]) < 1.0
        assert _metres(stretch.line[0], line[0]) < 1.0, stretch.road
        assert _metres(stretch.line[-1], line[-1]) < 1.0, stretch.road
    # per site: the roads, their length, and the dark part
    dark_sites = [s for s in report.sites if s.stretches]
    assert sorted(s.site for s in dark_sites) == sorted(f["properties"]["site"] for f in truth)
    assert len(report.sites) == 45
    assert all(0 < s.dark_length_m < s.road_length_m for s in dark_sites)
    assert "+proj=aeqd" in report.projection


def test_a_road_without_lamps_is_dark_end_to_end() -> None:
    road = _road((0, 0), (120, 0), (120, 80))
    [stretch] = find_gaps([road], [_at(500, 500)], RULE)
    assert stretch.length_m == pytest.approx(200, abs=0.05)
    assert _metres(stretch.line[0], road.line[0]) < 0.05
    assert _metres(stretch.line[-1], road.line[-1]) < 0.05
    assert find_gaps([road], [], RULE)[0].length_m == pytest.approx(200, abs=0.05)


@pytest.mark.parametrize(("offset", "pieces"), [(PATH_D - 0.5, 2), (PATH_D + 0.5, 1)])
def test_a_lamp_just_inside_or_just_outside_the_distance(offset: float, pieces: int) -> None:
    """A straight 200 m road with a lamp beside its middle: just inside the distance it lights
    a chord of the road; just outside, the road stays dark whole."""
    road = _road((0, 0), (200, 0))
    stretches = find_gaps([road], [_at(100, offset)], RULE)
    assert len(stretches) == pieces
    lit = 2 * math.sqrt(PATH_D**2 - offset**2) if offset < PATH_D else 0.0
    assert sum(s.length_m for s in stretches) == pytest.approx(200 - lit, abs=0.05)
    if pieces == 2:
        assert stretches[0].line[-1].lon < stretches[1].line[0].lon  # in order along the road


def test_lamps_at_both_ends_leave_the_middle_dark() -> None:
    road = _road((0, 0), (150, 0))
    [stretch] = find_gaps([road], [_at(0, 0), _at(150, 0)], RULE)
    assert stretch.length_m == pytest.approx(150 - 2 * PATH_D, abs=0.05)
    assert _metres(stretch.line[0], _at(PATH_D, 0)) < 0.05
    # the same road as a main road: its poles stand 40 m apart, so 60 m is dark
    main = dataclasses.replace(road, road_class=RoadClass.MAIN)
    [stretch] = find_gaps([main], [_at(0, 0), _at(150, 0)], RULE)
    assert stretch.length_m == pytest.approx(150 - 2 * 60, abs=0.05)


def test_a_curve_is_dark_from_where_the_lamp_s_circle_crosses_it() -> None:
    """A quarter circle of radius 100 m with a lamp at its start: the dark begins where the
    chord from the lamp is the distance, not where the arc is."""
    radius = 100.0
    arc = [(radius * math.sin(math.radians(a)), radius - radius * math.cos(math.radians(a)))
           for a in range(91)]  # fmt: skip
    road = _road(*arc)
    [stretch] = find_gaps([road], [_at(0, 0)], RULE)
    lit_arc = 2 * radius * math.asin(PATH_D / (2 * radius))
    assert stretch.length_m == pytest.approx(math.pi * radius / 2 - lit_arc, abs=0.1)
    assert _metres(stretch.line[0], _at(0, 0)) == pytest.approx(PATH_D, abs=0.05)
    assert len(stretch.line) > 40  # it follows the curve


def test_the_pole_spacing_is_configured_by_road_class() -> None:
    rule = DarkRoadRule.with_overrides({"residential_path": 10}, factor=2)
    assert rule.distance_m(RoadClass.RESIDENTIAL_PATH) == 20
    assert rule.distance_m(RoadClass.MAIN) == 80  # 2 x 40 m
    with pytest.raises(ValueError, match="unknown road class 'avenue'"):
        DarkRoadRule.with_overrides({"avenue": 30})


# --- counts -------------------------------------------------------------------------------

SITES = ("PP-S02", "GT-S09")


def _plan() -> InventoryFile:
    """Two sites of the sample: PP-S02 with 3 lamps planned, one retired, one whose profile the
    system does not know (installed, not registered); both sites in projects."""
    inventory = subset(SITES)
    unknown = dataclasses.replace(inventory.lamps["PP-S02-L005"], profile="gone-profile")
    projects = {
        "P1": Project("P1", "一期", ("PP-S02",), survey_start=date(2025, 11, 3),
                      implementation_start=date(2026, 3, 1), acceptance_start=date(2026, 12, 14)),
        "P2": Project("P2", "二期", ("GT-S09",), survey_start=date(2026, 1, 5)),
    }  # fmt: skip
    inventory = dataclasses.replace(inventory, lamps={**inventory.lamps, unknown.id: unknown},
                                    projects=projects)  # fmt: skip
    status = {f"PP-S02-L00{n}": LampStatus.PLANNED for n in (1, 2, 3)}
    status["PP-S02-L004"] = LampStatus.RETIRED
    return InventoryFile(inventory, status)


NOW = datetime(2026, 12, 21, 12, 0, tzinfo=UTC)
# lamps with a report within the window, and one whose last report is older
REPORTING = ("PP-S02-L001", "PP-S02-L005", "PP-S02-L006", "PP-S02-L007", "GT-S09-L001")
SILENT = "PP-S02-L008"


async def _reports(influx: InfluxClient) -> None:
    lines = [f"lamp,lamp={lamp},site={lamp[:6]} dim_pct=100i,relay_on=true "
             f"{to_ns(NOW - timedelta(seconds=60))}" for lamp in REPORTING]  # fmt: skip
    lines.append(f"lamp,lamp={SILENT},site=PP-S02 dim_pct=100i {to_ns(NOW - timedelta(hours=1))}")
    await influx.write_lines(lines)


async def _store(db_url: str, plan: InventoryFile) -> None:
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, plan.inventory, "test", status=plan.status)
    finally:
        await engine.dispose()


def _expected(inventory: Inventory) -> dict[str, tuple[int, int, int, int]]:
    pp = sum(1 for lamp in inventory.lamps if lamp.startswith("PP-S02"))
    gt = sum(1 for lamp in inventory.lamps if lamp.startswith("GT-S09"))
    # PP-S02: 1 retired (not planned), 3 planned (not installed), 1 unknown profile;
    # reporting: L006 and L007 (L001 is planned, L005 not registered, L008 silent)
    return {"PP-S02": (pp - 1, pp - 4, pp - 5, 2), "GT-S09": (gt, gt, gt, 1)}


async def test_counts_from_the_store_and_influxdb(tmp_path: Path, influx: InfluxClient) -> None:
    plan = _plan()
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    await _store(db_url, plan)
    await _reports(influx)
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session:
            rows = await count_survey(session, influx, scope=KpiScope.SITE, at=NOW,
                                      reporting_s=180, profiles_dir=ROOT / "profiles")  # fmt: skip
            counts = {r.id: (r.planned, r.installed, r.registered, r.reporting) for r in rows}
            assert counts == _expected(plan.inventory)
            site = {r.id: r for r in rows}
            assert (site["PP-S02"].project, site["PP-S02"].phase) == ("P1", "acceptance")
            assert (site["GT-S09"].project, site["GT-S09"].phase) == ("P2", "survey")
            # a longer window hears the silent lamp too; a subdistrict adds its sites up
            rows = await count_survey(session, influx, scope=KpiScope.SUBDISTRICT, at=NOW,
                                      reporting_s=7200, profiles_dir=ROOT / "profiles")  # fmt: skip
            pp = next(r for r in rows if r.id == "PP")
            assert (pp.planned, pp.reporting) == (_expected(plan.inventory)["PP-S02"][0], 3)
            assert {r.id for r in rows} == {"PP", "GT"}
            # a survey file counted against the store: its lamps the store lacks are not
            # registered, however the file has them
            extra = dataclasses.replace(plan.inventory.lamps["PP-S02-L009"], id="PP-S02-L900")
            lamps = {**plan.inventory.lamps, extra.id: extra}
            file = InventoryFile(dataclasses.replace(plan.inventory, lamps=lamps), plan.status)
            rows = await count_survey(session, influx, scope=KpiScope.SITE, at=NOW,
                                      reporting_s=180, profiles_dir=ROOT / "profiles",
                                      plan=file)  # fmt: skip
            pp_row = next(r for r in rows if r.id == "PP-S02")
            want = _expected(plan.inventory)["PP-S02"]
            assert (pp_row.planned, pp_row.installed, pp_row.registered) == (
                want[0] + 1,
                want[1] + 1,
                want[2],
            )
    finally:
        await engine.dispose()


# --- the command --------------------------------------------------------------------------


def test_survey_gaps_command(tmp_path: Path) -> None:
    out = tmp_path / "dark.geojson"
    result = run("survey", "gaps", "--inventory", str(SAMPLE_INVENTORY), "--geojson", str(out))
    assert result.returncode == 0, result.stderr
    assert "5 dark stretches" in result.stdout
    assert "PP-S02   庾亮巷" in result.stdout
    written = json.loads(out.read_text(encoding="utf-8"))
    assert len(written["features"]) == 5
    assert {f["geometry"]["type"] for f in written["features"]} == {"LineString"}
    assert {"road", "site", "length_m"} <= set(written["features"][0]["properties"])
    result = run("survey", "gaps", "--csv", "--inventory", str(SAMPLE_INVENTORY))
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 45
    assert sum(float(r["dark_length_m"]) for r in rows) == pytest.approx(446, abs=2)
    # from a store without an inventory: one line saying how to load one
    empty = {"STREETLIGHT_DB_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    result = run("survey", "gaps", env=empty)
    assert result.returncode == 2
    assert "holds no inventory" in result.stderr
    assert "--inventory PATH" in result.stderr


async def test_survey_counts_command(
    tmp_path: Path, influx: InfluxClient, service_state: ServiceState
) -> None:
    plan = _plan()
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    await _store(db_url, plan)
    await _reports(influx)
    env = {"STREETLIGHT_DB_URL": db_url, "STREETLIGHT_INFLUX_URL": service_state.influx_url,
           "STREETLIGHT_INFLUX_DB": influx.database}  # fmt: skip
    result = run("survey", "counts", "--csv", "--at", NOW.isoformat(), env=env)
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    got = {k: tuple(int(r[c]) for c in ("planned", "installed", "registered", "reporting"))
           for k, r in rows.items()}  # fmt: skip
    assert got == _expected(plan.inventory)
    assert rows["PP-S02"]["project"] == "P1"
    result = run("survey", "counts", "--scope", "district", "--at", NOW.isoformat(), env=env)
    assert result.returncode == 0, result.stderr
    assert "survey at 2026-12-21T12:00:00+00:00" in result.stdout
    assert result.stdout.splitlines()[-1].split()[0] == "total"


# --- the API ------------------------------------------------------------------------------


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
    """The two sites of `_plan`, with the sample's roads on them (PP-S02's ends in the dark)."""
    plan = _plan()
    sample = load_inventory_file(SAMPLE_INVENTORY).inventory
    roads = {k: r for k, r in sample.roads.items() if r.site_id in SITES}
    plan = InventoryFile(dataclasses.replace(plan.inventory, roads=roads), plan.status)
    db_url = store_url(backend, tmp_path, request)
    await _store(db_url, plan)
    await _reports(influx)
    async with running_api(api_settings(service_state, topics, influx, db_url)) as running:
        yield running


async def _as(api: Api, role: Role) -> dict[str, str]:
    async with api.app.state.sessions() as session, session.begin():
        account = await add_user(session, name=f"{role.value}-{uuid.uuid4().hex[:6]}", role=role,
                                 password_hash=None, maintainer_id=None, by="test",
                                 at=datetime.now(UTC))  # fmt: skip
    token = issue_token(account, api.app.state.secret, 15, datetime.now(UTC))
    return {"Authorization": f"Bearer {token.value}"}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _refused(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body.get("field") == field, body
    return body


async def test_survey_through_the_api(api: Api) -> None:
    http, viewer = api.http, await _as(api, Role.VIEWER)
    at = {"at": NOW.isoformat()}
    body = _ok(await http.get(f"{V1}/survey", headers=viewer, params=at))
    assert body["scope"] == "site"
    assert body["reporting_s"] == 180
    counts = {r["id"]: (r["planned"], r["installed"], r["registered"], r["reporting"])
              for r in body["rows"]}  # fmt: skip
    assert counts == _expected(_plan().inventory)
    response = await http.get(f"{V1}/survey", headers=viewer,
                              params={**at, "scope": "community", "format": "csv"})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["scope"] for r in rows} == {"community"}
    _refused(await http.get(f"{V1}/survey", headers=viewer, params={"scope": "lamp"}), 422,
             "query.scope")  # fmt: skip
    _refused(await http.get(f"{V1}/survey", params=at), 401)

    response = await http.get(f"{V1}/survey/gaps", headers=viewer)
    assert response.headers["content-type"] == "application/geo+json"
    features = response.json()["features"]
    # the sample's stretch past the last pole, and the road's start: L001-L004 are planned or
    # retired, and only installed lamps light a road
    assert [f["properties"]["road"] for f in features] == ["PP-S02-R1", "PP-S02-R1"]
    lengths = [f["properties"]["length_m"] for f in features]
    assert any(abs(length - 84.34) < 1 for length in lengths), lengths
    start = features[0]["geometry"]["coordinates"][0]
    first = _plan().inventory.lamps["PP-S02-L001"].location
    assert _metres(GeoPoint(lat=start[1], lon=start[0]), first) < 1
    only = _ok(await http.get(f"{V1}/survey/gaps", headers=viewer, params={"site": "GT-S09"}))
    assert only["features"] == []
    sites = _ok(await http.get(f"{V1}/survey/gaps/sites", headers=viewer))["sites"]
    assert [(s["site"], s["stretches"]) for s in sites] == [("GT-S09", 0), ("PP-S02", 2)]
    response = await http.get(f"{V1}/survey/gaps/sites", headers=viewer, params={"format": "csv"})
    assert response.text.splitlines()[0].startswith("site,name,community,subdistrict,roads")
    roads = _ok(await http.get(f"{V1}/roads", headers=viewer))["features"]  # the map's base
    sample = load_inventory_file(SAMPLE_INVENTORY).inventory
    assert {f["properties"]["road"] for f in roads} == {
        k for k, r in sample.roads.items() if r.site_id in SITES
    }
    road = sample.roads[roads[0]["properties"]["road"]]
    assert roads[0]["geometry"]["coordinates"] == [[p.lon, p.lat] for p in road.line]


async def test_projects_through_the_api(api: Api) -> None:
    http = api.http
    viewer, operator = await _as(api, Role.VIEWER), await _as(api, Role.OPERATOR)
    admin = await _as(api, Role.ADMIN)
    listed = _ok(await http.get(f"{V1}/projects", headers=viewer))
    assert [p["id"] for p in listed["items"]] == ["P1", "P2"]
    p1 = _ok(await http.get(f"{V1}/projects/P1", headers=viewer))
    assert (p1["sites"], p1["survey_start"]) == (["PP-S02"], "2025-11-03")
    assert p1["phase"] in ("acceptance", "implementation", "survey")  # by today's date
    by_site = _ok(await http.get(f"{V1}/projects", headers=viewer, params={"site": "GT-S09"}))
    assert [p["id"] for p in by_site["items"]] == ["P2"]
    _refused(await http.get(f"{V1}/projects/P9", headers=viewer), 404)

    new = {"id": "P3", "name": "三期", "survey_start": "2027-01-04", "survey_end": "2027-02-26"}
    _refused(await http.post(f"{V1}/projects", headers=viewer, json=new), 403)
    created = _ok(await http.post(f"{V1}/projects", headers=operator, json=new), 201)
    assert (created["sites"], created["phase"]) == ([], None)
    _refused(await http.post(f"{V1}/projects", headers=operator, json=new), 409, "body.id")
    bad = {**new, "id": "P4", "implementation_start": "2026-12-01"}
    body = _refused(await http.post(f"{V1}/projects", headers=operator, json=bad), 422,
                    "body.implementation_start")  # fmt: skip
    assert "the phases start in order" in body["message"]
    _refused(await http.post(f"{V1}/projects", headers=operator, json={**new, "id": "P4",
             "sites": ["NOPE"]}), 422, "body.sites")  # fmt: skip
    _refused(await http.post(f"{V1}/projects", headers=operator, json={**new, "x": 1}), 422,
             "body.x")  # fmt: skip

    # a site is in one project: GT-S09 moves only once P2 lets it go
    moved = {"sites": ["GT-S09"]}
    body = _refused(await http.patch(f"{V1}/projects/P3", headers=operator, json=moved), 409,
                    "body.sites")  # fmt: skip
    assert "'P2'" in body["message"]
    _ok(await http.patch(f"{V1}/projects/P2", headers=operator, json={"sites": []}))
    changed = _ok(await http.patch(f"{V1}/projects/P3", headers=operator,
                                   json={**moved, "survey_end": None}))  # fmt: skip
    assert (changed["sites"], changed["survey_end"]) == (["GT-S09"], None)
    _refused(await http.patch(f"{V1}/projects/P3", headers=operator, json={"name": None}), 422,
             "body.name")  # fmt: skip
    early = {"survey_end": "2020-01-01"}
    _refused(await http.patch(f"{V1}/projects/P3", headers=operator, json=early), 422,
             "body.survey_end")  # fmt: skip
    _refused(await http.patch(f"{V1}/projects/P9", headers=operator, json={"name": "x"}), 404)
    held = _refused(await http.delete(f"{V1}/sites/GT-S09", headers=operator), 409)
    assert "8 roads on it; 1 project listing it" in held["message"]
    _refused(await http.delete(f"{V1}/projects/P3", headers=viewer), 403)
    assert _ok(await http.delete(f"{V1}/projects/P3", headers=operator))["id"] == "P3"
    _refused(await http.get(f"{V1}/projects/P3", headers=viewer), 404)

    audit = _ok(await http.get(f"{V1}/audit", headers=admin, params={"action": "project.update"}))
    assert [(r["target"], r["before"]["sites"], r["after"]["sites"]) for r in audit["items"]] == [
        ("project:P2", ["GT-S09"], []), ("project:P3", [], ["GT-S09"])]  # fmt: skip
    created_rows = _ok(await http.get(f"{V1}/audit", headers=admin,
                                      params={"action": "project.create"}))["items"]  # fmt: skip
    assert created_rows[0]["after"]["name"] == "三期"
    # the store still reads back as one inventory: the export carries the projects
    exported = _ok(await http.get(f"{V1}/assets/export", headers=viewer))
    kinds = [f["properties"]["kind"] for f in exported["features"]]
    assert kinds.count("project") == 2
    assert kinds.count("road") == 9
