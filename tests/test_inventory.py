"""Inventory files: the sample district, round trips, and bad rows named with their reason."""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from streetlight.domain import Inventory, LampStatus, Project, SiteCategory
from streetlight.inventory import (
    MAX_PROBLEMS,
    InventoryError,
    dump_csv,
    dump_geojson,
    load_inventory,
    load_inventory_file,
    parse_inventory,
)
from tests.conftest import ROOT, SAMPLE_INVENTORY
from tests.helpers import sample_district, subset


@pytest.fixture(scope="module")
def sample() -> Inventory:
    return load_inventory(SAMPLE_INVENTORY)


def test_sample_district_has_the_size_the_issue_asks_for(sample: Inventory) -> None:
    assert len(sample.lamps) >= 2000
    assert len(sample.sites) >= 40
    assert len(sample.cabinets) >= 60
    assert {s.name for s in sample.subdistricts.values()} == {
        "湓浦街道",
        "甘棠街道",
        "人民路街道",
        "白水湖街道",
        "金鸡坡街道",
    }
    assert Counter(s.category for s in sample.sites.values()).keys() == set(SiteCategory)
    assert sample.district.timezone == "Asia/Shanghai"


def test_sample_coordinates_are_around_xunyang(sample: Inventory) -> None:
    points = [lamp.location for lamp in sample.lamps.values()]
    points += [cab.location for cab in sample.cabinets.values()]
    assert all(29.66 < p.lat < 29.78 and 115.93 < p.lon < 116.05 for p in points)
    mean_lat = sum(p.lat for p in points) / len(points)
    mean_lon = sum(p.lon for p in points) / len(points)
    assert abs(mean_lat - 29.73) < 0.03
    assert abs(mean_lon - 115.99) < 0.03


def test_sample_is_generated_reproducibly(tmp_path: Path) -> None:
    out = tmp_path / "inventory.geojson"
    script = ROOT / "examples" / "xunyang" / "generate.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(out)], check=True, capture_output=True
    )
    assert out.read_bytes() == SAMPLE_INVENTORY.read_bytes()


def test_geojson_round_trip(sample: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "again.geojson"
    path.write_text(json.dumps(dump_geojson(sample), ensure_ascii=False))
    assert load_inventory(path) == sample


def test_csv_round_trip(sample: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "again.csv"
    path.write_text(dump_csv(sample))
    assert load_inventory(path) == sample


def test_site_attributes_may_be_given_once(tmp_path: Path) -> None:
    rows = _csv_rows(_small())
    for row in rows[2:]:  # only the first rows describe the site fully
        for key in ("site_name", "site_category", "road_class", "maintainer_name", "community"):
            row[key] = ""
    path = _write_csv(tmp_path, rows)
    assert len(load_inventory(path).lamps) == sum(row["kind"] == "lamp" for row in rows)


def _small() -> Inventory:
    """A small district: the sample's first site."""
    return subset([next(iter(sample_district().sites))])


def _csv_rows(inventory: Inventory) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(dump_csv(inventory))))


def _write_csv(tmp_path: Path, rows: list[dict[str, str]], name: str = "inv.csv") -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue())
    return path


def _first_lamp_row(rows: list[dict[str, str]]) -> int:
    return next(i for i, row in enumerate(rows) if row["kind"] == "lamp")


# each case: (column, bad value, text the message must contain)
BAD_CELLS = [
    ("rated_power_w", "-40", "rated_power_w: Input should be greater than or equal to 1"),
    ("rated_power_w", "forty", "rated_power_w: Input should be a valid number"),
    ("phase", "D", "phase: Input should be 'A', 'B' or 'C'"),
    ("lat", "95", "lat: Input should be less than or equal to 90"),
    ("id", "has space", "id: String should match pattern"),
    ("kind", "pole", "kind must be one of 'lamp', 'cabinet', 'road', 'project', got 'pole'"),
    ("site_category", "castle", "site_category: Input should be"),
    ("installed_on", "2026-13-01", "installed_on: Input should be a valid date"),
    ("cabinet", "NO-SUCH-CAB", "unknown cabinet 'NO-SUCH-CAB'"),
    ("circuit", "NO-SUCH-CIRCUIT", "circuit 'NO-SUCH-CIRCUIT' is not in cabinet"),
    ("road_class", "main", "road_class 'main' conflicts with"),
    ("timezone", "Mars/Olympus", "timezone 'Mars/Olympus' conflicts with"),
    ("device_address", "imei 8699", "device_address: String should match pattern"),
    ("device_address", "a/b", "device_address: String should match pattern"),
]


@pytest.mark.parametrize(("column", "value", "reason"), BAD_CELLS)
def test_bad_csv_row_is_named_with_its_reason(
    tmp_path: Path, column: str, value: str, reason: str
) -> None:
    inventory = _small()
    rows = _csv_rows(inventory)
    index = _first_lamp_row(rows) + 1
    if column == "road_class" and rows[index]["road_class"] == "main":
        value = "branch"
        reason = "road_class 'branch' conflicts with"
    rows[index][column] = value
    path = _write_csv(tmp_path, rows)

    with pytest.raises(InventoryError) as caught:
        load_inventory(path)

    line_number = index + 2  # the header is line 1
    assert len(caught.value.problems) == 1, caught.value.problems
    problem = caught.value.problems[0]
    assert problem.startswith(f"{path}: row {line_number}"), problem
    assert reason in problem
    assert "\n" not in problem


def test_duplicate_lamp_names_both_rows(tmp_path: Path) -> None:
    rows = _csv_rows(_small())
    first = _first_lamp_row(rows)
    rows.append(dict(rows[first]))
    path = _write_csv(tmp_path, rows)
    with pytest.raises(
        InventoryError, match=rf"row {len(rows) + 1}: lamp .* already given at row {first + 2}"
    ):
        load_inventory(path)


def test_device_addresses_load_and_round_trip(tmp_path: Path) -> None:
    rows = _csv_rows(_small())
    lamp_row = _first_lamp_row(rows)
    cabinet_row = next(i for i, row in enumerate(rows) if row["kind"] == "cabinet")
    rows[lamp_row]["device_address"] = "urn:imei:869975031234567"
    rows[cabinet_row]["device_address"] = "70B3D59BA0000123"
    inventory = load_inventory(_write_csv(tmp_path, rows))
    lamp_id, cabinet_id = rows[lamp_row]["id"], rows[cabinet_row]["id"]
    assert inventory.lamps[lamp_id].device_address == "urn:imei:869975031234567"
    assert inventory.by_address("URN:IMEI:869975031234567") == ("lamp", lamp_id)
    assert inventory.by_address("70b3d59ba0000123") == ("cabinet", cabinet_id)
    path = tmp_path / "again.geojson"
    path.write_text(json.dumps(dump_geojson(inventory)))
    assert load_inventory(path) == inventory
    again = tmp_path / "again.csv"
    again.write_text(dump_csv(inventory))
    assert load_inventory(again) == inventory


def test_a_device_address_given_twice_names_both_rows(tmp_path: Path) -> None:
    """Addresses are compared without case: a DevEUI is the same in capitals."""
    rows = _csv_rows(_small())
    first = _first_lamp_row(rows)
    rows[first]["device_address"] = "70b3d59ba0000123"
    rows[first + 1]["device_address"] = "70B3D59BA0000123"
    with pytest.raises(
        InventoryError,
        match=rf"row {first + 3}: lamp .*: device_address '70B3D59BA0000123' is already "
        rf"lamp .*'s at row {first + 2}",
    ):
        load_inventory(_write_csv(tmp_path, rows))


def test_unknown_column_is_refused_but_x_columns_are_kept_out(tmp_path: Path) -> None:
    rows = _csv_rows(_small())
    for row in rows:
        row["x_photo"] = "p.jpg"
    assert load_inventory(_write_csv(tmp_path, rows)).lamps
    for row in rows:
        row["rated_pwr_w"] = "40"
    with pytest.raises(InventoryError, match="rated_pwr_w: unknown property"):
        load_inventory(_write_csv(tmp_path, rows))


def test_site_described_nowhere_is_reported(tmp_path: Path) -> None:
    rows = _csv_rows(_small())
    for row in rows:
        row["site_category"] = ""
    with pytest.raises(InventoryError, match=r"site .*: category given on no record"):
        load_inventory(_write_csv(tmp_path, rows))


def _feature_collection() -> dict[str, Any]:
    return dump_geojson(_small())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda fc: fc["features"][3].update(geometry=None), "feature 4: geometry must be a Point"),
        (lambda fc: fc["features"].__setitem__(2, [1, 2]), "feature 3: not a GeoJSON Feature"),
        (lambda fc: fc["features"][5]["properties"].update(rated_power_w="x"), "feature 6 ("),
        (
            lambda fc: fc.update(district=None) or fc["features"][0]["properties"].pop("site"),
            "feature 1 (",
        ),
    ],
)
def test_bad_geojson_feature_is_named(tmp_path: Path, mutate: Any, reason: str) -> None:
    fc = copy.deepcopy(_feature_collection())
    mutate(fc)
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(fc))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert any(reason in problem for problem in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.geojson", "{not json", "not JSON: Expecting value at character 1"),
        ("a.geojson", '{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        ("a.geojson", "[1, 2]", "not a GeoJSON FeatureCollection"),
        ("a.geojson", '{"type": "FeatureCollection", "features": [{}, tru', "not JSON: Expecting"),
        ("a.txt", "", "unknown inventory format '.txt'"),
        ("a.csv", "kind,id\nlamp,L1,extra\n", "row 2: more cells than header columns"),
    ],
)
def test_bad_file_is_one_line_naming_it(
    tmp_path: Path, name: str, content: str, reason: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value).startswith(str(path))
    assert reason in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"missing\.geojson: cannot read: No such file"):
        load_inventory(tmp_path / "missing.geojson")


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 16])
def test_geojson_is_read_correctly_whatever_the_chunk_boundaries(
    chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Features are decoded as the file streams in; a value cut by a chunk edge must survive."""
    from streetlight.inventory import _json_stream  # noqa: PLC0415

    inventory = _small()
    document = dump_geojson(inventory)
    document["x_trailer"] = [1.25, True, None, "是"]  # members after the features, too
    path = tmp_path / "small.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False, indent=None))
    monkeypatch.setattr(_json_stream, "CHUNK", chunk)
    assert load_inventory(path) == inventory


def test_district_member_may_follow_the_features(tmp_path: Path) -> None:
    inventory = _small()
    document = dump_geojson(inventory)
    reordered = {
        "type": document["type"],
        "features": document["features"],
        "district": document["district"],
    }
    path = tmp_path / "late.geojson"
    path.write_text(json.dumps(reordered))
    assert load_inventory(path) == inventory


def test_every_bad_row_is_reported_with_its_property(tmp_path: Path) -> None:
    """Rows refused one by one and what is wrong between rows, in one answer; a cabinet's own
    bad row is reported, not again with each of its lamps."""
    rows = _csv_rows(_small())
    lamp = _first_lamp_row(rows)
    cabinet = next(i for i, row in enumerate(rows) if row["kind"] == "cabinet")
    rows[lamp]["rated_power_w"] = "-40"
    rows[lamp]["phase"] = "D"
    rows[lamp + 1]["cabinet"] = "NO-SUCH-CAB"
    rows[lamp + 2]["device_address"] = "a/b"
    rows[cabinet]["nominal_voltage_v"] = "1000"
    path = _write_csv(tmp_path, rows)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    found = {(d.where, d.field) for d in caught.value.details}
    assert found == {
        (f"row {lamp + 2}", "rated_power_w"),
        (f"row {lamp + 2}", "phase"),
        (f"row {lamp + 3}", "cabinet"),
        (f"row {lamp + 4}", "device_address"),
        (f"row {cabinet + 2}", "nominal_voltage_v"),
    }
    assert len(caught.value.problems) == 4  # one line per bad row, as the CLI prints them
    assert all(d.source == str(path) for d in caught.value.details)
    first = {d.id for d in caught.value.details if d.where == f"row {lamp + 2}"}
    assert first == {rows[lamp]["id"]}


def test_every_problem_is_kept_without_a_limit() -> None:
    rows = _csv_rows(subset(list(sample_district().sites)[:3]))
    for row in rows:
        if row["kind"] == "lamp":
            row["phase"] = "D"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    lamps = sum(row["kind"] == "lamp" for row in rows)
    assert lamps > MAX_PROBLEMS
    data = out.getvalue().encode()
    with pytest.raises(InventoryError) as capped:
        parse_inventory(io.BytesIO(data), "csv", "upload.csv")
    assert len(capped.value.problems) == MAX_PROBLEMS + 1
    assert capped.value.problems[-1] == f"upload.csv: stopped after {MAX_PROBLEMS} problems"
    with pytest.raises(InventoryError) as every:
        parse_inventory(io.BytesIO(data), "csv", "upload.csv", max_problems=None)
    assert len(every.value.details) == lamps


def test_lamps_status_loads_round_trips_and_stays_out_of_the_field(tmp_path: Path) -> None:
    inventory = _small()
    planned, retired = sorted(inventory.lamps)[:2]
    status = {planned: LampStatus.PLANNED, retired: LampStatus.RETIRED}
    for name, text in (
        ("s.geojson", json.dumps(dump_geojson(inventory, status))),
        ("s.csv", dump_csv(inventory, status)),
    ):
        path = tmp_path / name
        path.write_text(text)
        loaded = load_inventory_file(path)
        assert loaded.inventory == inventory
        assert loaded.status == status
        assert set(load_inventory(path).lamps) == set(inventory.lamps) - {planned, retired}


def test_a_check_refuses_records_by_property() -> None:
    def check(kind: str, ident: str, profile: str, address: str | None) -> list[tuple[str, str]]:
        return [("profile", f"profile {profile!r} does not exist")] if kind == "cabinet" else []

    data = json.dumps(_feature_collection()).encode()
    with pytest.raises(InventoryError) as caught:
        parse_inventory(io.BytesIO(data), "geojson", "upload", check=check)
    assert {d.field for d in caught.value.details} == {"profile"}  # lamps are not blamed
    assert len(caught.value.details) == len(_small().cabinets)


# --- roads and projects -----------------------------------------------------------------------


def _surveyed() -> dict[str, Any]:
    """The sample's first site as GeoJSON, with its road and a project."""
    inventory = _small()
    site = next(iter(inventory.sites))
    roads = {k: r for k, r in sample_district().roads.items() if r.site_id == site}
    projects = {"P1": Project("P1", "一期", (site,), survey_start=date(2025, 11, 3))}
    return dump_geojson(dataclasses.replace(inventory, roads=roads, projects=projects))


def test_roads_and_projects_round_trip_through_both_formats(tmp_path: Path) -> None:
    document = _surveyed()
    road = next(f for f in document["features"] if f["properties"]["kind"] == "road")
    project = next(f for f in document["features"] if f["properties"]["kind"] == "project")
    assert road["geometry"]["type"] == "LineString"
    assert project["geometry"] is None
    path = tmp_path / "surveyed.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False))
    loaded = load_inventory(path)
    assert list(loaded.projects) == ["P1"]
    assert loaded.project_of("PP-S01") == loaded.projects["P1"]
    assert loaded.roads["PP-S01-R1"].line[0] == loaded.lamps["PP-S01-L001"].location
    again = tmp_path / "surveyed.csv"
    again.write_text(dump_csv(loaded))
    assert "LINESTRING (115." in again.read_text()
    assert load_inventory(again) == loaded


def _features(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in document["features"] if f["properties"]["kind"] == kind]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: _features(d, "road")[0]["properties"].update(site="NOWHERE"),
         "road 'PP-S01-R1': unknown site 'NOWHERE'"),
        (lambda d: _features(d, "road")[0].update(geometry={"type": "Point",
                                                            "coordinates": [1, 2]}),
         "a road's geometry must be a LineString"),
        (lambda d: _features(d, "road")[0]["geometry"].update(coordinates=[[1, 2]]),
         "line: Value should have at least 2 items"),
        (lambda d: _features(d, "project")[0].update(geometry={"type": "Point",
                                                               "coordinates": [1, 2]}),
         "a project's geometry must be null"),
        (lambda d: _features(d, "project")[0]["properties"].update(survey_end="2025-01-01"),
         "survey_end (2025-01-01) is before survey_start (2025-11-03)"),
        (lambda d: d["features"].append(copy.deepcopy(_features(d, "project")[0]) | {
            "properties": {"kind": "project", "id": "P2", "name": "二期", "sites": ["PP-S01"]}}),
         "site 'PP-S01' is already in project 'P1' at feature"),
        (lambda d: _features(d, "project")[0]["properties"].update(phase="survey"),
         "phase: unknown property"),
    ],
)  # fmt: skip
def test_bad_roads_and_projects_are_named(tmp_path: Path, mutate: Any, reason: str) -> None:
    document = _surveyed()
    mutate(document)
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False))
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert any(reason in problem for problem in caught.value.problems), caught.value.problems


def test_a_road_line_in_csv_is_wkt(tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text(dump_csv(load_inventory_from_json(_surveyed(), tmp_path)))
    rows = _csv_rows_of(path)
    road = next(row for row in rows if row["kind"] == "road")
    road["line"] = "POINT (115.9 29.7)"
    bad = _write_csv(tmp_path, rows, "bad.csv")
    with pytest.raises(InventoryError) as caught:
        load_inventory(bad)
    assert "a road's line is a WKT LINESTRING, got Point" in caught.value.problems[0]
    road["line"] = "LINESTRING (115.9"
    with pytest.raises(InventoryError) as caught:
        load_inventory(_write_csv(tmp_path, rows, "bad.csv"))
    assert "line: Value error, not WKT" in caught.value.problems[0]


def load_inventory_from_json(document: dict[str, Any], tmp_path: Path) -> Inventory:
    path = tmp_path / "from.geojson"
    path.write_text(json.dumps(document, ensure_ascii=False))
    return load_inventory(path)


def _csv_rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))
