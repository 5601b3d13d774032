"""Device messages into canonical telemetry, by their profile, refusing what does not fit.

A rejected message raises `Rejected` with a kind (the health counters count by kind) and a
reason naming the field. The limits are the canonical payload's own (streetlight.contract),
so what is accepted here always validates against the contract's schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import annotated_types
import orjson

from streetlight.contract import CabinetTelemetry, CircuitReading, LampTelemetry, PhaseReading
from streetlight.domain import Cabinet, Phase
from streetlight.profiles import (
    CodecError,
    ModbusCabinetProfile,
    ModbusLampProfile,
    MqttLampProfile,
    RegisterSpec,
    decode,
    faults_of,
)

# kinds of bad input, as counted in the gateway's health
MALFORMED = "malformed"  # not JSON, not an object, binary garbage
UNMAPPED = "unmapped"  # a field the profile needs is missing
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_DEVICE = "unknown_device"


class Rejected(ValueError):  # noqa: N818 - a verdict on a message, raised and counted
    """A device message that does not become telemetry."""

    def __init__(self, kind: str, reason: str, device: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.device = device


def _limits(model: type[Any]) -> dict[str, tuple[float, float]]:
    limits = {}
    for name, info in model.model_fields.items():
        low, high = -math.inf, math.inf
        for constraint in info.metadata:
            if isinstance(constraint, annotated_types.Ge):
                low = float(constraint.ge)  # type: ignore[arg-type]
            elif isinstance(constraint, annotated_types.Le):
                high = float(constraint.le)  # type: ignore[arg-type]
        limits[name] = (low, high)
    return limits


LAMP_LIMITS = _limits(LampTelemetry)
FLOAT_FIELDS = (
    "voltage_v",
    "current_a",
    "power_w",
    "power_factor",
    "energy_wh",
    "driver_temp_c",
    "burning_hours",
)


@dataclass(slots=True)
class Reading:
    """One lamp's canonical telemetry, with the same attribute names as `LampTelemetry`."""

    lamp: str
    ts: datetime
    relay_on: bool
    dim_pct: int
    voltage_v: float | None = None
    current_a: float | None = None
    power_w: float | None = None
    power_factor: float | None = None
    energy_wh: float | None = None
    driver_temp_c: float | None = None
    burning_hours: float | None = None
    faults: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """The contract's `lamp_telemetry` object (for a `telemetry_batch`), to serialise with
        orjson: `ts` stays a datetime, which orjson writes as ISO 8601."""
        document: dict[str, Any] = {
            "lamp": self.lamp,
            "ts": self.ts,
            "relay_on": self.relay_on,
            "dim_pct": self.dim_pct,
        }
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        document["faults"] = self.faults
        return document


def _checked(name: str, value: float, device: str) -> float:
    low, high = LAMP_LIMITS[name]
    if math.isnan(value) or not low <= value <= high:
        raise Rejected(OUT_OF_RANGE, f"{name} {value!r} outside {low:g}..{high:g}", device)
    return value


def _get(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return _MISSING
        node = node[key]
    return node


_MISSING = object()


class MqttDecoder:
    """Decodes one MQTT profile's reports."""

    def __init__(self, profile: MqttLampProfile, known: Mapping[str, object]) -> None:
        report = profile.report
        self.profile = profile
        self._known = known
        self._device = tuple(report.device.split("."))
        self._time = tuple(report.time.path.split("."))
        self._time_scale = report.time.scale
        self._fields = [
            (name, tuple(spec.path.split(".")), spec.type, spec.scale)
            for name, spec in report.fields.items()
        ]
        self._faults = (
            (tuple(report.faults.path.split(".")), sorted(report.faults.bits.items()))
            if report.faults
            else None
        )

    def decode(self, payload: bytes) -> Reading:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise Rejected(MALFORMED, f"not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise Rejected(MALFORMED, "not a JSON object")
        device = _get(document, self._device)
        if not isinstance(device, str):
            raise Rejected(UNMAPPED, f"no device id at {'.'.join(self._device)}")
        if device not in self._known:
            raise Rejected(UNKNOWN_DEVICE, f"unknown device {device!r}", device)
        raw_time = _get(document, self._time)
        if not isinstance(raw_time, int | float) or isinstance(raw_time, bool):
            raise Rejected(UNMAPPED, f"no time at {'.'.join(self._time)}", device)
        try:
            ts = datetime.fromtimestamp(raw_time * self._time_scale, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise Rejected(OUT_OF_RANGE, f"time {raw_time!r} is not a date", device) from exc
        values: dict[str, Any] = {}
        for name, path, kind, scale in self._fields:
            raw = _get(document, path)
            if raw is _MISSING or raw is None:
                if name in ("relay_on", "dim_pct"):
                    raise Rejected(UNMAPPED, f"{name} missing at {'.'.join(path)}", device)
                continue
            values[name] = self._value(name, raw, kind, scale, device)
        faults: list[str] = []
        if self._faults is not None:
            word = _get(document, self._faults[0])
            if isinstance(word, int) and not isinstance(word, bool):
                faults = [flag.value for bit, flag in self._faults[1] if word >> bit & 1]
            elif word is not _MISSING:
                raise Rejected(WRONG_TYPE, f"fault word {word!r} is not an integer", device)
        return Reading(lamp=device, ts=ts, faults=faults, **values)

    @staticmethod
    def _value(name: str, raw: Any, kind: str, scale: float, device: str) -> Any:
        if kind == "bool":
            if raw in (0, 1) and not isinstance(raw, float):
                return bool(raw)
            raise Rejected(WRONG_TYPE, f"{name} {raw!r} is not 0 or 1", device)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise Rejected(WRONG_TYPE, f"{name} {raw!r} is not a number", device)
        if name == "dim_pct":
            if raw != int(raw):
                raise Rejected(WRONG_TYPE, f"dim_pct {raw!r} is not a whole number", device)
            return int(_checked(name, raw, device))
        return _checked(name, float(raw) * scale, device)


@dataclass(frozen=True, slots=True)
class SlotBlock:
    """Registers read from a concentrator: `registers[0]` is at `address`."""

    address: int
    registers: Sequence[int]

    def words(self, spec: RegisterSpec, slot_index: int) -> Sequence[int]:
        start = spec.address_of(slot_index) - self.address
        if start < 0 or start + spec.width > len(self.registers):
            raise IndexError(f"registers of slot {slot_index + 1} were not read")
        return self.registers[start : start + spec.width]


def modbus_lamp(
    profile: ModbusLampProfile, block: SlotBlock, slot_index: int, lamp_id: str, ts: datetime
) -> Reading | None:
    """A lamp's reading from its slot's registers; None when the concentrator lost the lamp."""
    values: dict[str, Any] = {}
    faults: list[str] = []
    for name, spec in profile.fields.items():
        try:
            value = decode(
                spec, block.words(spec, slot_index), profile.word_order, profile.byte_order
            )
        except CodecError as exc:
            raise Rejected(WRONG_TYPE, f"{name}: {exc}", lamp_id) from exc
        if name == "online":
            if not value:
                return None
        elif name == "faults":
            faults = [flag.value for flag in faults_of(spec, int(value))]
        elif name == "relay_on":
            values[name] = bool(value)
        elif name == "dim_pct":
            values[name] = int(_checked(name, float(value), lamp_id))
        else:
            values[name] = _checked(name, float(value), lamp_id)
    return Reading(lamp=lamp_id, ts=ts, faults=faults, **values)


def modbus_cabinet(
    profile: ModbusCabinetProfile,
    cabinet: Cabinet,
    read: Mapping[tuple[str, int], int | bool],
    ts: datetime,
    source: str,
) -> CabinetTelemetry:
    """A cabinet's telemetry from the values read, by (table, address)."""

    def value(spec: RegisterSpec, index: int = 0) -> Any:
        start = spec.address_of(index)
        words = [read[(spec.table, start + k)] for k in range(spec.width)]
        if spec.table in ("coil", "discrete"):
            return bool(words[0])
        return decode(spec, [int(w) for w in words], profile.word_order, profile.byte_order)

    try:
        phases = [
            PhaseReading.model_validate(
                {"phase": phase, **{name: value(spec, i) for name, spec in profile.phases.items()}}
            )
            for i, phase in enumerate((Phase.A, Phase.B, Phase.C))
        ]
        circuits = [
            CircuitReading.model_validate(
                {
                    "circuit": circuit_id,
                    **{name: value(spec, i) for name, spec in profile.circuits.items()},
                }
            )
            for i, circuit_id in enumerate(cabinet.circuit_ids)
        ]
        fields = {name: value(spec) for name, spec in profile.fields.items()}
        return CabinetTelemetry.model_validate(
            {
                "cabinet": cabinet.id,
                "ts": ts,
                "phases": phases,
                "circuits": circuits,
                "source": source,
                **fields,
            }
        )
    except (CodecError, ValueError) as exc:
        raise Rejected(
            OUT_OF_RANGE, f"cabinet {cabinet.id}: {exc}".splitlines()[0], cabinet.id
        ) from exc
