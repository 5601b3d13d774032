"""Generate the sample inventory of Xunyang district (浔阳区, Jiujiang), reproducibly.

    python examples/xunyang/generate.py            # writes examples/xunyang/inventory.geojson

The five subdistricts are real; communities, sites and poles are illustrative, laid out around
each subdistrict's centre near 29.73 N 115.99 E: back streets as lamps along a crooked line,
compounds as lamps along a grid of paths, about 25-30 m between poles. The survey (roads.py)
adds the roads along them, a few dark stretches beside them (written to dark-roads.geojson
next to the inventory, for the tests) and the renovation projects. The same seed gives the
same files, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from streetlight.domain import (
    Cabinet,
    Circuit,
    Community,
    District,
    GeoPoint,
    Inventory,
    Lamp,
    Maintainer,
    MaintainerKind,
    Phase,
    RoadClass,
    Site,
    SiteCategory,
    Subdistrict,
)
from streetlight.inventory import dump_geojson

sys.path.insert(0, str(Path(__file__).parent))  # roads.py beside this script, when imported
from roads import survey

SEED = 20261121
SURVEY_SEED = SEED + 18  # roads and projects draw from their own stream: the lamps stay put
METRES_PER_DEG_LAT = 111_320.0
LAMPS_PER_CABINET = 36  # a cabinet feeds about this many lamps before the next one is added


@dataclass(frozen=True)
class _SubdistrictPlan:
    id: str
    name: str
    centre: tuple[float, float]  # lat, lon
    communities: tuple[tuple[str, str], ...]


SUBDISTRICTS = (
    _SubdistrictPlan(
        "PP",
        "湓浦街道",
        (29.7385, 115.9705),
        (("PP-C1", "西园社区"), ("PP-C2", "湓浦社区"), ("PP-C3", "柴桑社区")),
    ),
    _SubdistrictPlan(
        "GT",
        "甘棠街道",
        (29.7235, 115.9850),
        (("GT-C1", "甘棠社区"), ("GT-C2", "南湖社区"), ("GT-C3", "庾亮社区")),
    ),
    _SubdistrictPlan(
        "RML",
        "人民路街道",
        (29.7320, 115.9925),
        (("RML-C1", "大中路社区"), ("RML-C2", "龙开河社区"), ("RML-C3", "滨江社区")),
    ),
    _SubdistrictPlan(
        "BSH",
        "白水湖街道",
        (29.7120, 116.0050),
        (("BSH-C1", "白水湖社区"), ("BSH-C2", "八角石社区"), ("BSH-C3", "滨兴社区")),
    ),
    _SubdistrictPlan(
        "JJP",
        "金鸡坡街道",
        (29.6985, 115.9760),
        (("JJP-C1", "金鸡坡社区"), ("JJP-C2", "十里社区"), ("JJP-C3", "化纤社区")),
    ),
)

CITY_TEAM = Maintainer("XY-LDS", "浔阳区城市管理局路灯管理所", MaintainerKind.CITY_MANAGEMENT)
PROPERTY_COMPANIES = (
    Maintainer("WY-XC", "浔城物业服务有限公司", MaintainerKind.PROPERTY_COMPANY),
    Maintainer("WY-LS", "庐山物业管理有限公司", MaintainerKind.PROPERTY_COMPANY),
    Maintainer("WY-CJ", "长江之星物业有限公司", MaintainerKind.PROPERTY_COMPANY),
)

SITE_NAMES = {
    SiteCategory.BACK_STREET: (
        "巷",
        (
            "柴桑",
            "湓城",
            "庾亮",
            "九华",
            "塔岭",
            "龙开",
            "石板",
            "琵琶",
            "烟水",
            "浪井",
            "能仁",
            "花园",
            "姑塘",
            "锁江",
        ),
    ),
    SiteCategory.OLD_COMPOUND: (
        "宿舍区",
        ("化纤厂", "针织厂", "棉纺厂", "港务局", "轮船公司", "铁路", "粮食局", "电厂"),
    ),
    SiteCategory.OPEN_COMPOUND: ("小区", ("甘棠", "南湖", "湖滨", "八角石", "白水", "金鸡")),
    SiteCategory.MANAGED_COMPOUND: ("花园", ("滨江", "浔阳", "琴湖", "长虹", "天景", "锦绣")),
}
# per subdistrict, in order: how many sites of each category
SITE_MIX = (
    (SiteCategory.BACK_STREET, 4),
    (SiteCategory.OLD_COMPOUND, 2),
    (SiteCategory.OPEN_COMPOUND, 2),
    (SiteCategory.MANAGED_COMPOUND, 1),
)
ROAD_CLASSES = {
    SiteCategory.BACK_STREET: (RoadClass.BRANCH, RoadClass.BRANCH, RoadClass.SECONDARY),
    SiteCategory.OLD_COMPOUND: (RoadClass.RESIDENTIAL_PATH,),
    SiteCategory.OPEN_COMPOUND: (RoadClass.RESIDENTIAL_PATH, RoadClass.BRANCH),
    SiteCategory.MANAGED_COMPOUND: (RoadClass.RESIDENTIAL_PATH,),
}
RATED_POWER_W = {
    RoadClass.MAIN: (120.0, 150.0),
    RoadClass.SECONDARY: (80.0, 100.0),
    RoadClass.BRANCH: (50.0, 60.0),
    RoadClass.RESIDENTIAL_PATH: (30.0, 40.0),
}
# which lamp and cabinet controller models a site gets (profile ids, see profiles/)
MQTT_LAMP, MODBUS_LAMP_A, MODBUS_LAMP_B = "slc-mqtt-a", "slc-modbus-a", "slc-modbus-b"
CABINET_A, CABINET_B = "cabinet-modbus-a", "cabinet-modbus-b"
PROJECTS = ("浔阳区照亮工程（2026）一期", "浔阳区照亮工程（2026）二期")


def _offset(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    lat, lon = origin
    return (
        lat + north_m / METRES_PER_DEG_LAT,
        lon + east_m / (METRES_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def _street_poles(rng: random.Random, start: tuple[float, float], count: int) -> list[GeoPoint]:
    """Poles along a crooked alley: each step 22-32 m, heading wandering a little."""
    heading = rng.uniform(0, 2 * math.pi)
    point, poles = start, []
    for _ in range(count):
        poles.append(GeoPoint(lat=round(point[0], 6), lon=round(point[1], 6)))
        heading += rng.gauss(0, 0.25)
        step = rng.uniform(22, 32)
        point = _offset(point, step * math.cos(heading), step * math.sin(heading))
    return poles


def _compound_poles(rng: random.Random, corner: tuple[float, float], count: int) -> list[GeoPoint]:
    """Poles along the paths of a compound: rows 40 m apart, poles 25 m apart on each row."""
    per_row = max(4, round(math.sqrt(count * 1.6)))
    poles = []
    for index in range(count):
        row, col = divmod(index, per_row)
        north = row * 40.0 + rng.uniform(-2, 2)
        east = col * 25.0 + rng.uniform(-2, 2)
        lat, lon = _offset(corner, north, east)
        poles.append(GeoPoint(lat=round(lat, 6), lon=round(lon, 6)))
    return poles


def generate(seed: int = SEED, scale: int = 1) -> Inventory:
    """The district; `scale` multiplies the number of sites (benchmarks use larger districts)."""
    rng = random.Random(seed)
    district = District("XY", "浔阳区", "Asia/Shanghai")
    subdistricts, communities, sites = {}, {}, {}
    cabinets: dict[str, Cabinet] = {}
    circuits: dict[str, Circuit] = {}
    lamps: dict[str, Lamp] = {}
    maintainers = {m.id: m for m in (CITY_TEAM, *PROPERTY_COMPANIES)}
    name_pools = {category: list(names) for category, (_, names) in SITE_NAMES.items()}
    for pool in name_pools.values():
        rng.shuffle(pool)

    for plan in SUBDISTRICTS:
        subdistricts[plan.id] = Subdistrict(plan.id, plan.name, district.id)
        for community_id, community_name in plan.communities:
            communities[community_id] = Community(community_id, community_name, plan.id)
        site_number = 0
        for category, how_many in SITE_MIX:
            for _ in range(how_many * scale):
                site_number += 1
                community_id = plan.communities[site_number % len(plan.communities)][0]
                suffix, _ = SITE_NAMES[category]
                name = name_pools[category].pop() + suffix
                if not name_pools[category]:  # reuse names in later subdistricts, as cities do
                    name_pools[category] = list(SITE_NAMES[category][1])
                    rng.shuffle(name_pools[category])
                road_class = rng.choice(ROAD_CLASSES[category])
                if category is SiteCategory.BACK_STREET and site_number == 1:
                    road_class = RoadClass.MAIN  # each subdistrict has one lit main-road stretch
                maintainer = (
                    rng.choice(PROPERTY_COMPANIES)
                    if category is SiteCategory.MANAGED_COMPOUND
                    else CITY_TEAM
                )
                site = Site(
                    id=f"{plan.id}-S{site_number:02d}",
                    name=name,
                    community_id=community_id,
                    category=category,
                    road_class=road_class,
                    maintainer_id=maintainer.id,
                )
                sites[site.id] = site
                _populate_site(rng, plan, site, cabinets=cabinets, circuits=circuits, lamps=lamps)

    return Inventory(
        district=district,
        subdistricts=subdistricts,
        communities=communities,
        maintainers=maintainers,
        sites=sites,
        cabinets=cabinets,
        circuits=circuits,
        lamps=lamps,
    )


def _populate_site(
    rng: random.Random,
    plan: _SubdistrictPlan,
    site: Site,
    *,
    cabinets: dict[str, Cabinet],
    circuits: dict[str, Circuit],
    lamps: dict[str, Lamp],
) -> None:
    origin = _offset(plan.centre, rng.uniform(-650, 650), rng.uniform(-650, 650))
    if site.category is SiteCategory.BACK_STREET:
        count = rng.randint(24, 64)
        poles = _street_poles(rng, origin, count)
        lamp_profile, cabinet_profile = MQTT_LAMP, CABINET_A
    else:
        count = rng.randint(30, 80)
        poles = _compound_poles(rng, origin, count)
        model_b = site.category is SiteCategory.MANAGED_COMPOUND or rng.random() < 0.25
        lamp_profile = MODBUS_LAMP_B if model_b else MODBUS_LAMP_A
        cabinet_profile = CABINET_B if model_b else CABINET_A
    rated = rng.choice(RATED_POWER_W[site.road_class])
    project = PROJECTS[0] if rng.random() < 0.6 else PROJECTS[1]
    installed = date(2026, 3, 1) + timedelta(days=rng.randint(0, 180))

    cabinet_count = max(1, math.ceil(count / LAMPS_PER_CABINET))
    per_cabinet = math.ceil(count / cabinet_count)
    for k in range(cabinet_count):
        share = poles[k * per_cabinet : (k + 1) * per_cabinet]
        cabinet_id = f"{site.id}-K{k + 1}"
        circuit_count = min(4, max(2, math.ceil(len(share) / 12)))
        circuit_ids = tuple(f"{cabinet_id}-C{n}" for n in range(1, circuit_count + 1))
        first = share[0]
        cab_lat, cab_lon = _offset((first.lat, first.lon), rng.uniform(-8, 8), rng.uniform(-8, 8))
        cabinets[cabinet_id] = Cabinet(
            id=cabinet_id,
            name=f"{site.name}{k + 1}号控制柜",
            site_id=site.id,
            location=GeoPoint(lat=round(cab_lat, 6), lon=round(cab_lon, 6)),
            profile=cabinet_profile,
            circuit_ids=circuit_ids,
        )
        for number, circuit_id in enumerate(circuit_ids, start=1):
            circuits[circuit_id] = Circuit(id=circuit_id, cabinet_id=cabinet_id, number=number)
        per_circuit = math.ceil(len(share) / circuit_count)
        phases = (Phase.A, Phase.B, Phase.C)
        for index, pole in enumerate(share):
            lamp_number = k * per_cabinet + index + 1
            lamp_id = f"{site.id}-L{lamp_number:03d}"
            lamps[lamp_id] = Lamp(
                id=lamp_id,
                circuit_id=circuit_ids[index // per_circuit],
                location=pole,
                rated_power_w=rated,
                phase=phases[index % 3],
                profile=lamp_profile,
                installed_on=installed + timedelta(days=index // 20),
                project=project,
            )


def _geojson_text(inventory: Inventory) -> str:
    """GeoJSON with one feature per line: compact, and a change to one lamp is a one-line diff."""
    document = dump_geojson(inventory)
    features = document.pop("features")
    head = json.dumps(document, ensure_ascii=False)[:-1]
    lines = [json.dumps(feature, ensure_ascii=False) for feature in features]
    return head + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("inventory.geojson"), help="output"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--scale", type=int, default=1, help="multiply the number of sites")
    args = parser.parse_args()
    inventory, dark = survey(generate(args.seed, args.scale), args.seed + SURVEY_SEED - SEED)
    args.out.write_text(_geojson_text(inventory), encoding="utf-8")
    truth = args.out.with_name("dark-roads.geojson")
    lines = [json.dumps(stretch.feature(), ensure_ascii=False) for stretch in dark]
    truth.write_text(
        '{"type": "FeatureCollection", "features": [\n' + ",\n".join(lines) + "\n]}\n",
        encoding="utf-8",
    )
    print(f"{args.out}: {inventory.summary()}")
    print(f"{truth}: {len(dark)} dark stretches, {sum(s.length_m for s in dark):.0f} m")


if __name__ == "__main__":
    main()
