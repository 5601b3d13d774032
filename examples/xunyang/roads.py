"""The sample district's survey: road centre lines along each site's lamps, a few deliberate
dark stretches (有路无灯), and the renovation projects, for examples/xunyang/generate.py.

A back street's road runs through its poles in order; a compound's paths run along each row
of poles and up its west side through the first pole of each row. Then a few roads go on past
their last pole into the dark, straight, round a corner or along a curve, and one road has no
lamp at all. Where each dark stretch begins and how long it is follows from how it was drawn:
the points are laid out on the WGS84 ellipsoid (pyproj's `Geod`), a stretch begins exactly the
dark-road distance past the last pole, and every other lamp is checked to stand well clear of
it. The stretches are written as examples/xunyang/dark-roads.geojson, which the tests compare
with what `streetlight survey gaps` finds.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from pyproj import Geod

from streetlight.domain import (
    DarkRoadRule,
    GeoPoint,
    Inventory,
    Lamp,
    Project,
    Road,
    Site,
    SiteCategory,
)

GEOD = Geod(ellps="WGS84")
CLEARANCE_M = 5.0  # how far beyond the dark-road distance every other lamp must stand
SAMPLE_STEP_M = 1.0  # how finely a dark stretch is checked against every lamp
# the kinds of dark stretch drawn, in turn, and how many roads with no lamp at all
SHAPES = ("straight", "corner", "curve", "straight")
UNLIT_ROADS = 1

PROJECT_PLANS = (
    # id, survey, acceptance, handover (implementation: the lamps' install dates)
    ("XY-ZL2026-1", (date(2025, 11, 3), date(2025, 12, 26)),
     (date(2026, 12, 14), date(2026, 12, 31)), (date(2027, 1, 11), None)),
    ("XY-ZL2026-2", (date(2026, 1, 5), date(2026, 2, 27)),
     (date(2027, 1, 4), date(2027, 1, 29)), (None, None)),
)  # fmt: skip


@dataclass(frozen=True)
class DarkStretch:
    """A stretch of road that no lamp lights, as drawn: its points from where the dark begins
    to the road's end, and its length along the road (geodesic metres)."""

    road: str
    site: str
    distance_m: float
    points: tuple[tuple[float, float], ...]  # (lon, lat)
    length_m: float

    def feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [list(p) for p in self.points]},
            "properties": {
                "road": self.road,
                "site": self.site,
                "length_m": round(self.length_m, 2),
                "distance_m": self.distance_m,
            },
        }


def _round(lon: float, lat: float) -> tuple[float, float]:
    return round(lon, 6), round(lat, 6)


def _length(points: list[tuple[float, float]]) -> float:
    lons, lats = zip(*points, strict=True)
    return float(GEOD.line_length(lons, lats))


def _site_poles(inventory: Inventory) -> dict[str, list[GeoPoint]]:
    """Each site's poles in the order they were laid (the lamps' numbers follow it)."""
    poles: dict[str, list[tuple[str, GeoPoint]]] = {}
    for lamp in inventory.lamps.values():
        site = inventory.place(lamp.id).site_id
        poles.setdefault(site, []).append((lamp.id, lamp.location))
    return {site: [p for _id, p in sorted(items)] for site, items in poles.items()}


def _lamp_roads(site: Site, poles: list[GeoPoint]) -> Iterator[Road]:
    """The roads along a site's lamps: a back street through its poles; a compound's rows
    (as generate.py lays them out) and a path up its west side."""
    line = [(p.lon, p.lat) for p in poles]
    if site.category is SiteCategory.BACK_STREET:
        yield _road(f"{site.id}-R1", site.name, site, line)
        return
    per_row = max(4, round(math.sqrt(len(poles) * 1.6)))
    rows = [line[i : i + per_row] for i in range(0, len(line), per_row)]
    for number, row in enumerate(rows, start=1):
        if len(row) >= 2:
            yield _road(f"{site.id}-R{number}", f"{site.name}{number}号路", site, row)
    if len(rows) >= 2:
        west = [row[0] for row in rows]
        yield _road(f"{site.id}-R{len(rows) + 1}", f"{site.name}西侧路", site, west)


def _road(road_id: str, name: str, site: Site, line: list[tuple[float, float]]) -> Road:
    points = tuple(GeoPoint(lat=lat, lon=lon) for lon, lat in line)
    return Road(road_id, name, site.id, site.road_class, points)


class _Clearance:
    """Checks, by brute force on the ellipsoid, that no lamp but one stands near a stretch."""

    def __init__(self, lamps: list[Lamp]) -> None:
        self.lons = np.array([lamp.location.lon for lamp in lamps])
        self.lats = np.array([lamp.location.lat for lamp in lamps])
        self.ids = [lamp.id for lamp in lamps]

    def nearest(self, points: list[tuple[float, float]], but: str | None) -> float:
        """The least distance from any of `points` to any lamp other than `but`."""
        keep = np.array([lamp_id != but for lamp_id in self.ids])
        lons, lats = self.lons[keep], self.lats[keep]
        best = math.inf
        for lon, lat in points:
            _az, _back, dist = GEOD.inv(np.full(lons.shape, lon), np.full(lats.shape, lat),
                                        lons, lats)  # fmt: skip
            best = min(best, float(np.min(dist)))
        return best


def _samples(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points every SAMPLE_STEP_M along a line, its vertices included."""
    out = [points[0]]
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(points):
        az, _back, dist = GEOD.inv(lon1, lat1, lon2, lat2)
        n = max(1, math.ceil(dist / SAMPLE_STEP_M))
        lons, lats, _ = GEOD.fwd([lon1] * n, [lat1] * n, [az] * n,
                                 [dist * i / n for i in range(1, n + 1)])  # fmt: skip
        out.extend(zip(lons, lats, strict=True))
    return out


def _extension(rng: random.Random, shape: str, last: tuple[float, float], azimuth: float,
               distance: float) -> list[tuple[float, float]]:  # fmt: skip
    """Points past the last pole: a first straight leg longer than the dark-road distance,
    then (for a corner) a leg at right angles or (for a curve) an arc of 10 m steps."""
    lon, lat = last
    if shape == "straight":  # 80-200 m without a lamp
        total = rng.uniform(max(80.0, distance + 20), 200.0)
        return [_round(*GEOD.fwd(lon, lat, azimuth, total)[:2])]
    first = rng.uniform(distance + 20, distance + 60)
    points = [_round(*GEOD.fwd(lon, lat, azimuth, first)[:2])]
    turn = rng.choice((-1, 1))
    if shape == "corner":
        corner = points[-1]
        leg = rng.uniform(40, 100)
        points.append(_round(*GEOD.fwd(*corner, azimuth + 90 * turn, leg)[:2]))
        return points
    heading = azimuth
    for _ in range(rng.randint(6, 12)):
        heading += 7 * turn
        points.append(_round(*GEOD.fwd(*points[-1], heading, 10.0)[:2]))
    return points


def _dark_extension(
    rng: random.Random, shape: str, road: Road, lamp_id: str, *, distance: float,
    clearance: _Clearance,
) -> tuple[Road, DarkStretch] | None:  # fmt: skip
    """The road drawn on past its last pole (`lamp_id`), and the stretch that is dark; None
    when some other lamp stands too near the stretch (the caller tries another road)."""
    (lon0, lat0), (lon1, lat1) = [(p.lon, p.lat) for p in road.line[-2:]]
    azimuth = GEOD.inv(lon0, lat0, lon1, lat1)[0]
    extension = _extension(rng, shape, (lon1, lat1), azimuth, distance)
    # the dark begins on the first leg, `distance` from the last pole
    first_az = GEOD.inv(lon1, lat1, *extension[0])[0]
    begin = tuple(GEOD.fwd(lon1, lat1, first_az, distance)[:2])
    points = [(begin[0], begin[1]), *extension]
    samples = _samples(points)
    if clearance.nearest(samples, but=lamp_id) < distance + CLEARANCE_M:
        return None
    # past the first leg, a corner or a curve must not come back towards the last pole
    if len(extension) > 1 and clearance.nearest(_samples(extension), but=None) < distance + 1:
        return None
    line = (*road.line, *(GeoPoint(lat=lat, lon=lon) for lon, lat in extension))
    extended = dataclasses.replace(road, line=line)
    stretch = DarkStretch(road.id, road.site_id, distance, tuple(points), _length(points))
    return extended, stretch


def _unlit_road(
    rng: random.Random, site: Site, near: GeoPoint, distance: float, clearance: _Clearance
) -> tuple[Road, DarkStretch] | None:
    """A straight road of 80-200 m some way off a site's lamps, with no lamp near it."""
    start = _round(*GEOD.fwd(near.lon, near.lat, rng.uniform(0, 360), rng.uniform(150, 300))[:2])
    end = _round(*GEOD.fwd(*start, rng.uniform(0, 360), rng.uniform(80, 200))[:2])
    points = [start, end]
    if clearance.nearest(_samples(points), but=None) < distance + CLEARANCE_M:
        return None
    line = tuple(GeoPoint(lat=lat, lon=lon) for lon, lat in points)
    road = Road(f"{site.id}-R9", f"{site.name}后巷", site.id, site.road_class, line)
    return road, DarkStretch(road.id, site.id, distance, tuple(points), _length(points))


def survey(
    inventory: Inventory, seed: int, rule: DarkRoadRule | None = None
) -> tuple[Inventory, list[DarkStretch]]:
    """The inventory with its roads and projects, and the dark stretches drawn among them."""
    rule = rule or DarkRoadRule()
    rng = random.Random(seed)
    poles = _site_poles(inventory)
    roads = {
        road.id: road
        for site_id, site in inventory.sites.items()
        for road in _lamp_roads(site, poles.get(site_id, []))
    }
    clearance = _Clearance(list(inventory.lamps.values()))
    last_lamp = {site: max(lamp_id for lamp_id, _ in _numbered(inventory, site))
                 for site in poles}  # fmt: skip
    streets = sorted(
        (s for s in inventory.sites.values() if s.category is SiteCategory.BACK_STREET),
        key=lambda s: rng.random(),
    )
    dark: list[DarkStretch] = []
    shapes = list(SHAPES)
    for site in streets:
        if not shapes:
            break
        road = roads[f"{site.id}-R1"]
        found = _dark_extension(rng, shapes[0], road, last_lamp[site.id],
                                distance=rule.distance_m(road.road_class),
                                clearance=clearance)  # fmt: skip
        if found is not None:
            roads[road.id], stretch = found
            dark.append(stretch)
            shapes.pop(0)
    unlit = 0
    for site in streets[::-1]:
        if unlit == UNLIT_ROADS:
            break
        made = _unlit_road(rng, site, poles[site.id][0], rule.distance_m(site.road_class),
                           clearance)  # fmt: skip
        if made is not None:
            road, stretch = made
            roads[road.id] = road
            dark.append(stretch)
            unlit += 1
    if shapes or unlit < UNLIT_ROADS:
        raise RuntimeError("could not place every dark stretch clear of the lamps")
    projects = _projects(inventory)
    surveyed = dataclasses.replace(inventory, roads=dict(sorted(roads.items())), projects=projects)
    return surveyed, sorted(dark, key=lambda stretch: stretch.road)


def _numbered(inventory: Inventory, site_id: str) -> Iterator[tuple[str, Lamp]]:
    for lamp in inventory.lamps.values():
        if lamp.id.startswith(f"{site_id}-L"):
            yield lamp.id, lamp


def _projects(inventory: Inventory) -> dict[str, Project]:
    """The two phases of the programme (the projects the lamps name), each with the sites whose
    lamps it installed; implementation runs from the first lamp's install date to the last."""
    by_name: dict[str, set[str]] = {}
    installed: dict[str, list[date]] = {}
    for lamp in inventory.lamps.values():
        if lamp.project is None:
            continue
        by_name.setdefault(lamp.project, set()).add(inventory.place(lamp.id).site_id)
        if lamp.installed_on is not None:
            installed.setdefault(lamp.project, []).append(lamp.installed_on)
    projects = {}
    for (project_id, survey_dates, acceptance, handover), name in zip(
        PROJECT_PLANS, sorted(by_name), strict=True
    ):
        days = installed[name]
        projects[project_id] = Project(
            id=project_id,
            name=name,
            site_ids=tuple(by_name[name]),
            survey_start=survey_dates[0],
            survey_end=survey_dates[1],
            implementation_start=min(days),
            implementation_end=max(days),
            acceptance_start=acceptance[0],
            acceptance_end=acceptance[1],
            handover_start=handover[0],
            handover_end=handover[1],
        )
    return projects
