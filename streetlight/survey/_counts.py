"""Survey counts (调查摸底: points and quantities known): per site, community, subdistrict or
the district, the lamps planned, installed, registered in the system and reporting.

- planned: the lamps of the renovation plan, `planned` or `installed` (not `retired`);
- installed: `installed`;
- registered: installed, and the system can take its reports: its profile is a lamp profile
  of STREETLIGHT_PROFILES_DIR and it has the device address that profile finds lamps by,
  where it finds them by address; when the plan is a file (the survey's own inventory),
  also held in the store as installed;
- reporting: registered, with a `lamp` point in InfluxDB within the reporting window before
  the moment asked about (3 reporting intervals of 60 s by default, as `lamp_offline` judges
  silence).

Each count holds the next: planned >= installed >= registered >= reporting. docs/contract.md
("Survey") gives the reasons.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import date

from streetlight.domain import Inventory, KpiScope, LampStatus
from streetlight.inventory import InventoryFile, RecordCheck

COLUMNS = ("scope", "id", "name", "subdistrict", "community", "project", "phase",
           "planned", "installed", "registered", "reporting")  # fmt: skip


@dataclass(frozen=True, slots=True)
class SurveyCount:
    """One node's counts; its ancestors' ids where it has them, a site's project and the
    project's phase on the day asked about."""

    scope: str
    id: str
    name: str
    subdistrict: str | None
    community: str | None
    project: str | None
    phase: str | None
    planned: int
    installed: int
    registered: int
    reporting: int


def registered_lamps(
    plan: InventoryFile,
    check: RecordCheck,
    in_store: Collection[str] | None = None,
) -> set[str]:
    """The plan's installed lamps the system can take reports from: `check` (the profiles')
    finds nothing wrong with them, and, where `in_store` is given (the plan is a file), the
    store holds them installed."""
    registered = set()
    for lamp in plan.inventory.lamps.values():
        if plan.status.get(lamp.id, LampStatus.INSTALLED) is not LampStatus.INSTALLED:
            continue
        if in_store is not None and lamp.id not in in_store:
            continue
        if not check("lamp", lamp.id, lamp.profile, lamp.device_address):
            registered.add(lamp.id)
    return registered


def _node_of(inventory: Inventory, scope: KpiScope, site_id: str) -> str:
    site = inventory.sites[site_id]
    if scope is KpiScope.SITE:
        return site_id
    community = inventory.communities[site.community_id]
    if scope is KpiScope.COMMUNITY:
        return community.id
    if scope is KpiScope.SUBDISTRICT:
        return community.subdistrict_id
    return inventory.district.id


def survey_counts(
    plan: InventoryFile,
    scope: KpiScope,
    *,
    registered: Collection[str],
    reporting: Collection[str],
    on: date,
) -> list[SurveyCount]:
    """Every node of `scope` (those without lamps too), in id order."""
    inventory = plan.inventory
    counts: dict[str, list[int]] = {node: [0, 0, 0, 0] for node in _nodes(inventory, scope)}
    for lamp_id in inventory.lamps:
        status = plan.status.get(lamp_id, LampStatus.INSTALLED)
        if status is LampStatus.RETIRED:
            continue
        node = counts[_node_of(inventory, scope, inventory.place(lamp_id).site_id)]
        node[0] += 1
        if status is LampStatus.INSTALLED:
            node[1] += 1
            if lamp_id in registered:
                node[2] += 1
                node[3] += lamp_id in reporting
    return [_row(inventory, scope, node, n, on) for node, n in sorted(counts.items())]


def _nodes(inventory: Inventory, scope: KpiScope) -> Mapping[str, object]:
    nodes: dict[KpiScope, Mapping[str, object]] = {
        KpiScope.SITE: inventory.sites,
        KpiScope.COMMUNITY: inventory.communities,
        KpiScope.SUBDISTRICT: inventory.subdistricts,
        KpiScope.DISTRICT: {inventory.district.id: inventory.district},
    }
    return nodes[scope]


def _row(inventory: Inventory, scope: KpiScope, node: str, n: list[int], on: date) -> SurveyCount:
    subdistrict = community = project = phase = None
    if scope is KpiScope.SITE:
        site = inventory.sites[node]
        name, community = site.name, site.community_id
        subdistrict = inventory.communities[community].subdistrict_id
        found = inventory.project_of(node)
        if found is not None:
            project = found.id
            now = found.phase_on(on)
            phase = None if now is None else now.value
    elif scope is KpiScope.COMMUNITY:
        name = inventory.communities[node].name
        subdistrict = inventory.communities[node].subdistrict_id
    elif scope is KpiScope.SUBDISTRICT:
        name = inventory.subdistricts[node].name
    else:
        name = inventory.district.name
    return SurveyCount(scope.value, node, name, subdistrict, community, project, phase, *n)


def counts_csv(rows: list[SurveyCount]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()
