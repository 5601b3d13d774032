"""Assemble validated records into an `Inventory`, reporting every problem with its row.

Every row is read and every problem reported (up to `max_problems`, if given): a row that
does not validate, then what is wrong between rows (a lamp on a cabinet no row gives, a
circuit of another cabinet, an address given twice). What a refused row's absence explains
(the lamps of a cabinet whose own row is wrong) is not reported again.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streetlight.domain import (
    Cabinet,
    Circuit,
    Community,
    District,
    GeoPoint,
    Inventory,
    Lamp,
    LampStatus,
    Maintainer,
    Project,
    Road,
    Site,
    Subdistrict,
)
from streetlight.errors import StreetlightError
from streetlight.inventory._records import (
    CabinetRecord,
    LampRecord,
    ProjectRecord,
    RecordError,
    RoadRecord,
    parse_record,
)

MAX_PROBLEMS = 50

# a check of one record besides its own validation (e.g. that its profile exists):
# (kind, id, profile, device_address) -> (property, reason) per problem
RecordCheck = Callable[[str, str, str, str | None], list[tuple[str, str]]]

# the record property that carries each attribute of a tree node
_PROPERTY = {
    ("district", "name"): "district_name",
    ("district", "timezone"): "timezone",
    ("subdistrict", "name"): "subdistrict_name",
    ("subdistrict", "parent"): "district",
    ("community", "name"): "community_name",
    ("community", "parent"): "subdistrict",
    ("maintainer", "name"): "maintainer_name",
    ("maintainer", "kind"): "maintainer_kind",
    ("site", "name"): "site_name",
    ("site", "parent"): "community",
    ("site", "category"): "site_category",
    ("site", "road_class"): "road_class",
    ("site", "maintainer"): "maintainer",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of an inventory file: where (`row 12`, `feature 3`, `file`), the record's id
    when it has one, the property at fault when one is, and why."""

    source: str
    where: str
    message: str
    id: str | None = None
    field: str | None = None


class InventoryError(StreetlightError):
    """An inventory file that cannot be loaded; `problems` holds one line per bad row,
    `details` one `Problem` per wrong property."""

    def __init__(self, problems: list[str], details: list[Problem] | None = None) -> None:
        self.problems = problems
        self.details = (
            details
            if details is not None
            else [Problem(source="", where="file", message=line) for line in problems]
        )
        super().__init__("\n".join(problems))

    @classmethod
    def of_file(cls, source: str, message: str) -> InventoryError:
        """The whole file is wrong (unreadable, not the format it claims)."""
        return cls([f"{source}: {message}"], [Problem(source, "file", message)])


@dataclass(frozen=True)
class InventoryFile:
    """What an inventory file holds: every lamp and cabinet, and the `status` of each lamp whose
    record gives one (a lamp without is installed when new, and keeps its status in a store)."""

    inventory: Inventory
    status: Mapping[str, LampStatus] = field(default_factory=dict)

    def in_field(self) -> Inventory:
        """Without the lamps planned or retired: the lamps the processes work with."""
        gone = {k for k, status in self.status.items() if status is not LampStatus.INSTALLED}
        if not gone:
            return self.inventory
        lamps = {k: lamp for k, lamp in self.inventory.lamps.items() if k not in gone}
        return dataclasses.replace(self.inventory, lamps=lamps)


@dataclass
class _Entity:
    """Attributes of one tree node, gathered from the records that mention it."""

    first_seen: str
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Collector:
    source: str
    check: RecordCheck | None = None
    problems: list[str] = field(default_factory=list)  # one line per bad row
    details: list[Problem] = field(default_factory=list)  # one per wrong property
    line_ends: list[int] = field(default_factory=list)  # len(details) after each line
    nodes: dict[tuple[str, str], _Entity] = field(default_factory=dict)
    # a lamp is built as soon as its row is read (rows are not kept: districts are large)
    lamps: dict[str, tuple[str, Lamp, str, str]] = field(
        default_factory=dict
    )  # where, lamp, cabinet, site
    cabinets: dict[str, tuple[str, CabinetRecord]] = field(default_factory=dict)
    roads: dict[str, tuple[str, RoadRecord]] = field(default_factory=dict)
    projects: dict[str, tuple[str, ProjectRecord]] = field(default_factory=dict)
    status: dict[str, LampStatus] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)  # ids of records refused row by row

    def problem(self, where: str, message: str, field: str | None = None) -> None:
        self.problems.append(f"{self.source}: {where}: {message}")
        self.details.append(Problem(self.source, where, message, field=field))
        self.line_ends.append(len(self.details))

    def refuse(
        self, where: str, label: str | None, reasons: Sequence[tuple[str | None, str]]
    ) -> None:
        """A record refused: one line for its row, a detail per reason."""
        if label is not None:
            self.refused.add(label)
        shown = f"{where} ({label})" if label is not None else where
        self.problems.append(f"{self.source}: {shown}: {'; '.join(r for _f, r in reasons)}")
        self.details.extend(Problem(self.source, where, r, label, f) for f, r in reasons)
        self.line_ends.append(len(self.details))

    def describe(self, where: str, node_kind: str, node_id: str | None, **attrs: Any) -> None:
        """Record what this row says about a node; disagreements with earlier rows are problems."""
        if node_id is None:
            return
        entity = self.nodes.setdefault((node_kind, node_id), _Entity(first_seen=where))
        for key, value in attrs.items():
            if value is None:
                continue
            known = entity.attrs.get(key)
            if known is None:
                entity.attrs[key] = value
            elif known != value:
                self.problem(
                    where,
                    f"{node_kind} {node_id!r}: {key} {str(value)!r} conflicts with {str(known)!r} "
                    f"given at {entity.first_seen}",
                    _PROPERTY.get((node_kind, key), key),
                )

    def add(self, where: str, properties: dict[str, Any] | str) -> None:
        if isinstance(properties, str):
            self.problem(where, properties)
            return
        label = properties.get("id")
        label = label if isinstance(label, str) else None
        try:
            record = parse_record(properties)
        except RecordError as exc:
            self.refuse(where, label, exc.reasons)
            return
        if isinstance(record, RoadRecord | ProjectRecord):
            self._add_plain(where, record)
            return
        if self.check is not None:
            device = record.device_address
            found = self.check(record.kind, record.id, record.profile, device)
            if found:
                self.refuse(where, label, found)
                return
        self._describe_tree(where, record)
        if isinstance(record, LampRecord):
            if record.id in self.lamps:
                self.problem(
                    where, f"lamp {record.id!r} already given at {self.lamps[record.id][0]}", "id"
                )
            else:
                self._add_lamp(where, record)
        elif record.id in self.cabinets:
            self.problem(
                where,
                f"cabinet {record.id!r} already given at {self.cabinets[record.id][0]}",
                "id",
            )
        else:
            self.cabinets[record.id] = (where, record)

    def _add_plain(self, where: str, record: RoadRecord | ProjectRecord) -> None:
        """A road or a project: kept until the sites they name are known."""
        table: dict[str, Any] = self.roads if isinstance(record, RoadRecord) else self.projects
        if record.id in table:
            self.problem(
                where, f"{record.kind} {record.id!r} already given at {table[record.id][0]}", "id"
            )
        else:
            table[record.id] = (where, record)

    def _add_lamp(self, where: str, rec: LampRecord) -> None:
        # shared strings once in memory, not once per lamp
        lamp = Lamp(
            id=rec.id,
            circuit_id=sys.intern(rec.circuit),
            location=GeoPoint(lat=rec.lat, lon=rec.lon),
            rated_power_w=rec.rated_power_w,
            phase=rec.phase,
            profile=sys.intern(rec.profile),
            installed_on=rec.installed_on,
            project=sys.intern(rec.project) if rec.project else None,
            device_address=rec.device_address,
        )
        self.lamps[rec.id] = (where, lamp, sys.intern(rec.cabinet), sys.intern(rec.site))
        if rec.status is not None:
            self.status[rec.id] = rec.status

    def _describe_tree(self, where: str, r: LampRecord | CabinetRecord) -> None:
        self.describe(where, "district", r.district, name=r.district_name, timezone=r.timezone)
        self.describe(
            where, "subdistrict", r.subdistrict, name=r.subdistrict_name, parent=r.district
        )
        self.describe(where, "community", r.community, name=r.community_name, parent=r.subdistrict)
        self.describe(
            where, "maintainer", r.maintainer, name=r.maintainer_name, kind=r.maintainer_kind
        )
        self.describe(
            where,
            "site",
            r.site,
            name=r.site_name,
            parent=r.community,
            category=r.site_category,
            road_class=r.road_class,
            maintainer=r.maintainer,
        )

    def node(self, kind: str, node_id: str) -> _Entity:
        return self.nodes[(kind, node_id)]

    def ids(self, kind: str) -> list[str]:
        return [node_id for (k, node_id) in self.nodes if k == kind]

    def require(
        self, kind: str, node_id: str, keys: Iterable[str], *, quiet: bool = False
    ) -> dict[str, Any] | None:
        """The complete attributes of a node, or None (with a problem, unless `quiet`: a refused
        row may have given them) when some are missing."""
        entity = self.node(kind, node_id)
        missing = [key for key in keys if key not in entity.attrs]
        if missing:
            if not quiet:
                self.problem(
                    entity.first_seen,
                    f"{kind} {node_id!r}: {', '.join(missing)} given on no record",
                    _PROPERTY.get((kind, missing[0]), missing[0]),
                )
            return None
        return entity.attrs


def _build_node(collector: _Collector, where: str, factory: Any, **kwargs: Any) -> Any:
    try:
        return factory(**kwargs)
    except ValueError as exc:
        collector.problem(where, str(exc))
        return None


class InventoryBuilder:
    """Takes records one at a time (`add`) and builds the inventory at the end (`build`).

    `max_problems` (None: no limit) stops the reading once that many are found; `check` is
    asked about every record that validates (its refusals are the record's problems).
    """

    def __init__(
        self,
        source: str,
        *,
        max_problems: int | None = MAX_PROBLEMS,
        check: RecordCheck | None = None,
    ) -> None:
        self._collector = _Collector(source, check)
        self.max_problems = max_problems

    @property
    def full(self) -> bool:
        """Enough problems found to stop reading."""
        return self.max_problems is not None and len(self._collector.problems) >= self.max_problems

    def add(self, where: str, properties: dict[str, Any] | str) -> None:
        """One record, or (a string) the reason a row is not a record at all."""
        if not self.full:
            self._collector.add(where, properties)

    def describe_district(self, where: str, properties: dict[str, Any]) -> None:
        """District attributes given once for the whole file (GeoJSON's `district` member)."""
        self._collector.describe(
            where,
            "district",
            properties.get("id"),
            name=properties.get("name"),
            timezone=properties.get("timezone"),
        )

    def build(self) -> Inventory:
        """The inventory (every lamp, whatever its status); raises `InventoryError` listing
        every problem (up to `max_problems`)."""
        return self.build_file().inventory

    def build_file(self) -> InventoryFile:
        """The inventory and the lamps' statuses; raises `InventoryError` as `build` does."""
        collector = self._collector
        inventory = _assemble(collector)
        if inventory is not None and not collector.problems:
            return InventoryFile(inventory, collector.status)
        problems, details = collector.problems, collector.details
        limit = self.max_problems
        if limit is not None and len(problems) >= limit:
            details = details[: collector.line_ends[limit - 1]]
            problems = problems[:limit]
            stopped = f"stopped after {limit} problems"
            problems.append(f"{collector.source}: {stopped}")
            details.append(Problem(collector.source, "file", stopped))
        raise InventoryError(problems, details)


def build_inventory(source: str, rows: Iterable[tuple[str, dict[str, Any] | str]]) -> Inventory:
    """Build an inventory from `(where, properties)` pairs; `where` is e.g. ``row 12``.

    A row whose shape is already known to be wrong comes as a string saying why.
    """
    builder = InventoryBuilder(source)
    for where, properties in rows:
        builder.add(where, properties)
        if builder.full:
            break
    return builder.build()


def _assemble(c: _Collector) -> Inventory | None:  # noqa: PLR0912 - one pass per tree level
    # rows refused already: what their absence explains (a node's attributes given on no
    # other row, a cabinet's lamps) is not reported again
    quiet = bool(c.problems)
    district = _district(c, quiet)

    subdistricts: dict[str, Subdistrict] = {}
    for sid in c.ids("subdistrict"):
        attrs = c.require("subdistrict", sid, ("name",), quiet=quiet)
        if attrs is not None and district is not None:
            subdistricts[sid] = Subdistrict(id=sid, name=attrs["name"], district_id=district.id)
    communities: dict[str, Community] = {}
    for cid in c.ids("community"):
        attrs = c.require("community", cid, ("name", "parent"), quiet=quiet)
        if attrs is not None:
            communities[cid] = Community(id=cid, name=attrs["name"], subdistrict_id=attrs["parent"])
    maintainers: dict[str, Maintainer] = {}
    for mid in c.ids("maintainer"):
        attrs = c.require("maintainer", mid, ("name", "kind"), quiet=quiet)
        if attrs is not None:
            maintainers[mid] = Maintainer(id=mid, name=attrs["name"], kind=attrs["kind"])
    sites: dict[str, Site] = {}
    for site_id in c.ids("site"):
        keys = ("name", "parent", "category", "road_class", "maintainer")
        attrs = c.require("site", site_id, keys, quiet=quiet)
        if attrs is not None:
            sites[site_id] = Site(
                id=site_id,
                name=attrs["name"],
                community_id=attrs["parent"],
                category=attrs["category"],
                road_class=attrs["road_class"],
                maintainer_id=attrs["maintainer"],
            )

    cabinets: dict[str, Cabinet] = {}
    circuits: dict[str, Circuit] = {}
    for cabinet_id, (where, rec) in c.cabinets.items():
        cabinet = _build_node(
            c,
            where,
            Cabinet,
            id=cabinet_id,
            name=rec.name,
            site_id=rec.site,
            location=GeoPoint(lat=rec.lat, lon=rec.lon),
            profile=rec.profile,
            circuit_ids=tuple(sys.intern(circuit) for circuit in rec.circuits),
            nominal_voltage_v=rec.nominal_voltage_v,
            device_address=rec.device_address,
        )
        if cabinet is None:
            continue
        cabinets[cabinet_id] = cabinet
        for number, circuit_id in enumerate(rec.circuits, start=1):
            if circuit_id in circuits:
                c.problem(
                    where, f"circuit {circuit_id!r} already belongs to another cabinet", "circuits"
                )
            circuits[circuit_id] = Circuit(id=circuit_id, cabinet_id=cabinet_id, number=number)

    lamps: dict[str, Lamp] = {}
    for lamp_id, (where, lamp, cabinet_id, site_id) in c.lamps.items():
        if cabinet_id not in cabinets:
            # a cabinet whose own row was refused is reported there, not with each lamp
            if cabinet_id not in c.cabinets and cabinet_id not in c.refused:
                c.problem(where, f"lamp {lamp_id!r}: unknown cabinet {cabinet_id!r}", "cabinet")
            continue
        circuit = circuits.get(lamp.circuit_id)
        if circuit is None or circuit.cabinet_id != cabinet_id:
            c.problem(
                where,
                f"lamp {lamp_id!r}: circuit {lamp.circuit_id!r} is not in cabinet {cabinet_id!r}",
                "circuit",
            )
            continue
        if cabinets[cabinet_id].site_id != site_id:
            c.problem(
                where,
                f"lamp {lamp_id!r}: site {site_id!r} differs from its cabinet's "
                f"{cabinets[cabinet_id].site_id!r}",
                "site",
            )
            continue
        lamps[lamp_id] = lamp
    _check_addresses(c, cabinets, lamps)
    roads = _roads(c, sites)
    projects = _projects(c, sites)
    if c.problems or district is None:
        return None
    try:
        return Inventory(
            district=district,
            subdistricts=subdistricts,
            communities=communities,
            maintainers=maintainers,
            sites=sites,
            cabinets=cabinets,
            circuits=circuits,
            lamps=lamps,
            roads=roads,
            projects=projects,
        )
    except ValueError as exc:  # a reference between nodes that no row can be blamed for alone
        c.problem("file", str(exc))
        return None


def _site_known(c: _Collector, sites: dict[str, Site], where: str, what: str, site: str) -> bool:
    """Whether a road's or project's site is one the lamps and cabinets give; a site a
    refused row may have given is not reported again."""
    if site in sites:
        return True
    if ("site", site) not in c.nodes:
        c.problem(where, f"{what}: unknown site {site!r} (no lamp or cabinet gives it)",
                  "sites" if what.startswith("project") else "site")  # fmt: skip
    return False


def _roads(c: _Collector, sites: dict[str, Site]) -> dict[str, Road]:
    roads: dict[str, Road] = {}
    for road_id, (where, rec) in c.roads.items():
        if not _site_known(c, sites, where, f"road {road_id!r}", rec.site):
            continue
        road = _build_node(
            c,
            where,
            Road,
            id=road_id,
            name=rec.name,
            site_id=rec.site,
            road_class=rec.road_class or sites[rec.site].road_class,
            line=tuple(GeoPoint(lat=lat, lon=lon) for lon, lat in rec.line),
        )
        if road is not None:
            roads[road_id] = road
    return roads


def _projects(c: _Collector, sites: dict[str, Site]) -> dict[str, Project]:
    """The projects, each site in one of them (a second listing names the first)."""
    projects: dict[str, Project] = {}
    listed: dict[str, tuple[str, str]] = {}  # site -> project, where
    for project_id, (where, rec) in c.projects.items():
        known = [s for s in rec.sites if _site_known(c, sites, where, f"project {project_id!r}", s)]
        for site in known:
            first = listed.setdefault(site, (project_id, where))
            if first[0] != project_id:
                c.problem(
                    where,
                    f"project {project_id!r}: site {site!r} is already in project {first[0]!r} "
                    f"at {first[1]} (a site is in one project)",
                    "sites",
                )
        dates = rec.model_dump(exclude={"kind", "id", "name", "sites"})
        project = _build_node(c, where, Project, id=project_id, name=rec.name,
                              site_ids=tuple(rec.sites), **dates)  # fmt: skip
        if project is not None:
            projects[project_id] = project
    return projects


def _district(c: _Collector, quiet: bool) -> District | None:
    districts = c.ids("district")
    if len(districts) != 1:
        if districts or not quiet:
            found = sorted(districts)
            c.problem("file", f"an inventory holds exactly one district, found {found}", "district")
        return None
    attrs = c.require("district", districts[0], ("name", "timezone"), quiet=quiet)
    if attrs is None:
        return None
    district: District | None = _build_node(
        c,
        c.node("district", districts[0]).first_seen,
        District,
        id=districts[0],
        name=attrs["name"],
        timezone=attrs["timezone"],
    )
    return district


def _check_addresses(c: _Collector, cabinets: dict[str, Cabinet], lamps: dict[str, Lamp]) -> None:
    """Each device address once, compared without case, naming both records."""
    seen: dict[str, tuple[str, str]] = {}  # address -> where, what
    devices = [
        *((c.cabinets[k][0], f"cabinet {k!r}", x.device_address) for k, x in cabinets.items()),
        *((c.lamps[k][0], f"lamp {k!r}", x.device_address) for k, x in lamps.items()),
    ]
    for where, what, address in devices:
        if address is None:
            continue
        first = seen.setdefault(address.casefold(), (where, what))
        if first != (where, what):
            c.problem(
                where,
                f"{what}: device_address {address!r} is already {first[1]}'s at {first[0]}",
                "device_address",
            )
