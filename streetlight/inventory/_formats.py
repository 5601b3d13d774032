"""Inventory files: a GeoJSON FeatureCollection or a CSV table of the same flat records.

GeoJSON: one Point feature per lamp and per cabinet (`properties.kind`), the hierarchy in the
properties; a LineString feature per road; a feature without geometry (`null`) per renovation
project. The collection may carry a `district` member (`{"id", "name", "timezone"}`) whose
values every feature inherits. CSV: one row per lamp or cabinet with `lon` and `lat` columns and
the same property names; a cabinet's circuits and a project's sites are `;`-separated; a road's
line is WKT in the column `line`. docs/contract.md has the format.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from streetlight.domain import PHASE_FIELDS, Inventory, LampStatus, ProjectPhase
from streetlight.inventory._build import (
    MAX_PROBLEMS,
    InventoryBuilder,
    InventoryError,
    InventoryFile,
    RecordCheck,
)
from streetlight.inventory._json_stream import JsonStream, JsonStreamError, NotAnObjectError

CSV_COLUMNS = (
    "kind",
    "id",
    "lon",
    "lat",
    "district",
    "district_name",
    "timezone",
    "subdistrict",
    "subdistrict_name",
    "community",
    "community_name",
    "site",
    "site_name",
    "site_category",
    "road_class",
    "maintainer",
    "maintainer_name",
    "maintainer_kind",
    "name",
    "cabinet",
    "circuit",
    "circuits",
    "rated_power_w",
    "phase",
    "profile",
    "installed_on",
    "project",
    "status",
    "nominal_voltage_v",
    "device_address",
    "sites",
    *PHASE_FIELDS,
    "line",
)


FORMATS = {".geojson": "geojson", ".json": "geojson", ".csv": "csv"}


def load_inventory(path: Path) -> Inventory:
    """Load a `.geojson`/`.json` or `.csv` inventory: the lamps in the field (a lamp whose record
    says planned or retired is left out); raises `InventoryError` naming bad rows."""
    return load_inventory_file(path).in_field()


def load_inventory_file(
    path: Path, *, max_problems: int | None = MAX_PROBLEMS, check: RecordCheck | None = None
) -> InventoryFile:
    """Every lamp and cabinet of an inventory file, with the lamps' statuses where given."""
    source = str(path)
    suffix = path.suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise InventoryError.of_file(
            source, f"unknown inventory format {suffix!r} (use .geojson or .csv)"
        )
    try:
        with path.open("rb") as file:
            return parse_inventory(file, fmt, source, max_problems=max_problems, check=check)
    except OSError as exc:
        raise InventoryError.of_file(source, f"cannot read: {exc.strerror}") from exc


def parse_inventory(
    file: IO[bytes],
    fmt: str,
    source: str,
    *,
    max_problems: int | None = MAX_PROBLEMS,
    check: RecordCheck | None = None,
) -> InventoryFile:
    """An inventory in `fmt` (`geojson` or `csv`) read from `file`; `source` names it in
    problems (a path, an upload's name). Raises `InventoryError` listing every problem."""
    builder = InventoryBuilder(source, max_problems=max_problems, check=check)
    try:
        if fmt == "csv":
            for where, properties in _csv_rows(file.read().decode("utf-8-sig")):
                builder.add(where, properties)
                if builder.full:
                    break
        elif fmt == "geojson":
            _load_geojson(source, file, builder)
        else:
            raise InventoryError.of_file(source, f"unknown inventory format {fmt!r}")
    except UnicodeDecodeError as exc:
        raise InventoryError.of_file(source, f"not UTF-8 text (byte {exc.start})") from exc
    except csv.Error as exc:
        raise InventoryError.of_file(source, f"not CSV: {exc}") from exc
    except RecursionError as exc:
        raise InventoryError.of_file(source, "not an inventory: JSON nested too deeply") from exc
    return builder.build_file()


def _load_geojson(source: str, file: IO[bytes], builder: InventoryBuilder) -> None:
    """Read features one at a time (a district's file is large), building as they come."""
    count = 0

    def on_feature(feature: Any) -> None:
        nonlocal count
        count += 1
        builder.add(f"feature {count}", _feature_properties(feature))

    try:
        members = JsonStream(file).read_object("features", on_feature)
    except NotAnObjectError as exc:
        raise InventoryError.of_file(source, "not a GeoJSON FeatureCollection") from exc
    except JsonStreamError as exc:
        raise InventoryError.of_file(source, f"not JSON: {exc}") from exc
    if members.get("type") != "FeatureCollection" or members.get("features") is not True:
        raise InventoryError.of_file(source, "not a GeoJSON FeatureCollection with a features list")
    district = members.get("district")
    if isinstance(district, dict):
        builder.describe_district("the collection's district", district)
    elif district is not None:
        raise InventoryError.of_file(source, "'district' must be an object with id, name, timezone")


def _position(value: Any) -> bool:
    return isinstance(value, list) and len(value) >= 2


def _feature_properties(feature: Any) -> dict[str, Any] | str:  # noqa: PLR0911 - one per shape
    """Flatten one feature into record properties, or say why its shape is wrong: a lamp and
    a cabinet are Points, a road a LineString, a project has no geometry (null)."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return "not a GeoJSON Feature"
    properties = feature.get("properties")
    geometry = feature.get("geometry")
    if not isinstance(properties, dict):
        return "a feature needs a properties object"
    kind = properties.get("kind")
    if kind == "project":
        if geometry is not None:
            return "a project's geometry must be null: a project is not a place"
        return properties
    if kind == "road":
        line = _line(geometry)
        if line is None:
            return "a road's geometry must be a LineString of [lon, lat] positions"
        return {**properties, "line": line}
    if not (
        isinstance(geometry, dict)
        and geometry.get("type") == "Point"
        and _position(geometry.get("coordinates"))
    ):
        return "geometry must be a Point with [lon, lat] coordinates"
    lon, lat = geometry["coordinates"][:2]
    return {**properties, "lon": lon, "lat": lat}


def _line(geometry: Any) -> list[Any] | None:
    """A LineString's positions without their altitudes; None for any other shape."""
    if not isinstance(geometry, dict) or geometry.get("type") != "LineString":
        return None
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or not all(_position(p) for p in coordinates):
        return None
    return [point[:2] for point in coordinates]


def _csv_rows(text: str) -> Iterator[tuple[str, dict[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        where = f"row {reader.line_num}"
        if None in row:
            yield where, "more cells than header columns"
            continue
        yield where, {key.strip(): value.strip() for key, value in row.items() if value is not None}


def _records(
    inventory: Inventory, status: Mapping[str, LampStatus] | None
) -> Iterator[dict[str, Any]]:
    """Every lamp and cabinet as a flat record, with its full hierarchy (a lamp's status only
    where it is not installed)."""
    district = inventory.district
    status = status or {}

    def hierarchy(site_id: str) -> dict[str, Any]:
        site = inventory.sites[site_id]
        community = inventory.communities[site.community_id]
        subdistrict = inventory.subdistricts[community.subdistrict_id]
        maintainer = inventory.maintainers[site.maintainer_id]
        return {
            "district": district.id,
            "district_name": district.name,
            "timezone": district.timezone,
            "subdistrict": subdistrict.id,
            "subdistrict_name": subdistrict.name,
            "community": community.id,
            "community_name": community.name,
            "site": site.id,
            "site_name": site.name,
            "site_category": site.category.value,
            "road_class": site.road_class.value,
            "maintainer": maintainer.id,
            "maintainer_name": maintainer.name,
            "maintainer_kind": maintainer.kind.value,
        }

    for cabinet in inventory.cabinets.values():
        yield {
            "kind": "cabinet",
            "id": cabinet.id,
            "lon": cabinet.location.lon,
            "lat": cabinet.location.lat,
            **hierarchy(cabinet.site_id),
            "name": cabinet.name,
            "profile": cabinet.profile,
            "circuits": list(cabinet.circuit_ids),
            "nominal_voltage_v": cabinet.nominal_voltage_v,
            "device_address": cabinet.device_address,
        }
    for lamp in inventory.lamps.values():
        place = inventory.place(lamp.id)
        yield {
            "kind": "lamp",
            "id": lamp.id,
            "lon": lamp.location.lon,
            "lat": lamp.location.lat,
            **hierarchy(place.site_id),
            "cabinet": place.cabinet_id,
            "circuit": lamp.circuit_id,
            "rated_power_w": lamp.rated_power_w,
            "phase": lamp.phase.value,
            "profile": lamp.profile,
            "installed_on": lamp.installed_on.isoformat() if lamp.installed_on else None,
            "project": lamp.project,
            "status": _status(status.get(lamp.id)),
            "device_address": lamp.device_address,
        }
    for road in inventory.roads.values():
        yield {
            "kind": "road",
            "id": road.id,
            "name": road.name,
            "site": road.site_id,
            "road_class": road.road_class.value,
            "line": [(point.lon, point.lat) for point in road.line],
        }
    for project in inventory.projects.values():
        dates = {}
        for phase in ProjectPhase:
            start, end = project.dates(phase)
            dates[f"{phase.value}_start"] = start.isoformat() if start else None
            dates[f"{phase.value}_end"] = end.isoformat() if end else None
        yield {
            "kind": "project",
            "id": project.id,
            "name": project.name,
            "sites": list(project.site_ids),
            **dates,
        }


def _status(status: LampStatus | None) -> str | None:
    return None if status is None or status is LampStatus.INSTALLED else status.value


def dump_geojson(
    inventory: Inventory, status: Mapping[str, LampStatus] | None = None
) -> dict[str, Any]:
    """The inventory as a GeoJSON FeatureCollection; district fields go to the collection."""
    district_keys = ("district", "district_name", "timezone")
    features = []
    for record in _records(inventory, status):
        geometry: dict[str, Any] | None = None
        if "line" in record:
            line = record.pop("line")
            geometry = {"type": "LineString", "coordinates": [list(point) for point in line]}
        elif "lon" in record:
            lon, lat = record.pop("lon"), record.pop("lat")
            geometry = {"type": "Point", "coordinates": [lon, lat]}
        properties = {
            key: value
            for key, value in record.items()
            if key not in district_keys and value is not None
        }
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    return {
        "type": "FeatureCollection",
        "district": {
            "id": inventory.district.id,
            "name": inventory.district.name,
            "timezone": inventory.district.timezone,
        },
        "features": features,
    }


def dump_csv(inventory: Inventory, status: Mapping[str, LampStatus] | None = None) -> str:
    """The inventory as CSV, one row per cabinet and lamp, every column filled where it applies."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in _records(inventory, status):
        for key in ("circuits", "sites"):
            if key in record:
                record[key] = ";".join(record[key])
        if "line" in record:
            points = ", ".join(f"{lon!r} {lat!r}" for lon, lat in record["line"])
            record["line"] = f"LINESTRING ({points})"
        writer.writerow({key: "" if value is None else value for key, value in record.items()})
    return out.getvalue()
