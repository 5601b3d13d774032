"""One inventory record (a GeoJSON feature or a CSV row), validated at the edge with pydantic:
a lamp, a cabinet, a road (its centre line) or a renovation project."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from streetlight.domain import (
    ADDRESS_PATTERN,
    ID_PATTERN,
    PHASE_FIELDS,
    LampStatus,
    MaintainerKind,
    Phase,
    RoadClass,
    SiteCategory,
)

Id = Annotated[str, Field(pattern=ID_PATTERN.pattern)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN.pattern)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]
MAX_ROAD_POINTS = 10_000
MAX_PROJECT_SITES = 10_000


def _split_list(value: Any) -> Any:
    """CSV cells carry lists as `a;b;c`; GeoJSON carries real arrays."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


def _wkt_line(value: Any) -> Any:
    """CSV cells carry a road's line as WKT, `LINESTRING (lon lat, lon lat, ...)`, as GIS
    tools write it; GeoJSON carries the LineString's coordinates."""
    if not isinstance(value, str):
        return value
    import shapely  # noqa: PLC0415 - only files with roads pay for the import

    try:
        geometry = shapely.from_wkt(value)
    except shapely.errors.ShapelyError as exc:
        raise ValueError(f"not WKT: {exc}") from None
    if not isinstance(geometry, shapely.LineString):
        # pydantic reports a validator's ValueError with the field; a TypeError would escape
        raise ValueError(  # noqa: TRY004
            f"a road's line is a WKT LINESTRING, got {geometry.geom_type}"
        )
    return [(x, y) for x, y, *_z in geometry.coords]


class _Hierarchy(BaseModel):
    """Where a record sits in the tree; a site's attributes may be given on any one record."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Id
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    district: Id | None = None
    district_name: Name | None = None
    timezone: str | None = None
    subdistrict: Id | None = None
    subdistrict_name: Name | None = None
    community: Id | None = None
    community_name: Name | None = None
    site: Id
    site_name: Name | None = None
    site_category: SiteCategory | None = None
    road_class: RoadClass | None = None
    maintainer: Id | None = None
    maintainer_name: Name | None = None
    maintainer_kind: MaintainerKind | None = None


class LampRecord(_Hierarchy):
    kind: Literal["lamp"]
    cabinet: Id
    circuit: Id
    rated_power_w: float = Field(ge=1, le=1000)
    phase: Phase
    profile: Id
    installed_on: date | None = None
    project: Name | None = None
    # None: not given (a new lamp is installed, a known one keeps its status in the store)
    status: LampStatus | None = None
    device_address: Address | None = None


class CabinetRecord(_Hierarchy):
    kind: Literal["cabinet"]
    name: Name
    profile: Id
    circuits: Annotated[list[Id], BeforeValidator(_split_list), Field(min_length=1, max_length=32)]
    nominal_voltage_v: float = Field(default=220.0, ge=100, le=400)
    device_address: Address | None = None


class RoadRecord(BaseModel):
    """A road's centre line on a site; `road_class` is the road's own (default: its site's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: Literal["road"]
    id: Id
    name: Name
    site: Id
    road_class: RoadClass | None = None
    line: Annotated[
        list[tuple[Lon, Lat]],
        BeforeValidator(_wkt_line),
        Field(min_length=2, max_length=MAX_ROAD_POINTS),
    ]


class ProjectRecord(BaseModel):
    """A renovation project: its sites and the first and last day of each phase."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: Literal["project"]
    id: Id
    name: Name
    sites: Annotated[
        list[Id], BeforeValidator(_split_list), Field(max_length=MAX_PROJECT_SITES)
    ] = []
    survey_start: date | None = None
    survey_end: date | None = None
    implementation_start: date | None = None
    implementation_end: date | None = None
    acceptance_start: date | None = None
    acceptance_end: date | None = None
    handover_start: date | None = None
    handover_end: date | None = None


assert set(PHASE_FIELDS) <= set(ProjectRecord.model_fields)  # one list of phases

Record = LampRecord | CabinetRecord | RoadRecord | ProjectRecord
_MODELS: dict[str, type[Record]] = {
    "lamp": LampRecord,
    "cabinet": CabinetRecord,
    "road": RoadRecord,
    "project": ProjectRecord,
}

_EXTRA_PREFIX = "x_"  # properties a GIS tool adds for its own use; kept out of validation


class RecordError(ValueError):
    """A record that does not validate: `reasons` holds (property, reason) per wrong property;
    the message joins the reasons in one line."""

    def __init__(self, reasons: list[tuple[str, str]]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reason for _field, reason in reasons))


def parse_record(properties: dict[str, Any]) -> Record:
    """Validate one record's properties; raises RecordError naming every wrong property."""
    props = {
        key: value
        for key, value in properties.items()
        if not key.startswith(_EXTRA_PREFIX) and value not in (None, "")
    }
    kind = props.get("kind")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(repr(name) for name in _MODELS)
        raise RecordError([("kind", f"kind must be one of {known}, got {kind!r}")])
    try:
        return model.model_validate(props)
    except ValidationError as exc:
        reasons = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "record"
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = f"unknown property (extra ones must start with '{_EXTRA_PREFIX}')"
            elif error["type"] != "missing":
                message = f"{message}, got {error['input']!r}"
            field = str(error["loc"][0]) if error["loc"] else "record"
            reasons.append((field, f"{where}: {message}"))
        raise RecordError(reasons) from exc
