"""The asset tree of DESIGN.md section 3, as frozen dataclasses that validate themselves.

district -> subdistrict -> community -> site -> cabinet -> circuit -> lamp

Every asset has an id that is safe as an MQTT topic level and an InfluxDB tag value
(letters, digits, '.', '_' and '-', at most 64 characters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # renovation.py builds on this module's nodes
    from streetlight.domain.renovation import Project, Road

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# a device's own address (IMEI, DevEUI, serial, URN): one MQTT topic level, no wildcards
ADDRESS_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
MAX_CIRCUITS_PER_CABINET = 32


def check_id(kind: str, value: str) -> None:
    """Raise ValueError unless `value` is a well-formed asset id."""
    if not ID_PATTERN.match(value):
        raise ValueError(
            f"{kind} id must be 1-64 letters, digits, '.', '_' or '-' "
            f"starting with a letter or digit, got {value!r}"
        )


def check_address(value: str) -> None:
    """Raise ValueError unless `value` is a well-formed device address."""
    if not ADDRESS_PATTERN.match(value):
        raise ValueError(
            f"device_address must be 1-64 letters, digits, '.', '_', ':' or '-' "
            f"starting with a letter or digit, got {value!r}"
        )


def _check_name(kind: str, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{kind} name must not be empty")


class SiteCategory(StrEnum):
    """What kind of place a site is (DESIGN.md section 3)."""

    OLD_COMPOUND = "old_compound"  # 老旧小区
    OPEN_COMPOUND = "open_compound"  # 开放式小区
    MANAGED_COMPOUND = "managed_compound"  # 有物业小区
    BACK_STREET = "back_street"  # 边街小巷


class LampStatus(StrEnum):
    """Where a lamp is in its life: the processes work with installed lamps only."""

    PLANNED = "planned"  # surveyed and planned, not yet in the field
    INSTALLED = "installed"
    RETIRED = "retired"  # taken out; kept with its history, never deleted


class RoadClass(StrEnum):
    MAIN = "main"
    SECONDARY = "secondary"
    BRANCH = "branch"
    RESIDENTIAL_PATH = "residential_path"


class MaintainerKind(StrEnum):
    PROPERTY_COMPANY = "property_company"  # 物业公司
    CITY_MANAGEMENT = "city_management"  # 城管 / 市政管护


class Phase(StrEnum):
    """Supply phase of a lamp (A/B/C, as Chinese cabinets label them)."""

    A = "A"
    B = "B"
    C = "C"


class AssetKind(StrEnum):
    DISTRICT = "district"
    SUBDISTRICT = "subdistrict"
    COMMUNITY = "community"
    SITE = "site"
    CABINET = "cabinet"
    CIRCUIT = "circuit"
    LAMP = "lamp"
    # not a node of the tree: the process that reads the field, on which `data_stale` is raised
    GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS84 position."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude must be within -90..90, got {self.lat}")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude must be within -180..180, got {self.lon}")


@dataclass(frozen=True, slots=True)
class District:
    id: str
    name: str
    timezone: str

    def __post_init__(self) -> None:
        check_id("district", self.id)
        _check_name("district", self.name)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Subdistrict:
    id: str
    name: str
    district_id: str

    def __post_init__(self) -> None:
        check_id("subdistrict", self.id)
        _check_name("subdistrict", self.name)


@dataclass(frozen=True, slots=True)
class Community:
    id: str
    name: str
    subdistrict_id: str

    def __post_init__(self) -> None:
        check_id("community", self.id)
        _check_name("community", self.name)


@dataclass(frozen=True, slots=True)
class Maintainer:
    """Who repairs a site: a property company or the city-management team."""

    id: str
    name: str
    kind: MaintainerKind

    def __post_init__(self) -> None:
        check_id("maintainer", self.id)
        _check_name("maintainer", self.name)


@dataclass(frozen=True, slots=True)
class Site:
    """A compound (小区) or a back street / alley (边街小巷)."""

    id: str
    name: str
    community_id: str
    category: SiteCategory
    road_class: RoadClass
    maintainer_id: str

    def __post_init__(self) -> None:
        check_id("site", self.id)
        _check_name("site", self.name)


@dataclass(frozen=True, slots=True)
class Cabinet:
    """A control cabinet (控制柜) with a contactor per circuit; `profile` names its controller."""

    id: str
    name: str
    site_id: str
    location: GeoPoint
    profile: str
    circuit_ids: tuple[str, ...]
    nominal_voltage_v: float = 220.0
    device_address: str | None = None  # its controller's own address, where it has one

    def __post_init__(self) -> None:
        check_id("cabinet", self.id)
        check_id("profile", self.profile)
        if self.device_address is not None:
            check_address(self.device_address)
        if not 1 <= len(self.circuit_ids) <= MAX_CIRCUITS_PER_CABINET:
            raise ValueError(
                f"a cabinet has 1..{MAX_CIRCUITS_PER_CABINET} circuits, got {len(self.circuit_ids)}"
            )
        if len(set(self.circuit_ids)) != len(self.circuit_ids):
            raise ValueError("circuit ids of a cabinet must be distinct")
        for circuit_id in self.circuit_ids:
            check_id("circuit", circuit_id)
        if not 100.0 <= self.nominal_voltage_v <= 400.0:
            raise ValueError(f"nominal voltage must be 100..400 V, got {self.nominal_voltage_v}")


@dataclass(frozen=True, slots=True)
class Circuit:
    """One outgoing circuit (回路) of a cabinet; `number` is its contactor, counted from 1."""

    id: str
    cabinet_id: str
    number: int

    def __post_init__(self) -> None:
        check_id("circuit", self.id)
        if not 1 <= self.number <= MAX_CIRCUITS_PER_CABINET:
            raise ValueError(f"circuit number must be 1..{MAX_CIRCUITS_PER_CABINET}")


@dataclass(frozen=True, slots=True)
class Lamp:
    """A lamp on a pole; `profile` names its controller model (a device profile)."""

    id: str
    circuit_id: str
    location: GeoPoint
    rated_power_w: float
    phase: Phase
    profile: str
    installed_on: date | None = None
    project: str | None = None
    device_address: str | None = None  # its node's IMEI, DevEUI or serial, where not its id

    def __post_init__(self) -> None:
        check_id("lamp", self.id)
        check_id("profile", self.profile)
        if self.device_address is not None:
            check_address(self.device_address)
        if not 1.0 <= self.rated_power_w <= 1000.0:
            raise ValueError(f"rated power must be 1..1000 W, got {self.rated_power_w}")


@dataclass(frozen=True, slots=True)
class LampPlace:
    """Where a lamp hangs in the tree: every ancestor's id, for tags and grouping."""

    lamp_id: str
    circuit_id: str
    cabinet_id: str
    site_id: str
    community_id: str
    subdistrict_id: str
    district_id: str


@dataclass(frozen=True)
class Inventory:
    """One district's assets, checked for consistency when built (see `inventory.build`);
    with the renovation projects and the surveyed roads where the inventory gives them."""

    district: District
    subdistricts: dict[str, Subdistrict]
    communities: dict[str, Community]
    maintainers: dict[str, Maintainer]
    sites: dict[str, Site]
    cabinets: dict[str, Cabinet]
    circuits: dict[str, Circuit]
    lamps: dict[str, Lamp]
    roads: dict[str, Road] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    _lamps_by_circuit: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _project_of: dict[str, str] = field(init=False, repr=False, compare=False)
    _addresses: dict[str, tuple[AssetKind, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_references()
        addresses: dict[str, tuple[AssetKind, str]] = {}
        devices = [
            *((AssetKind.CABINET, c.id, c.device_address) for c in self.cabinets.values()),
            *((AssetKind.LAMP, lamp.id, lamp.device_address) for lamp in self.lamps.values()),
        ]
        for kind, asset_id, address in devices:
            if address is None:
                continue
            other = addresses.setdefault(address.casefold(), (kind, asset_id))
            if other != (kind, asset_id):
                raise ValueError(
                    f"{kind.value} {asset_id!r}: device_address {address!r} is already "
                    f"{other[0].value} {other[1]!r}'s"
                )
        object.__setattr__(self, "_addresses", addresses)
        by_circuit: dict[str, list[str]] = {circuit_id: [] for circuit_id in self.circuits}
        for lamp in self.lamps.values():
            by_circuit[lamp.circuit_id].append(lamp.id)
        object.__setattr__(
            self, "_lamps_by_circuit", {key: tuple(ids) for key, ids in by_circuit.items()}
        )
        project_of: dict[str, str] = {}
        for project in self.projects.values():
            for site_id in project.site_ids:
                holder = project_of.setdefault(site_id, project.id)
                if holder != project.id:
                    raise ValueError(
                        f"site {site_id!r} is in project {holder!r} and in {project.id!r}: "
                        "a site is in one project"
                    )
        object.__setattr__(self, "_project_of", project_of)

    def _check_references(self) -> None:
        def need(table: Mapping[str, object], key: str, what: str, owner: str) -> None:
            if key not in table:
                raise ValueError(f"{owner}: unknown {what} {key!r}")

        for sub in self.subdistricts.values():
            if sub.district_id != self.district.id:
                raise ValueError(f"subdistrict {sub.id!r}: belongs to another district")
        for com in self.communities.values():
            need(self.subdistricts, com.subdistrict_id, "subdistrict", f"community {com.id!r}")
        for site in self.sites.values():
            need(self.communities, site.community_id, "community", f"site {site.id!r}")
            need(self.maintainers, site.maintainer_id, "maintainer", f"site {site.id!r}")
        for cab in self.cabinets.values():
            need(self.sites, cab.site_id, "site", f"cabinet {cab.id!r}")
            for number, circuit_id in enumerate(cab.circuit_ids, start=1):
                circuit = self.circuits.get(circuit_id)
                if circuit is None or circuit.cabinet_id != cab.id or circuit.number != number:
                    raise ValueError(f"cabinet {cab.id!r}: circuit {circuit_id!r} does not match")
        for circuit in self.circuits.values():
            need(self.cabinets, circuit.cabinet_id, "cabinet", f"circuit {circuit.id!r}")
        for lamp in self.lamps.values():
            need(self.circuits, lamp.circuit_id, "circuit", f"lamp {lamp.id!r}")
        for road in self.roads.values():
            need(self.sites, road.site_id, "site", f"road {road.id!r}")
        for project in self.projects.values():
            for site_id in project.site_ids:
                need(self.sites, site_id, "site", f"project {project.id!r}")

    def place(self, lamp_id: str) -> LampPlace:
        """Where a lamp hangs, worked out when asked (kept per lamp, it costs memory)."""
        circuit = self.circuits[self.lamps[lamp_id].circuit_id]
        cabinet = self.cabinets[circuit.cabinet_id]
        site = self.sites[cabinet.site_id]
        community = self.communities[site.community_id]
        return LampPlace(
            lamp_id=lamp_id,
            circuit_id=circuit.id,
            cabinet_id=cabinet.id,
            site_id=site.id,
            community_id=community.id,
            subdistrict_id=community.subdistrict_id,
            district_id=self.district.id,
        )

    def by_address(self, address: str) -> tuple[AssetKind, str] | None:
        """The lamp or cabinet whose device_address this is (compared without case)."""
        return self._addresses.get(address.casefold())

    def lamps_on_circuit(self, circuit_id: str) -> tuple[str, ...]:
        return self._lamps_by_circuit[circuit_id]

    def site_of_cabinet(self, cabinet_id: str) -> Site:
        return self.sites[self.cabinets[cabinet_id].site_id]

    def project_of(self, site_id: str) -> Project | None:
        """The renovation project a site is in, if any."""
        project_id = self._project_of.get(site_id)
        return None if project_id is None else self.projects[project_id]

    def summary(self) -> str:
        text = (
            f"{len(self.subdistricts)} subdistricts, {len(self.communities)} communities, "
            f"{len(self.sites)} sites, {len(self.cabinets)} cabinets, "
            f"{len(self.circuits)} circuits, {len(self.lamps)} lamps"
        )
        if self.roads:
            text += f", {len(self.roads)} roads"
        if self.projects:
            text += f", {len(self.projects)} projects"
        return text
