"""The asset tree as the KPIs see it: lamps by index, sites by index, and every node a figure
is written for (docs/contract.md, "KPI measurements": scopes).

Figures are counted per site and summed upwards, so each node keeps the indices of its sites;
each node's series keys are built once (every tag follows from the node).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from streetlight.contract import KPI, KPI_NIGHT, SWITCHING
from streetlight.domain import Inventory, KpiScope, LightingTargets, scope_nodes, scope_tags
from streetlight.influx import series_key
from streetlight.schedule import NOON, Place, site_places

MARK_S = 300  # `kpi` every 300 s of clock time, at multiples of 300 s since the epoch
SUN_CELL_DEG = 0.05  # sites this close share their dusk and dawn (seconds apart)
DARK_CACHE = 10_000  # dusk-and-dawn reckonings kept (a few per night)


@dataclass(frozen=True, slots=True)
class Node:
    """One node of the tree: a site, community, subdistrict or the district."""

    scope: KpiScope
    id: str
    sites: tuple[int, ...]  # indices of the sites beneath it (a site: itself)
    kpi: str  # series keys
    night: str
    switching: str


class KpiTree:
    """Lamps, sites and nodes of one inventory, numbered for counting."""

    def __init__(self, inventory: Inventory, targets: LightingTargets) -> None:
        self.inventory = inventory
        self.tz: ZoneInfo = inventory.district.tz
        self.sites = sorted(inventory.sites)
        self.site_index = {site: index for index, site in enumerate(self.sites)}
        self.site_target = [targets.of(inventory.sites[s].road_class) for s in self.sites]
        self.site_road = [inventory.sites[s].road_class for s in self.sites]
        self.subdistrict_of = {
            site.id: inventory.communities[site.community_id].subdistrict_id
            for site in inventory.sites.values()
        }
        self.places = site_places(inventory)
        self._dark: dict[tuple[int, int, int], tuple[datetime, datetime] | None] = {}
        self.lamps = sorted(inventory.lamps)
        self.lamp_site: list[int] = []
        self.lamp_circuit: list[str] = []
        self.lamp_cabinet: list[str] = []
        self.rated: list[float] = []
        self.site_lamps = [0] * len(self.sites)
        self.site_rated_w = [0.0] * len(self.sites)
        for lamp_id in self.lamps:
            lamp = inventory.lamps[lamp_id]
            cabinet = inventory.cabinets[inventory.circuits[lamp.circuit_id].cabinet_id]
            site = self.site_index[cabinet.site_id]
            self.lamp_site.append(site)
            self.lamp_circuit.append(lamp.circuit_id)
            self.lamp_cabinet.append(cabinet.id)
            self.rated.append(lamp.rated_power_w)
            self.site_lamps[site] += 1
            self.site_rated_w[site] += lamp.rated_power_w
        members: dict[tuple[KpiScope, str], list[int]] = {}
        for index, site_id in enumerate(self.sites):
            community = inventory.communities[inventory.sites[site_id].community_id]
            for key in (
                (KpiScope.SITE, site_id),
                (KpiScope.COMMUNITY, community.id),
                (KpiScope.SUBDISTRICT, community.subdistrict_id),
                (KpiScope.DISTRICT, inventory.district.id),
            ):
                members.setdefault(key, []).append(index)
        self.nodes: list[Node] = []
        for scope, node_id in scope_nodes(inventory):
            tags = scope_tags(inventory, scope, node_id)
            self.nodes.append(
                Node(
                    scope,
                    node_id,
                    tuple(members.get((scope, node_id), ())),
                    series_key(KPI.name, tags),
                    series_key(KPI_NIGHT.name, tags),
                    series_key(SWITCHING.name, tags),
                )
            )

    # --- nights ---------------------------------------------------------------------------------

    def night_of(self, moment: datetime) -> date:
        """The evening's date of the night `moment` is in (nights run from local noon)."""
        local = moment.astimezone(self.tz)
        return local.date() if local.time() >= NOON else local.date() - timedelta(days=1)

    def night_start(self, night: date) -> datetime:
        return datetime.combine(night, NOON, self.tz)

    def night_end(self, night: date) -> datetime:
        return datetime.combine(night + timedelta(days=1), NOON, self.tz)

    def dark(self, site: int, night: date) -> tuple[datetime, datetime] | None:
        """Civil dusk on the evening and civil dawn the next morning at a site (None where the
        sun does not go that low, or the site has no cabinet to place it). Sites within the
        same 0.05 degrees share one reckoning: a few seconds apart, and a district of a
        thousand sites needs a handful."""
        place = self.places.get(self.sites[site])
        if place is None:
            return None
        cell = (round(place.latitude / SUN_CELL_DEG), round(place.longitude / SUN_CELL_DEG))
        key = (*cell, night.toordinal())
        if key not in self._dark:
            centre = Place(cell[0] * SUN_CELL_DEG, cell[1] * SUN_CELL_DEG, place.timezone)
            dusk = centre.sun(night).dusk
            dawn = centre.sun(night + timedelta(days=1)).dawn
            self._dark[key] = None if dusk is None or dawn is None else (dusk, dawn)
            if len(self._dark) > DARK_CACHE:
                del self._dark[next(iter(self._dark))]
        return self._dark[key]


def mark_after(moment: datetime) -> datetime:
    """The first mark at or after `moment`."""
    seconds = moment.timestamp()
    marks = -(-seconds // MARK_S)  # ceiling
    return datetime.fromtimestamp(marks * MARK_S, moment.tzinfo)
