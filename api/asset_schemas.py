"""The assets' bodies and filters at the API's edge, named as the inventory file names them.

Each kind has what a client sends to add one (`…In`), to change one (`…Change`: the fields
given are changed; `null` only where a field may be empty) and what it reads (`…Out`), and a
list's filters (`…Filters`). The limits mirror the domain's, so a wrong value is refused with
its field before the domain builds the node (which checks it again).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.live import STATES
from streetlight.domain import (
    ADDRESS_PATTERN,
    ID_PATTERN,
    LampStatus,
    MaintainerKind,
    Phase,
    RoadClass,
    SiteCategory,
)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. Asia/Shanghai)") from exc
    return value


Id = Annotated[str, Field(pattern=ID_PATTERN.pattern, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Zone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN.pattern, max_length=64)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Voltage = Annotated[float, Field(ge=100, le=400)]
Watts = Annotated[float, Field(ge=1, le=1000)]
Number = Annotated[int, Field(ge=1, le=32)]
State = Literal[STATES]  # type: ignore[valid-type] # the live state's names, one list

# fields a change may empty with null; any other is required by the domain
NULLABLE = frozenset({"device_address", "installed_on", "project"})


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Filters(BaseModel):
    """Every filter given must hold."""


# --- district, subdistricts, communities, maintainers -----------------------------------


class DistrictIn(_In):
    id: Id
    name: Name
    timezone: Zone


class DistrictChange(_Change):
    name: Name | None = None
    timezone: Zone | None = None


class DistrictOut(BaseModel):
    id: str
    name: str
    timezone: str


class SubdistrictIn(_In):
    id: Id
    name: Name
    district: Id


class SubdistrictChange(_Change):
    name: Name | None = None


class SubdistrictOut(BaseModel):
    id: str
    name: str
    district: str


class CommunityIn(_In):
    id: Id
    name: Name
    subdistrict: Id


class CommunityChange(_Change):
    name: Name | None = None
    subdistrict: Id | None = None


class CommunityOut(BaseModel):
    id: str
    name: str
    subdistrict: str


class CommunityFilters(_Filters):
    subdistrict: Id | None = None


class MaintainerIn(_In):
    id: Id
    name: Name
    kind: MaintainerKind


class MaintainerChange(_Change):
    name: Name | None = None
    kind: MaintainerKind | None = None


class MaintainerOut(BaseModel):
    id: str
    name: str
    kind: MaintainerKind


class MaintainerFilters(_Filters):
    kind: MaintainerKind | None = None


# --- sites, cabinets, circuits ------------------------------------------------------------


class SiteIn(_In):
    id: Id
    name: Name
    community: Id
    category: SiteCategory
    road_class: RoadClass
    maintainer: Id


class SiteChange(_Change):
    name: Name | None = None
    community: Id | None = None
    category: SiteCategory | None = None
    road_class: RoadClass | None = None
    maintainer: Id | None = None


class SiteOut(BaseModel):
    id: str
    name: str
    community: str
    category: SiteCategory
    road_class: RoadClass
    maintainer: str


class SiteFilters(_Filters):
    community: Id | None = None
    subdistrict: Id | None = None
    maintainer: Id | None = Field(default=None, description="the site's maintainer in the tree")
    category: SiteCategory | None = None
    road_class: RoadClass | None = None


class CabinetIn(_In):
    id: Id
    name: Name
    site: Id
    lat: Lat
    lon: Lon
    profile: Id
    nominal_voltage_v: Voltage = 220.0
    device_address: Address | None = None
    circuits: list[Id] = Field(min_length=1, max_length=32, description="in contactor order")


class CabinetChange(_Change):
    name: Name | None = None
    site: Id | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    profile: Id | None = None
    nominal_voltage_v: Voltage | None = None
    device_address: Address | None = None


class CabinetOut(BaseModel):
    id: str
    name: str
    site: str
    lat: float
    lon: float
    profile: str
    nominal_voltage_v: float
    device_address: str | None
    circuits: list[str]


class CabinetFilters(_Filters):
    site: Id | None = None
    community: Id | None = None
    subdistrict: Id | None = None
    maintainer: Id | None = None
    profile: Id | None = None


class CircuitIn(_In):
    id: Id
    cabinet: Id
    number: Number | None = Field(default=None, description="its contactor; default the next")


class CircuitOut(BaseModel):
    id: str
    cabinet: str
    number: int


class CircuitFilters(_Filters):
    cabinet: Id | None = None
    site: Id | None = None
    community: Id | None = None
    subdistrict: Id | None = None
    maintainer: Id | None = None


# --- lamps --------------------------------------------------------------------------------


class LampIn(_In):
    id: Id
    circuit: Id
    lat: Lat
    lon: Lon
    rated_power_w: Watts
    phase: Phase
    profile: Id
    installed_on: date | None = None
    project: Name | None = None
    device_address: Address | None = None
    status: LampStatus = LampStatus.INSTALLED


class LampChange(_Change):
    circuit: Id | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    rated_power_w: Watts | None = None
    phase: Phase | None = None
    profile: Id | None = None
    installed_on: date | None = None
    project: Name | None = None
    device_address: Address | None = None
    status: LampStatus | None = None


class LampOut(BaseModel):
    id: str
    circuit: str
    cabinet: str
    site: str
    lat: float
    lon: float
    rated_power_w: float
    phase: Phase
    profile: str
    installed_on: date | None
    project: str | None
    device_address: str | None
    status: LampStatus
    state: str | None = Field(description="its live state (none when retired)")


class LampFilters(_Filters):
    circuit: Id | None = None
    cabinet: Id | None = None
    site: Id | None = None
    community: Id | None = None
    subdistrict: Id | None = None
    maintainer: Id | None = None
    profile: Id | None = None
    status: LampStatus | None = None
    project: Name | None = None
    state: State | None = None


# --- the tree -----------------------------------------------------------------------------


class LampCounts(BaseModel):
    planned: int
    installed: int
    retired: int


class CircuitNode(BaseModel):
    id: str
    number: int
    lamps: LampCounts | None = None


class CabinetNode(BaseModel):
    id: str
    name: str
    circuits: list[CircuitNode]
    lamps: LampCounts | None = None


class SiteNode(BaseModel):
    id: str
    name: str
    category: SiteCategory
    road_class: RoadClass
    maintainer: str
    cabinets: list[CabinetNode]
    lamps: LampCounts | None = None


class CommunityNode(BaseModel):
    id: str
    name: str
    sites: list[SiteNode]
    lamps: LampCounts | None = None


class SubdistrictNode(BaseModel):
    id: str
    name: str
    communities: list[CommunityNode]
    lamps: LampCounts | None = None


class DistrictNode(BaseModel):
    id: str
    name: str
    timezone: str
    subdistricts: list[SubdistrictNode]
    lamps: LampCounts | None = None


class Tree(BaseModel):
    """The district down to its circuits (`lamps`: counted by status, when asked), and the
    maintainers; `district` is null in a store without an inventory."""

    district: DistrictNode | None
    maintainers: list[MaintainerOut]


# --- import -------------------------------------------------------------------------------


class ImportReport(BaseModel):
    """Rows per table: added, updated, and kept (in the store, not in the file)."""

    source: str
    dry_run: bool
    added: dict[str, int]
    updated: dict[str, int]
    kept: dict[str, int]
    summary: str


class ImportProblem(BaseModel):
    where: str = Field(description="`row N` (CSV, header = 1), `feature N` (from 1) or `file`")
    id: str | None = Field(description="the record's id, when it has one")
    field: str | None = Field(description="the property at fault, when one is")
    message: str


class ImportProblems(BaseModel):
    """Every problem of the file; nothing was saved. (A request refused before its file was
    read, e.g. for its format, has the usual error body: no `source`, no `problems`.)"""

    code: str
    message: str
    field: str | None = None
    source: str | None = None
    problems: list[ImportProblem] = Field(default_factory=list)
