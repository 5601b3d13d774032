"""Device messages into canonical telemetry, by their profile, refusing what does not fit.

A rejected message raises `Rejected` with a kind (the health counters count by kind) and a
reason naming the field. The limits are the canonical payload's own (streetlight.contract),
so what is accepted here always validates against the contract's schema. A report is also
refused when its time is outside a window around the gateway's clock (`TimeWindow`), and when
its device is not a lamp of the profile whose topic carried it.

It is the core's, not the gateway's alone: the onboarding check (`streetlight contract profiles
--sample`) decodes a recorded payload exactly as the gateway does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import annotated_types
import orjson

from streetlight.contract import CabinetTelemetry, CircuitReading, LampTelemetry, PhaseReading
from streetlight.domain import Cabinet, Inventory, Phase
from streetlight.profiles import (
    CodecError,
    FaultSpec,
    JsonField,
    JsonPath,
    JsonTime,
    ModbusCabinetProfile,
    ModbusLampProfile,
    MqttLampProfile,
    RegisterSpec,
    compiled,
    conversion,
    decode,
    faults_of,
)

# kinds of bad input, as counted in the gateway's health
MALFORMED = "malformed"  # not JSON, not an object, binary garbage
UNMAPPED = "unmapped"  # a field the profile needs is missing
WRONG_TYPE = "wrong_type"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_DEVICE = "unknown_device"
WRONG_PROFILE = "wrong_profile"  # a lamp of another model, on this model's topics
TIME_AHEAD = "time_ahead"  # stamped further ahead of the clock than the window allows
TIME_OLD = "time_old"  # older than the window allows


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
    ts_source: str | None = None  # "gateway": the device sent no time; ts is the receipt's

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
        if self.ts_source is not None:
            document["ts_source"] = self.ts_source
        return document


def _checked(name: str, value: float, device: str) -> float:
    low, high = LAMP_LIMITS[name]
    if not low <= value <= high or not math.isfinite(value):
        raise Rejected(OUT_OF_RANGE, f"{name} {value!r} outside {low:g}..{high:g}", device)
    return value


NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*\Z")
Reader = Callable[[Any, str], Any]  # raw JSON value, device -> canonical value


def _number(name: str, raw: Any, device: str) -> float:
    """A JSON number, or a string that is a decimal number ("221.4")."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and NUMBER.match(raw):
        return float(raw)
    raise Rejected(WRONG_TYPE, f"{name} {raw!r} is not a number", device)


def _scaler(scale: float) -> Callable[[float], float]:
    """raw * scale; a scale of 0.1 or 0.001 divides by 10 or 1000 instead, which gives the
    float nearest the decimal (2217 -> 221.7, where 2217 * 0.1 is 221.70000000000002)."""
    inverse = 1 / scale
    if scale < 1 and abs(inverse - round(inverse)) < 1e-9:
        divisor = float(round(inverse))
        return lambda value: value / divisor
    return lambda value: value * scale


def _canonical(name: str, spec: JsonField) -> Callable[[float], float] | None:
    """The vendor's value to the canonical unit (its scale, then its unit); None if it is."""
    scaled = _scaler(spec.scale)
    convert = conversion(name, spec.unit)
    if convert.identity:
        return None if spec.scale == 1.0 else scaled
    return lambda value: convert.to_canonical(scaled(value))


def _number_reader(name: str, spec: JsonField) -> Reader:
    canonical = _canonical(name, spec)
    low, high = LAMP_LIMITS[name]
    bounded = math.isfinite(low) and math.isfinite(high)  # then NaN and inf are never within

    def read(raw: Any, device: str) -> float:
        # the common case first (a reader runs for every field of every report): a JSON
        # number within the field's finite limits
        value = raw if type(raw) is int or type(raw) is float else _number(name, raw, device)
        if canonical is not None:
            value = canonical(value)
        if bounded and low <= value <= high:
            return float(value)
        return _checked(name, float(value), device)

    def read_dim(raw: Any, device: str) -> int:
        value = _number(name, raw, device)
        if canonical is not None:
            value = round(canonical(value), 6)
        value = _checked(name, float(value), device)
        if value != int(value):
            raise Rejected(WRONG_TYPE, f"dim_pct {value!r} is not a whole number", device)
        return int(_checked(name, value, device))

    return read_dim if name == "dim_pct" else read


def _state_reader(name: str, given: Mapping[str, bool]) -> Reader:
    """An on/off state: JSON true/false, 0/1, or one of the words (compared without case)."""
    words = {word.lower(): state for word, state in given.items()}

    def read(raw: Any, device: str) -> bool:
        if raw is True or raw is False:
            return raw
        if raw in (0, 1) and not isinstance(raw, float):
            return bool(raw)
        if isinstance(raw, str):
            state = words.get(raw.strip().lower())
            if state is not None:
                return state
        raise Rejected(
            WRONG_TYPE, f"{name} {raw!r} is not one of {', '.join(given)} (nor 0/1)", device
        )

    return read


def _time_reader(spec: JsonTime) -> Callable[[Any, str], datetime]:
    if spec.format == "iso8601":

        def iso(raw: Any, device: str) -> datetime:
            try:
                moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:
                moment = None
            if moment is None:
                raise Rejected(WRONG_TYPE, f"time {raw!r} is not ISO 8601", device)
            if moment.tzinfo is None:
                raise Rejected(WRONG_TYPE, f"time {raw!r} has no UTC offset", device)
            return moment

        return iso
    divisor = 1000.0 if spec.format == "epoch_ms" else 1.0

    def epoch(raw: Any, device: str) -> datetime:
        seconds = _number("time", raw, device) / divisor
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:  # beyond year 9999, or NaN
            raise Rejected(OUT_OF_RANGE, f"time {raw!r} is not a date", device) from exc

    return epoch


def _fault_reader(spec: FaultSpec) -> Callable[[Any, str], list[str]]:
    if spec.bits is not None:
        bits = sorted(spec.bits.items())

        def word(raw: Any, device: str) -> list[str]:
            value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
            if isinstance(raw, str) and raw.strip().isdigit() and len(raw) <= 20:
                value = int(raw)
            if value is None:
                raise Rejected(WRONG_TYPE, f"fault word {raw!r} is not an integer", device)
            if not value:
                return []  # most reports: no bit to look at
            return [flag.value for bit, flag in bits if value >> bit & 1]

        return word
    words = {word.lower(): flag for word, flag in (spec.words or {}).items()}

    def named(raw: Any, device: str) -> list[str]:
        given = [raw] if isinstance(raw, str) else raw
        if not isinstance(given, list) or not all(isinstance(w, str) for w in given):
            raise Rejected(WRONG_TYPE, f"faults {raw!r} are not words", device)
        flags = {words.get(w.strip().lower()) for w in given}
        return sorted(flag.value for flag in flags if flag is not None)

    return named


def device_names(profile: MqttLampProfile, inventory: Inventory) -> dict[str, str]:
    """What a device of this profile may call itself -> its lamp: any lamp id, or (for a
    profile whose devices go by address) any lamp's device address, in lower case, as they are
    compared without case."""
    if profile.devices_named_by == "lamp_id":
        return {lamp: lamp for lamp in inventory.lamps}
    return {
        lamp.device_address.casefold(): lamp.id
        for lamp in inventory.lamps.values()
        if lamp.device_address
    }


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far from the clock a report's time may be: at most `ahead_s` ahead (a device clock
    that is wrong, or a forged time) and at most `behind_s` behind (older than the broker's
    queue and the spools are sized to hold)."""

    ahead_s: float | None = 600.0  # None: no limit
    behind_s: float | None = 86_400.0
    _ahead: timedelta | None = field(init=False, repr=False, compare=False)
    _behind: timedelta | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # made once, not for every report
        for name, seconds in (("_ahead", self.ahead_s), ("_behind", self.behind_s)):
            object.__setattr__(self, name, None if seconds is None else timedelta(seconds=seconds))

    @property
    def limited(self) -> bool:
        """Whether it refuses any time at all."""
        return self._ahead is not None or self._behind is not None

    def check(self, ts: datetime, now: datetime, device: str) -> None:
        if self._ahead is not None and ts - now > self._ahead:
            raise Rejected(TIME_AHEAD, f"time {ts.isoformat()} is ahead of the clock", device)
        if self._behind is not None and now - ts > self._behind:
            raise Rejected(TIME_OLD, f"time {ts.isoformat()} is older than the window", device)


class MqttDecoder:
    """Decodes one MQTT profile's reports, its paths compiled once.

    `devices` maps what a device calls itself (see `device_names`) to its lamp; `lamps`, if
    given, are the lamps of this profile (another lamp named on its topics is refused as
    `wrong_profile`); `now` is the clock, for a profile whose reports carry no time and for the
    `window` a report's time must fall in (None: any time)."""

    def __init__(
        self,
        profile: MqttLampProfile,
        devices: Mapping[str, str],
        now: Callable[[], datetime] | None = None,
        *,
        lamps: frozenset[str] | None = None,
        window: TimeWindow | None = None,
    ) -> None:
        report = profile.report
        self.profile = profile
        self._devices = devices
        self._own = lamps
        self._window = window if window is not None and window.limited else None
        self._fold = profile.devices_named_by == "device_address"
        self._now = now or (lambda: datetime.now(UTC))
        self._device = compiled(report.device.path) if report.device.path else None
        self._pattern = re.compile(report.device.pattern) if report.device.pattern else None
        self._time = (
            (compiled(report.time.path), _time_reader(report.time)) if report.time else None
        )
        self._fields: list[tuple[str, JsonPath, Reader]] = [
            (
                name,
                compiled(spec.path),
                _state_reader(name, spec.words)
                if spec.type == "bool"
                else _number_reader(name, spec),
            )
            for name, spec in report.fields.items()
        ]
        faults = report.faults
        self._faults = (compiled(faults.path), _fault_reader(faults)) if faults else None
        # a report is a JSON object, or an array (SenML) where the profile's paths start at one
        paths = [path for _, path, _ in self._fields]
        self._shape: type = (
            list if any(p.expression.lstrip().startswith("[") for p in paths) else dict
        )

    def device(self, value: Any, where: str, *, in_payload: bool = False) -> str:
        """The device name a value gives: the part the profile's pattern picks, if it has one
        (of the payload's value when the report names its device there, else of the topic's)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an IMEI sent as a JSON number
        if not isinstance(value, str) or not value:
            raise Rejected(UNMAPPED, f"no device at {where}")
        if self._pattern is not None and in_payload == (self._device is not None):
            match = self._pattern.search(value)
            if match is None:
                raise Rejected(UNMAPPED, f"device {value!r} does not match the profile's pattern")
            return str(match.group(1))
        return value

    def lamp(self, name: str) -> str:
        """The lamp a device name stands for; Rejected when the inventory has none."""
        lamp = self._devices.get(self._key(name))
        if lamp is None:
            what = "device address" if self._fold else "device"
            raise Rejected(UNKNOWN_DEVICE, f"unknown {what} {name[:80]!r}", name)
        if self._own is not None and lamp not in self._own:
            raise Rejected(WRONG_PROFILE, f"lamp {lamp} is not a {self.profile.id}", lamp)
        return lamp

    def _name(self, document: Any, topic_device: str | None) -> str:
        """The device name a report gives, in its payload or its topic (which must agree)."""
        if self._device is None:
            return self.device(topic_device, "the topic")
        name = self.device(self._device.get(document), self._device.expression, in_payload=True)
        if topic_device is not None:
            on_topic = self.device(topic_device, "the topic")
            if self._key(on_topic) != self._key(name):
                raise Rejected(
                    UNMAPPED, f"a report on {topic_device}'s topic names {name}", topic_device
                )
        return name

    def _key(self, name: str) -> str:
        return name.casefold() if self._fold else name

    def decode(self, payload: bytes, topic_device: str | None = None) -> Reading:
        """The reading of a report (that came on `topic_device`'s topic, if its topic names one)."""
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise Rejected(MALFORMED, f"not JSON: {exc}") from exc
        if not isinstance(document, self._shape):
            raise Rejected(MALFORMED, f"not a JSON {'array' if self._shape is list else 'object'}")
        lamp = self.lamp(self._name(document, topic_device))
        ts_source = None
        if self._time is None:
            ts, ts_source = self._now(), "gateway"
        else:
            raw_time = self._time[0].get(document)
            if raw_time is None:
                raise Rejected(UNMAPPED, f"no time at {self._time[0].expression}", lamp)
            ts = self._time[1](raw_time, lamp)
            if self._window is not None:
                self._window.check(ts, self._now(), lamp)
        values: dict[str, Any] = {}
        for field_name, path, read in self._fields:
            raw = path.get(document)
            if raw is None:
                if field_name in ("relay_on", "dim_pct"):
                    raise Rejected(UNMAPPED, f"{field_name} missing at {path.expression}", lamp)
                continue
            values[field_name] = read(raw, lamp)
        faults: list[str] = []
        if self._faults is not None:
            raw_faults = self._faults[0].get(document)
            if raw_faults is not None:
                faults = self._faults[1](raw_faults, lamp)
        return Reading(lamp=lamp, ts=ts, faults=faults, ts_source=ts_source, **values)


def _events(name: str, kind: str, raw: Any, counters: dict[str, int] | None) -> int:
    if kind == "latched":
        return int(bool(raw))
    count = int(raw)
    if counters is None:
        return 0
    before = counters.get(name)
    counters[name] = count
    if before is None:
        return 0  # the first read: what came before the gateway is not news
    return count - before if count >= before else count


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
    *,
    counters: dict[str, int] | None = None,
) -> CabinetTelemetry:
    """A cabinet's telemetry from the values read, by (table, address). Event fields give the
    events since the previous report: a latched bit 0 or 1; a counter its increase since the
    value kept in `counters` (0 the first time; a counter that went down was reset or wrapped,
    and counts from 0), which is updated."""

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
        for name, spec in profile.fields.items():
            if spec.event is not None:
                fields[name] = _events(name, spec.event, fields[name], counters)
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
