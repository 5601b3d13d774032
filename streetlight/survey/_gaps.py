"""Roads without lamps (有路无灯): every stretch of road farther from every installed lamp than
the dark-road distance of its class (`DarkRoadRule`), with its length and where it is.

The geometry is shapely's and the metres pyproj's: roads and lamps are projected to an
azimuthal equidistant projection centred on the district's roads (`+proj=aeqd`, WGS84). A
district is a few kilometres across, and within 10 km of its centre that projection keeps
every distance to better than a millimetre in a hundred metres, with no zone to choose and no
zone edge to fall across (UTM would do as well inside one zone, at up to 0.04 % of scale in
Xunyang, and worse at a zone's edge). Each road's lit part is the union of circles of the
dark-road distance round the lamps near it (buffers of `QUAD_SEGS` segments a quarter: the
polygon stays within a few millimetres of the circle); what remains of the road is dark.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from pyproj import CRS, Transformer
from shapely import LineString, MultiLineString, Point, STRtree

from streetlight.domain import DarkRoadRule, GeoPoint, Inventory, Road, RoadClass

QUAD_SEGS = 64
MIN_STRETCH_M = 1.0  # shorter pieces are where a road grazes a circle: not a stretch of road


@dataclass(frozen=True, slots=True)
class DarkStretch:
    """A stretch of one road that no installed lamp lights, in order along the road."""

    road: str
    road_name: str
    site: str
    road_class: RoadClass
    distance_m: float  # how far from every lamp it is, at least
    length_m: float
    line: tuple[GeoPoint, ...]  # WGS84


@dataclass(frozen=True, slots=True)
class SiteGaps:
    """One site's roads and how much of them is dark."""

    site: str
    name: str
    community: str
    subdistrict: str
    roads: int
    road_length_m: float
    stretches: int
    dark_length_m: float

    @property
    def dark_pct(self) -> float | None:
        return None if self.road_length_m == 0 else 100 * self.dark_length_m / self.road_length_m


@dataclass(frozen=True)
class GapReport:
    stretches: list[DarkStretch]
    sites: list[SiteGaps]
    projection: str  # the metric projection the lengths were measured in (PROJ string)


def local_projection(points: Iterable[GeoPoint]) -> CRS:
    """An azimuthal equidistant projection centred on the middle of `points`' extent."""
    lats, lons = zip(*((p.lat, p.lon) for p in points), strict=True)
    lat0 = (min(lats) + max(lats)) / 2
    lon0 = (min(lons) + max(lons)) / 2
    return CRS.from_proj4(
        f"+proj=aeqd +lat_0={lat0:.6f} +lon_0={lon0:.6f} +datum=WGS84 +units=m +no_defs"
    )


class _Plane:
    """WGS84 to the local metric plane and back."""

    def __init__(self, crs: CRS) -> None:
        self.crs = crs
        self._to = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def line(self, points: Iterable[GeoPoint]) -> LineString:
        lons, lats = zip(*((p.lon, p.lat) for p in points), strict=True)
        xs, ys = self._to.transform(lons, lats)
        return LineString(list(zip(xs, ys, strict=True)))

    def points(self, points: list[GeoPoint]) -> list[Point]:
        if not points:
            return []
        xs, ys = self._to.transform([p.lon for p in points], [p.lat for p in points])
        return [Point(x, y) for x, y in zip(xs, ys, strict=True)]

    def back(self, line: LineString) -> tuple[GeoPoint, ...]:
        xs, ys = zip(*line.coords, strict=True)
        lons, lats = self._back.transform(xs, ys)
        return tuple(
            GeoPoint(lat=round(lat, 7), lon=round(lon, 7))
            for lon, lat in zip(lons, lats, strict=True)
        )


def find_gaps(
    roads: Iterable[Road], lamps: Iterable[GeoPoint], rule: DarkRoadRule, crs: CRS | None = None
) -> list[DarkStretch]:
    """Every dark stretch of `roads` given the installed `lamps`, road by road in id order."""
    roads = sorted(roads, key=lambda road: road.id)
    if not roads:
        return []
    plane = _Plane(crs or local_projection(p for road in roads for p in road.line))
    poles = plane.points(list(lamps))
    tree = STRtree(poles)
    found: list[DarkStretch] = []
    for road in roads:
        line = plane.line(road.line)
        distance = rule.distance_m(road.road_class)
        near = tree.query(line, predicate="dwithin", distance=distance)
        dark: shapely.Geometry = line
        if len(near):
            lit = shapely.union_all(
                [poles[i].buffer(distance, quad_segs=QUAD_SEGS) for i in sorted(near)]
            )
            dark = line.difference(lit)
        parts = sorted(_parts(dark), key=lambda part: line.project(Point(part.coords[0])))
        found.extend(
            DarkStretch(road.id, road.name, road.site_id, road.road_class, distance,
                        part.length, plane.back(part))
            for part in parts
            if part.length >= MIN_STRETCH_M
        )  # fmt: skip
    return found


def _parts(geometry: Any) -> list[LineString]:
    """The pieces of what is left of a road, pieces that meet joined into one (each keeps
    the road's direction)."""
    if geometry.is_empty:
        return []
    if isinstance(geometry, MultiLineString):
        geometry = shapely.line_merge(geometry, directed=True)
    if isinstance(geometry, LineString):
        return [geometry]
    if isinstance(geometry, MultiLineString):
        return list(geometry.geoms)
    return [g for g in getattr(geometry, "geoms", []) if isinstance(g, LineString)]


def gap_report(inventory: Inventory, rule: DarkRoadRule) -> GapReport:
    """The dark stretches of an inventory's roads among its lamps (pass the lamps in the
    field: installed), and per site with roads, how much of them is dark."""
    roads = list(inventory.roads.values())
    crs = local_projection(p for road in roads for p in road.line) if roads else None
    lamps = [lamp.location for lamp in inventory.lamps.values()]
    stretches = find_gaps(roads, lamps, rule, crs)
    plane = _Plane(crs) if crs is not None else None
    length: dict[str, float] = {}
    count: dict[str, int] = {}
    for road in roads:
        assert plane is not None
        length[road.site_id] = length.get(road.site_id, 0.0) + plane.line(road.line).length
        count[road.site_id] = count.get(road.site_id, 0) + 1
    dark: dict[str, list[DarkStretch]] = {}
    for stretch in stretches:
        dark.setdefault(stretch.site, []).append(stretch)
    sites = []
    for site_id in sorted(length):
        site = inventory.sites[site_id]
        community = inventory.communities[site.community_id]
        mine = dark.get(site_id, [])
        sites.append(SiteGaps(site_id, site.name, community.id, community.subdistrict_id,
                              count[site_id], length[site_id], len(mine),
                              sum(s.length_m for s in mine)))  # fmt: skip
    return GapReport(stretches, sites, crs.srs if crs is not None else "")


def gaps_geojson(report: GapReport) -> dict[str, Any]:
    """The dark stretches as a GeoJSON FeatureCollection of LineStrings (WGS84)."""
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [[p.lon, p.lat] for p in stretch.line],
            },
            "properties": {
                "road": stretch.road,
                "road_name": stretch.road_name,
                "site": stretch.site,
                "road_class": stretch.road_class.value,
                "length_m": round(stretch.length_m, 2),
                "distance_m": stretch.distance_m,
            },
        }
        for stretch in report.stretches
    ]
    return {"type": "FeatureCollection", "projection": report.projection, "features": features}


SITE_COLUMNS = ("site", "name", "community", "subdistrict", "roads", "road_length_m",
                "stretches", "dark_length_m", "dark_pct")  # fmt: skip


def site_rows(report: GapReport) -> list[Mapping[str, Any]]:
    """The per-site table, one row per site with roads, lengths in metres to 0.1 m."""
    return [
        {
            "site": s.site,
            "name": s.name,
            "community": s.community,
            "subdistrict": s.subdistrict,
            "roads": s.roads,
            "road_length_m": round(s.road_length_m, 1),
            "stretches": s.stretches,
            "dark_length_m": round(s.dark_length_m, 1),
            "dark_pct": None if s.dark_pct is None else round(s.dark_pct, 1),
        }
        for s in report.sites
    ]


def sites_csv(report: GapReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SITE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in site_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
