"""JSON payloads of the internal bus, version 1 (docs/contract.md, "Payloads").

These are pydantic models because they sit at the edge between processes: they validate what
arrives, and they are the source of the JSON schemas in docs/schemas/ (regenerated with
`streetlight contract schemas --write docs/schemas`, checked by the tests). Timestamps are
ISO 8601 with an offset; the ones the gateway writes are the device's own (simulated) time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from streetlight.contract.topics import TargetKind
from streetlight.domain import ID_PATTERN, AlarmState, AlarmType, Phase, Severity

SCHEMA_VERSION: Literal[1] = 1

Id = Annotated[str, Field(pattern=ID_PATTERN.pattern)]
Percent = Annotated[int, Field(ge=0, le=100)]
Text = Annotated[str, Field(max_length=500)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    v: Literal[1] = SCHEMA_VERSION


class LampFault(StrEnum):
    """Fault flags a lamp controller reports about itself (not alarms: the controller decides)."""

    LAMP_OPEN = "lamp_open"  # no load current: LED module open or missing
    DRIVER_FAULT = "driver_fault"
    OVER_TEMPERATURE = "over_temperature"
    RELAY_STUCK = "relay_stuck"
    DIMMING_FAULT = "dimming_fault"
    UNDERVOLTAGE = "undervoltage"
    OVERVOLTAGE = "overvoltage"
    CYCLING = "cycling"  # its lamp went out by itself twice since switch-on: out, on, out


class LampTelemetry(_Payload):
    """One report of one lamp, normalised by the gateway."""

    lamp: Id
    ts: AwareDatetime
    relay_on: bool
    dim_pct: Percent
    voltage_v: float | None = Field(default=None, ge=0, le=500)
    current_a: float | None = Field(default=None, ge=0, le=50)
    power_w: float | None = Field(default=None, ge=0, le=5000)
    power_factor: float | None = Field(default=None, ge=0, le=1)
    # a 1 kW lamp lit for a century draws 876 MWh and burns 876,000 h: beyond is no reading
    energy_wh: float | None = Field(
        default=None, ge=0, le=1e9, description="cumulative since install"
    )
    driver_temp_c: float | None = Field(default=None, ge=-60, le=200)
    burning_hours: float | None = Field(default=None, ge=0, le=1e6)
    faults: list[LampFault] = Field(default_factory=list)
    source: Id | None = Field(default=None, description="the gateway that read it")
    ts_source: Literal["device", "gateway"] | None = Field(
        default=None,
        description="absent or device: ts is the device's; gateway: the device sends no time, "
        "ts is when the gateway received the report",
    )


class PhaseReading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    phase: Phase
    voltage_v: float = Field(ge=0, le=500)
    current_a: float = Field(ge=0, le=1000)
    power_w: float = Field(ge=0, le=500_000)
    power_factor: float | None = Field(default=None, ge=0, le=1)
    energy_wh: float | None = Field(default=None, ge=0, description="cumulative")


class CircuitReading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    circuit: Id
    contactor_on: bool
    current_a: float | None = Field(default=None, ge=0, le=1000)


class CabinetTelemetry(_Payload):
    """One report of one cabinet: its meter per phase, its contactors and its sensors."""

    cabinet: Id
    ts: AwareDatetime
    phases: list[PhaseReading] = Field(max_length=3)
    circuits: list[CircuitReading] = Field(max_length=32)
    leakage_ma: float | None = Field(default=None, ge=0, le=10_000)
    door_open: bool | None = None
    lux: float | None = Field(default=None, ge=0, le=200_000)
    supply_on: bool | None = Field(default=None, description="mains present on every phase")
    door_events: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="door openings since the previous report (a latched bit, or the increase "
        "of the controller's counter): a door opened and shut between two polls",
    )
    leakage_events: int | None = Field(
        default=None, ge=0, le=1_000_000, description="leakage trips since the previous report"
    )
    source: Id | None = None


TELEMETRY_BATCH_MAX = 1000


class TelemetryBatch(_Payload):
    """Canonical readings from one gateway, oldest first: what the controller listens to.

    The gateway sends its readings in batches (up to `TELEMETRY_BATCH_MAX` lamps, or what
    half a second brought) rather than one message per lamp: at tens of thousands of reports
    a second a message per lamp costs the gateway more than all the rest of its work.
    """

    source: Id = Field(description="the gateway that read them")
    behind_s: float | None = Field(
        default=None,
        ge=0,
        description="how far the gateway's polling is behind its schedule (clock seconds), "
        "when it is",
    )
    lamps: list[LampTelemetry] = Field(default_factory=list, max_length=TELEMETRY_BATCH_MAX)
    cabinets: list[CabinetTelemetry] = Field(default_factory=list, max_length=TELEMETRY_BATCH_MAX)


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: TargetKind
    id: Id


class Command(_Payload):
    """Switch or dim a lamp, a circuit (its contactor) or a group. Level 0-100 when on."""

    id: Id
    target: Target
    on: bool
    level_pct: Percent | None = None
    issued_at: AwareDatetime
    expires_at: AwareDatetime | None = Field(
        default=None, description="a gateway does not carry out a command after this time"
    )
    origin: Text = Field(description="who asked: controller, or operator:<user>")
    reason: Text | None = None

    @model_validator(mode="after")
    def _level_when_on(self) -> Self:
        if self.on and self.level_pct is None:
            raise ValueError("level_pct is required when on is true")
        if not self.on and self.level_pct not in (None, 0):
            raise ValueError("level_pct must be absent or 0 when on is false")
        return self


class AckOutcome(StrEnum):
    DONE = "done"
    DEVICE_ERROR = "device_error"  # the device answered with an error
    TIMEOUT = "timeout"  # the device did not answer in time, after retries
    EXPIRED = "expired"  # the command arrived after its expires_at
    REJECTED = "rejected"  # the gateway cannot carry it out (unknown target, bad level)


class CommandAck(_Payload):
    """What became of a command, from the gateway that carried it out."""

    command_id: Id
    target: Target
    outcome: AckOutcome
    at: AwareDatetime
    attempts: int = Field(ge=0, le=100)
    failed: list[Id] = Field(default_factory=list, description="members of a group that failed")
    detail: Text | None = None


class AlarmEvent(_Payload):
    """An alarm's state, published on every transition (retained per asset and type)."""

    id: Id
    type: AlarmType
    asset: Target
    severity: Severity
    state: AlarmState
    at: AwareDatetime = Field(description="when this transition happened")
    raised_at: AwareDatetime
    cleared_at: AwareDatetime | None = None
    parent: Id | None = Field(default=None, description="the root-cause alarm this one is under")
    detail: Text | None = None


class DeviceStatus(_Payload):
    """Online or offline, retained; a process's last will publishes the offline form."""

    device: Target
    online: bool
    at: AwareDatetime | None = Field(default=None, description="absent in a last will")
    reason: Text | None = None


class ScheduleChange(_Payload):
    """Programs, calendars or overrides were just saved in the store: a notice that tells the
    controller to read them now. The store holds the schedule; the notice carries no part of it.
    """

    what: Literal["override", "schedule"]
    id: int | None = Field(default=None, ge=1, description="the override's id")
    by: Text = Field(description="who saved it")
    at: AwareDatetime

    @model_validator(mode="after")
    def _id_of_an_override(self) -> Self:
        if (self.what == "override") != (self.id is not None):
            raise ValueError("id is required for an override, and only for one")
        return self


Count = Annotated[int, Field(ge=0)]


class GatewayHealth(_Payload):
    """A gateway's own counters since it started, published every `health_interval_s`."""

    gateway: Id
    at: AwareDatetime
    messages_in: Count = Field(description="MQTT messages received, of every kind")
    reports_in: Count = Field(description="device reports among them")
    lines_written: Count = Field(description="points InfluxDB accepted, replays included")
    canonical_out: Count = Field(description="canonical messages published on the bus")
    commands: Count
    acks_out: Count
    influx_spool_points: Count = Field(description="points waiting on disk for InfluxDB")
    mqtt_spool_messages: Count = Field(description="canonical messages waiting for the broker")
    spool_dropped: Count = Field(description="oldest spooled data dropped for room, in all")
    devices_online: Count
    devices_offline: Count
    errors: dict[str, Count] = Field(
        default_factory=dict, description="bad input and refused writes, by kind"
    )


PAYLOADS: dict[str, type[_Payload]] = {
    "lamp_telemetry": LampTelemetry,
    "cabinet_telemetry": CabinetTelemetry,
    "telemetry_batch": TelemetryBatch,
    "command": Command,
    "command_ack": CommandAck,
    "alarm_event": AlarmEvent,
    "device_status": DeviceStatus,
    "gateway_health": GatewayHealth,
    "schedule_change": ScheduleChange,
}

PayloadT = TypeVar("PayloadT", bound=_Payload)


class PayloadError(ValueError):
    """A message that is not a valid payload of its kind; the text says which field and why."""


def decode(model: type[PayloadT], data: bytes | str) -> PayloadT:
    """Parse and validate one message; raises PayloadError with the first problems found."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:3]:
            where = ".".join(str(part) for part in error["loc"]) or "message"
            problems.append(f"{where}: {error['msg']}")
        raise PayloadError(f"invalid {model.__name__}: {'; '.join(problems)}") from exc


def encode(payload: _Payload) -> bytes:
    """The wire form: compact JSON, unset optional fields left out."""
    return payload.model_dump_json(exclude_none=True).encode()


def json_schemas() -> dict[str, dict[str, object]]:
    """The JSON schema of every payload, by name (the files in docs/schemas/)."""
    schemas = {}
    for name, model in PAYLOADS.items():
        schema = model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://streetlight.invalid/schemas/v{SCHEMA_VERSION}/{name}.schema.json"
        schemas[name] = schema
    return schemas
