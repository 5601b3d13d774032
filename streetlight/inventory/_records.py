"""One inventory record (a GeoJSON feature or a CSV row), validated at the edge with pydantic."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from streetlight.domain import (
    ADDRESS_PATTERN,
    ID_PATTERN,
    LampStatus,
    MaintainerKind,
    Phase,
    RoadClass,
    SiteCategory,
)

Id = Annotated[str, Field(pattern=ID_PATTERN.pattern)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN.pattern)]


def _split_list(value: Any) -> Any:
    """CSV cells carry lists as `a;b;c`; GeoJSON carries real arrays."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


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


Record = LampRecord | CabinetRecord

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
    model: type[LampRecord] | type[CabinetRecord]
    if kind == "lamp":
        model = LampRecord
    elif kind == "cabinet":
        model = CabinetRecord
    else:
        raise RecordError([("kind", f"kind must be 'lamp' or 'cabinet', got {kind!r}")])
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
