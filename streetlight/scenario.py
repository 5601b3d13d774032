"""Scenario files: when which fault starts and ends, background faults, and weather.

The simulator plays a scenario (its background faults are drawn in simulator.background); the
demo reads one to set the shared clock; the benchmarks score detection against its truth.

    start: 2026-12-21T16:00:00+08:00
    speed: 60
    seed: 7
    reporting_interval_s: 60
    faults:
      - {at: 2026-12-21T18:05:00+08:00, target: "lamp:PP-S01-L003", kind: lamp_failure,
         until: 2026-12-21T20:00:00+08:00}
      - {at: 2026-12-21T19:00:00+08:00, target: "cabinet:GT-S02-K1", kind: phase_loss, phase: B}
    random_faults: {rate_per_lamp_per_night: 0.002, kinds: [lamp_failure, low_power]}
    weather:
      - {at: 2026-12-22T15:00:00+08:00, until: 2026-12-22T15:40:00+08:00, lux_factor: 0.01}

Faults must be listed in time order. A bad entry is refused with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from streetlight.domain import AlarmType, AssetKind, Inventory, Phase
from streetlight.errors import StreetlightError
from streetlight.yamlfile import read_yaml


class ScenarioError(StreetlightError):
    """A scenario file or a fault request that cannot be carried out."""


class DeviceFault(StrEnum):
    """Faults of a device that are no alarm of their own, played for what they do to the
    figures (docs/contract.md, "Scenario")."""

    # the lamp lights LATE_START_MIN minutes after its node switches it on (a driver whose
    # protection holds it off after a cold start), the node reporting its relay closed
    LATE_START = "late_start"


LATE_START_MIN = 20
FaultKind = AlarmType | DeviceFault

# the faults the simulator can play, by the kind of asset each targets (DESIGN.md section 6)
FAULT_TARGETS: dict[FaultKind, AssetKind] = {
    AlarmType.LAMP_FAILURE: AssetKind.LAMP,
    AlarmType.LOW_POWER: AssetKind.LAMP,
    AlarmType.HIGH_POWER: AssetKind.LAMP,
    AlarmType.DIMMING_FAILURE: AssetKind.LAMP,
    AlarmType.DAY_BURNING: AssetKind.LAMP,
    AlarmType.CYCLING: AssetKind.LAMP,
    AlarmType.LAMP_OFFLINE: AssetKind.LAMP,
    AlarmType.OVER_TEMPERATURE: AssetKind.LAMP,
    AlarmType.VOLTAGE_HIGH: AssetKind.CABINET,
    AlarmType.VOLTAGE_LOW: AssetKind.CABINET,
    AlarmType.SUPPLY_LOSS: AssetKind.CABINET,
    AlarmType.PHASE_LOSS: AssetKind.CABINET,
    AlarmType.LEAKAGE: AssetKind.CABINET,
    AlarmType.DOOR_OPEN: AssetKind.CABINET,
    AlarmType.CIRCUIT_DEAD: AssetKind.CIRCUIT,
    DeviceFault.LATE_START: AssetKind.LAMP,
}


class FaultEventKind(StrEnum):
    START = "start"
    END = "end"


@dataclass(frozen=True, slots=True)
class FaultTarget:
    kind: AssetKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault starting or ending on an asset, at a simulated time (seconds since the epoch)."""

    at: float
    target: FaultTarget
    kind: FaultKind
    event: FaultEventKind
    phase: Phase | None = None


@dataclass(frozen=True, slots=True)
class WeatherSpell:
    start: float
    end: float
    lux_factor: float


def parse_target(text: str, inventory: Inventory) -> FaultTarget:
    """``lamp:<id>``, ``circuit:<id>`` or ``cabinet:<id>`` of an asset the inventory has."""
    kind_text, _, asset_id = text.partition(":")
    tables: dict[AssetKind, Mapping[str, object]] = {
        AssetKind.LAMP: inventory.lamps,
        AssetKind.CIRCUIT: inventory.circuits,
        AssetKind.CABINET: inventory.cabinets,
    }
    try:
        kind = AssetKind(kind_text)
    except ValueError as exc:
        raise ScenarioError(
            f"target {text!r} must be lamp:<id>, circuit:<id> or cabinet:<id>"
        ) from exc
    if kind not in tables:
        raise ScenarioError(f"target {text!r} must be lamp:<id>, circuit:<id> or cabinet:<id>")
    if asset_id not in tables[kind]:
        raise ScenarioError(f"target {text!r}: the inventory has no {kind.value} {asset_id!r}")
    return FaultTarget(kind, asset_id)


def parse_kind(text: str, target: FaultTarget) -> FaultKind:
    kind = _known_kind(text)
    if kind is None:
        known = ", ".join(k.value for k in FAULT_TARGETS)
        raise ScenarioError(f"unknown fault kind {text!r}; known: {known}")
    if FAULT_TARGETS[kind] is not target.kind:
        raise ScenarioError(
            f"{kind.value} happens to a {FAULT_TARGETS[kind].value}, not a {target.kind.value}"
        )
    return kind


class _FaultEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    target: str
    kind: str
    until: AwareDatetime | None = None
    phase: Phase | None = None

    @model_validator(mode="after")
    def _until_after_at(self) -> Self:
        if self.until is not None and self.until <= self.at:
            raise ValueError("until must be after at")
        return self


class _RandomFaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_per_lamp_per_night: float = Field(ge=0, le=1)
    kinds: list[str] = Field(min_length=1)
    duration_minutes: tuple[float, float] = (30.0, 480.0)


class _WeatherEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    until: AwareDatetime
    lux_factor: float = Field(gt=0, le=1)


class _ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime | None = None
    speed: float | None = Field(default=None, gt=0, le=10_000)
    seed: int | None = None
    reporting_interval_s: float = Field(default=60.0, ge=1, le=3600)
    faults: list[_FaultEntry] = Field(default_factory=list)
    random_faults: _RandomFaults | None = None
    weather: list[_WeatherEntry] = Field(default_factory=list)


@dataclass
class Scenario:
    """A checked scenario: fault events in time order, random faults, weather."""

    start: datetime | None = None
    speed: float | None = None
    seed: int | None = None
    reporting_interval_s: float = 60.0
    events: list[FaultEvent] = field(default_factory=list)
    random_rate: float = 0.0
    random_kinds: tuple[FaultKind, ...] = ()
    random_minutes: tuple[float, float] = (30.0, 480.0)
    weather: list[WeatherSpell] = field(default_factory=list)


def load_scenario(path: Path, inventory: Inventory) -> Scenario:
    source = str(path)
    document: Any = read_yaml(path, ScenarioError)
    return build_scenario(document or {}, inventory, source)


def build_scenario(document: Any, inventory: Inventory, source: str = "scenario") -> Scenario:
    try:
        raw = _ScenarioFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _entry_name(document, first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ScenarioError(f"{source}: {where}: {message}") from exc

    events: list[FaultEvent] = []
    previous: datetime | None = None
    for index, entry in enumerate(raw.faults):
        where = f"faults[{index}] ({entry.target} {entry.kind})"
        try:
            target = parse_target(entry.target, inventory)
            kind = parse_kind(entry.kind, target)
        except ScenarioError as exc:
            raise ScenarioError(f"{source}: {where}: {exc}") from exc
        if entry.phase is not None and kind is not AlarmType.PHASE_LOSS:
            raise ScenarioError(f"{source}: {where}: phase is only for phase_loss")
        if previous is not None and entry.at < previous:
            raise ScenarioError(
                f"{source}: {where}: at {entry.at.isoformat()} is before the entry above "
                f"({previous.isoformat()}); list faults in time order"
            )
        previous = entry.at
        phase = entry.phase or (Phase.A if kind is AlarmType.PHASE_LOSS else None)
        at = entry.at.timestamp()
        events.append(FaultEvent(at, target, kind, FaultEventKind.START, phase))
        if entry.until is not None:
            events.append(
                FaultEvent(entry.until.timestamp(), target, kind, FaultEventKind.END, phase)
            )

    kinds = _random_kinds(raw.random_faults, source) if raw.random_faults else ()

    weather = [
        WeatherSpell(w.at.timestamp(), w.until.timestamp(), w.lux_factor) for w in raw.weather
    ]
    for index, spell in enumerate(weather):
        if spell.end <= spell.start:
            raise ScenarioError(f"{source}: weather[{index}]: until must be after at")

    events.sort(key=lambda e: e.at)  # ends interleave with later starts
    return Scenario(
        start=raw.start,
        speed=raw.speed,
        seed=raw.seed,
        reporting_interval_s=raw.reporting_interval_s,
        events=events,
        random_rate=raw.random_faults.rate_per_lamp_per_night if raw.random_faults else 0.0,
        random_kinds=kinds,
        random_minutes=raw.random_faults.duration_minutes if raw.random_faults else (30.0, 480.0),
        weather=weather,
    )


def _known_kind(text: str) -> FaultKind | None:
    """The fault kind named `text`, if the simulator can play it."""
    kind: FaultKind
    try:
        kind = AlarmType(text)
    except ValueError:
        try:
            kind = DeviceFault(text)
        except ValueError:
            return None
    return kind if kind in FAULT_TARGETS else None


def _random_kinds(random_faults: _RandomFaults, source: str) -> tuple[FaultKind, ...]:
    kinds = []
    for index, text in enumerate(random_faults.kinds):
        kind = _known_kind(text)
        if kind is None:
            raise ScenarioError(
                f"{source}: random_faults.kinds[{index}]: unknown fault kind {text!r}"
            )
        kinds.append(kind)
    low, high = random_faults.duration_minutes
    if not 0 < low <= high:
        raise ScenarioError(f"{source}: random_faults.duration_minutes: need 0 < min <= max")
    return tuple(kinds)


def _entry_name(document: Any, loc: tuple[int | str, ...]) -> str:
    """`faults[2] (lamp:X lamp_failure).until` for an error inside a fault entry."""
    parts: list[str] = []
    node = document
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
            if isinstance(node, list) and part < len(node):
                node = node[part]
                if isinstance(node, dict) and "target" in node:
                    parts[-1] += f" ({node.get('target')} {node.get('kind')})"
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts) or "scenario"
