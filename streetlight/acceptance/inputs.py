"""What an acceptance is computed from, gathered once and stored with its result (so a later
re-run evaluates the same data and gives the same result).

Per lamp and night the gathering (streetlight.acceptance.gather) has already read the lamp's
reports into counts, as the KPI writer reads its marks: the samples it should have been lit
and was, its switch times against the plan, its mean power per dim level against the curve.
The evaluation (streetlight.acceptance.evaluate) applies the criteria's limits to them. Plain
data only: the inputs go to JSON and back without loss, and their sha256 names them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import TypeAdapter


@dataclass(frozen=True, slots=True)
class LampInput:
    id: str
    status: str  # planned, installed, retired
    registered: bool  # the system can take its reports (streetlight.survey)
    rated_w: float


@dataclass(frozen=True, slots=True)
class LevelPower:
    """A lamp's lit samples at one reported dim level: their mean power and the curve's."""

    dim_pct: int
    samples: int
    mean_w: float
    expected_w: float


@dataclass(frozen=True, slots=True)
class LampNight:
    lamp: str
    night: date
    reports: int  # `lamp` points in the night
    should_lit: int  # samples the plan had it on, settled
    lit_ok: int  # of those, lit
    on_plan_ms: int | None  # the plan's first switch-on of the night, epoch ms
    on_seen_ms: int | None  # its first report at or after it showing it lit
    off_plan_ms: int | None  # the plan's last switch-off of the night
    off_seen_ms: int | None  # its first report at or after it showing it not lit
    power: list[LevelPower] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SiteNight:
    """The KPI writer's own figures of the site's night (`kpi_night`, `switching`), where it
    wrote them."""

    night: date
    lighting_rate_pct: float | None
    lighting_target_pct: float | None
    lamps_reporting: int | None


@dataclass(frozen=True, slots=True)
class AlarmInput:
    id: str  # al-12
    asset: str  # lamp:PP-S04-L003
    type: str
    severity: str
    raised_at: datetime
    cleared_at: datetime | None


@dataclass(frozen=True, slots=True)
class OrderInput:
    id: str  # wo-7
    asset: str
    type: str
    severity: str
    state: str
    opened_at: datetime
    deadline: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class AcceptanceInputs:
    site: str
    site_name: str
    subdistrict: str
    community: str
    project: str | None
    maintainer: str | None
    road_class: str
    timezone: str  # the district's IANA zone: nights run from its noon
    first_night: date
    last_night: date
    window_start: datetime  # noon of the first night (local)
    window_end: datetime  # noon after the last night
    gathered_at: datetime
    lamps: list[LampInput]
    nights: list[SiteNight]
    lamp_nights: list[LampNight]
    alarms: list[AlarmInput]  # fault alarms of the site raised before the end, not cleared by it
    orders: list[OrderInput]  # work orders of the site opened before the window's end, not
    # closed before its start


_ADAPTER: TypeAdapter[AcceptanceInputs] = TypeAdapter(AcceptanceInputs)


def inputs_json(inputs: AcceptanceInputs) -> bytes:
    return _ADAPTER.dump_json(inputs)


def inputs_from_json(data: bytes | str) -> AcceptanceInputs:
    return _ADAPTER.validate_json(data)


def inputs_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
