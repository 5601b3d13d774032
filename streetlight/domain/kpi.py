"""What the district is judged by (DESIGN.md section 7): KPI scopes and lighting-rate targets.

The definitions of the figures themselves are in docs/contract.md ("KPI measurements"); this
module holds the parts every writer and reader of them shares: the levels of the asset tree a
KPI is computed for, the tags that place a figure in the tree, and the lighting-rate target of
each road class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from streetlight.domain.model import Inventory, RoadClass


class KpiScope(StrEnum):
    """The levels of the asset tree a KPI figure is computed for (the `scope` tag)."""

    SITE = "site"
    COMMUNITY = "community"
    SUBDISTRICT = "subdistrict"
    DISTRICT = "district"


# 亮灯率 targets, percent: Hebei provincial lighting rules art. 27 (main roads 98 %, secondary
# roads and branch streets 96 %); residential paths take the 95 % that other cities use
DEFAULT_LIGHTING_TARGETS: Mapping[RoadClass, float] = MappingProxyType(
    {
        RoadClass.MAIN: 98.0,
        RoadClass.SECONDARY: 96.0,
        RoadClass.BRANCH: 96.0,
        RoadClass.RESIDENTIAL_PATH: 95.0,
    }
)
INTEGRITY_TARGET_PCT = 95.0  # 设施完好率


@dataclass(frozen=True, slots=True)
class LightingTargets:
    """The lighting-rate target of each road class, in percent; every class must have one."""

    by_road_class: Mapping[RoadClass, float] = field(
        default_factory=lambda: dict(DEFAULT_LIGHTING_TARGETS)
    )

    def __post_init__(self) -> None:
        missing = [road.value for road in RoadClass if road not in self.by_road_class]
        if missing:
            raise ValueError(f"lighting targets: no target for road class {', '.join(missing)}")
        for road, target in self.by_road_class.items():
            if not 0.0 < target <= 100.0:
                raise ValueError(
                    f"lighting targets: {road.value} must be above 0 and at most 100, got {target}"
                )

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> LightingTargets:
        """The defaults with some classes changed (``{"main": 99}``); an unknown class is
        refused, naming it."""
        targets = dict(DEFAULT_LIGHTING_TARGETS)
        for name, value in overrides.items():
            try:
                targets[RoadClass(name)] = float(value)
            except ValueError:
                known = ", ".join(road.value for road in RoadClass)
                raise ValueError(
                    f"lighting targets: unknown road class {name!r} (known: {known})"
                ) from None
        return cls(targets)

    def of(self, road_class: RoadClass) -> float:
        return self.by_road_class[road_class]

    def aggregate(self, should_lit_by_road_class: Mapping[RoadClass, int]) -> float | None:
        """The target of a group of sites: the mean of their targets weighted by the lamps that
        should be lit on each, i.e. the rate the group has when every site just meets its own.
        None when no lamp should be lit."""
        total = sum(should_lit_by_road_class.values())
        if total == 0:
            return None
        weighted = sum(self.of(road) * n for road, n in should_lit_by_road_class.items())
        return weighted / total


def scope_tags(inventory: Inventory, scope: KpiScope, node_id: str) -> dict[str, str]:
    """The tags of a KPI point about one node of the tree: `scope`, the ids of the node and its
    ancestors, the node's `name`, and `road_class` for a site. Every tag follows from the node,
    so a node is one series however many tags it carries. Raises KeyError for an unknown node."""
    district = inventory.district
    tags = {"scope": scope.value, "district": district.id}
    if scope is KpiScope.DISTRICT:
        if node_id != district.id:
            raise KeyError(f"district {node_id!r}")
        return {**tags, "name": district.name}
    if scope is KpiScope.SUBDISTRICT:
        subdistrict = inventory.subdistricts[node_id]
        return {**tags, "subdistrict": node_id, "name": subdistrict.name}
    if scope is KpiScope.COMMUNITY:
        community = inventory.communities[node_id]
        return {
            **tags,
            "subdistrict": community.subdistrict_id,
            "community": node_id,
            "name": community.name,
        }
    site = inventory.sites[node_id]
    community = inventory.communities[site.community_id]
    return {
        **tags,
        "subdistrict": community.subdistrict_id,
        "community": community.id,
        "site": node_id,
        "name": site.name,
        "road_class": site.road_class.value,
    }


def scope_nodes(inventory: Inventory) -> list[tuple[KpiScope, str]]:
    """Every node a KPI figure is written for: each site, community and subdistrict, and the
    district; leaves first."""
    return [
        *((KpiScope.SITE, site_id) for site_id in sorted(inventory.sites)),
        *((KpiScope.COMMUNITY, cid) for cid in sorted(inventory.communities)),
        *((KpiScope.SUBDISTRICT, sid) for sid in sorted(inventory.subdistricts)),
        (KpiScope.DISTRICT, inventory.district.id),
    ]
