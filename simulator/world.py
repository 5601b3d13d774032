"""The simulated district: every lamp and cabinet of an inventory, their faults and commands.

The world is the one place state changes; the MQTT links, the Modbus server, the fault
timeline and the control interface all act through it. Its times are simulated seconds since
the epoch, read from the injected clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from simulator import noise, physics
from simulator.devices import CabinetState, LampState
from streetlight.clock import Clock
from streetlight.domain import AlarmType, AssetKind, Cabinet, Inventory, Lamp, Phase
from streetlight.errors import StreetlightError
from streetlight.profiles import (
    BIT_TABLES,
    ModbusCabinetProfile,
    ModbusLampProfile,
    MqttLampProfile,
    Profile,
)
from streetlight.scenario import (
    FAULT_TARGETS,
    FaultEvent,
    FaultEventKind,
    FaultKind,
    FaultTarget,
    ScenarioError,
    parse_kind,
    parse_target,
)

logger = logging.getLogger(__name__)

NIGHT_BELOW_DEG = -2.0  # at start, lamps of a cabinet whose sun is lower than this are lit
# clocks keep microseconds, timestamps here are floats: something due within this is due now
DUE_TOLERANCE_S = 0.001


class SimulatorError(StreetlightError):
    """The simulator cannot run this inventory with these profiles."""


@dataclass
class Stats:
    """What the simulator did, for tests, the control interface and benchmarks."""

    reports_due: int = 0
    reports_sent: int = 0  # acknowledged by the broker (QoS 1)
    reports_dropped: int = 0  # a link's outbox overflowed while its broker was away
    report_lag_max_s: float = 0.0
    lag_histogram: Counter[int] = field(default_factory=Counter)  # lateness in 10 ms bins
    commands: int = 0
    acks_sent: int = 0
    commands_refused: int = 0
    modbus_requests: int = 0
    modbus_writes: int = 0
    modbus_refused: int = 0
    faults_started: int = 0
    faults_ended: int = 0

    def note_lag(self, lag_s: float) -> None:
        self.report_lag_max_s = max(self.report_lag_max_s, lag_s)
        self.lag_histogram[min(int(lag_s * 100), 100_000)] += 1

    def lag_quantile(self, q: float) -> float:
        total = sum(self.lag_histogram.values())
        if not total:
            return 0.0
        seen = 0
        for bucket in sorted(self.lag_histogram):
            seen += self.lag_histogram[bucket]
            if seen >= q * total:
                return (bucket + 1) / 100
        return self.report_lag_max_s

    def as_dict(self) -> dict[str, float | int]:
        figures: dict[str, float | int] = {
            name: value
            for name, value in vars(self).items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        figures["report_lag_p50_s"] = self.lag_quantile(0.5)
        figures["report_lag_p99_s"] = self.lag_quantile(0.99)
        return figures


class TruthLog:
    """Appends every fault start and end as a JSON line, in simulated time."""

    def __init__(self, path: Path | None) -> None:
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path else None

    def write(self, event: FaultEvent) -> None:
        if self._file is None:
            return
        record = {
            "at": datetime.fromtimestamp(event.at, UTC).isoformat(),
            "target": str(event.target),
            "kind": event.kind.value,
            "event": event.event.value,
        }
        if event.phase is not None:
            record["phase"] = event.phase.value
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class World:
    """All simulated devices of one inventory."""

    def __init__(
        self,
        inventory: Inventory,
        profiles: dict[str, Profile],
        clock: Clock,
        *,
        seed: int = 0,
        truth: TruthLog | None = None,
    ) -> None:
        self.inventory = inventory
        self.clock = clock
        self.seed = seed
        self.truth = truth or TruthLog(None)
        self.stats = Stats()
        self.supply_changed = asyncio.Condition()
        self.lamps: dict[str, LampState] = {}
        self.cabinets: dict[str, CabinetState] = {}
        self.circuits: dict[str, tuple[CabinetState, int]] = {}
        self.mqtt_lamps: dict[str, list[LampState]] = {}  # by profile id
        self.modbus_lamps: dict[str, list[LampState]] = {}  # by cabinet id, in slot order
        self.cabinet_profiles: dict[str, ModbusCabinetProfile] = {}
        self.lamp_profiles: dict[str, ModbusLampProfile] = {}  # by cabinet id
        self.mqtt_profiles: dict[str, MqttLampProfile] = {}
        self.active: set[tuple[FaultTarget, FaultKind]] = set()
        self._build(profiles)

    @property
    def now(self) -> float:
        return self.clock.now().timestamp()

    def _build(self, profiles: dict[str, Profile]) -> None:
        now = self.now
        offset = self.clock.now().astimezone(self.inventory.district.tz).utcoffset()
        offset_h = offset.total_seconds() / 3600 if offset else 0.0
        for cabinet in self.inventory.cabinets.values():
            self._add_cabinet(cabinet, profiles.get(cabinet.profile), offset_h, now)
        for lamp_id in sorted(self.inventory.lamps):
            lamp = self.inventory.lamps[lamp_id]
            self._add_lamp(lamp, profiles.get(lamp.profile), now)
        for state in self.cabinets.values():
            night = physics.sun_elevation(state.lat, state.lon, now) < NIGHT_BELOW_DEG
            for lamp_state in state.lamps:
                lamp_state.relay, lamp_state.level = night, 100

    def _add_cabinet(
        self, cabinet: Cabinet, profile: Profile | None, offset_h: float, now: float
    ) -> None:
        if not isinstance(profile, ModbusCabinetProfile):
            raise SimulatorError(
                f"cabinet {cabinet.id}: profile {cabinet.profile!r} is not a cabinet profile "
                f"in the profile directory"
            )
        if len(cabinet.circuit_ids) > profile.max_circuits:
            raise SimulatorError(
                f"cabinet {cabinet.id}: {len(cabinet.circuit_ids)} circuits, "
                f"but {profile.id} has {profile.max_circuits}"
            )
        state = CabinetState(cabinet, noise.key_of(self.seed, cabinet.id), offset_h, now)
        self.cabinets[cabinet.id] = state
        self.cabinet_profiles[cabinet.id] = profile
        for index, circuit_id in enumerate(cabinet.circuit_ids):
            self.circuits[circuit_id] = (state, index)

    def _add_lamp(self, lamp: Lamp, profile: Profile | None, now: float) -> None:
        cabinet, circuit_index = self.circuits[lamp.circuit_id]
        state = LampState(lamp, cabinet, circuit_index, noise.key_of(self.seed, lamp.id), now)
        cabinet.lamps.append(state)
        self.lamps[lamp.id] = state
        if isinstance(profile, MqttLampProfile):
            self.mqtt_profiles[profile.id] = profile
            self.mqtt_lamps.setdefault(profile.id, []).append(state)
        elif isinstance(profile, ModbusLampProfile):
            self._place_on_concentrator(state, profile)
        else:
            raise SimulatorError(
                f"lamp {lamp.id}: profile {lamp.profile!r} is not a lamp profile "
                f"in the profile directory"
            )

    def _place_on_concentrator(self, lamp: LampState, profile: ModbusLampProfile) -> None:
        cabinet_id = lamp.cabinet.cabinet.id
        known = self.lamp_profiles.setdefault(cabinet_id, profile)
        if known is not profile:
            raise SimulatorError(
                f"cabinet {cabinet_id}: its concentrator serves {known.id} lamps, "
                f"lamp {lamp.lamp.id} is {profile.id}"
            )
        slots = self.modbus_lamps.setdefault(cabinet_id, [])
        if len(slots) == 0:
            _check_no_overlap(self.cabinet_profiles[cabinet_id], profile, cabinet_id)
        if len(slots) >= profile.slots:
            raise SimulatorError(
                f"cabinet {cabinet_id}: more than {profile.slots} {profile.id} lamps "
                f"for one concentrator"
            )
        slots.append(lamp)
        lamp.slot = len(slots)

    # --- faults -----------------------------------------------------------------------------

    async def apply(self, event: FaultEvent) -> None:
        """Start or end a fault at its time (which is now, or just past), and record it."""
        key = (event.target, event.kind)
        starting = event.event is FaultEventKind.START
        if starting == (key in self.active):
            logger.info("ignored: %s %s %s (already so)", event.kind, event.event, event.target)
            return
        t = event.at
        target = event.target
        if target.kind is AssetKind.LAMP:
            lamp = self.lamps[target.id]
            (lamp.start_fault if starting else lamp.end_fault)(event.kind, t)
        elif target.kind is AssetKind.CABINET:
            assert isinstance(event.kind, AlarmType)  # every cabinet fault is an alarm's
            cabinet = self.cabinets[target.id]
            if starting:
                phase = "ABC".index(event.phase.value) if event.phase else None
                cabinet.start_fault(event.kind, t, phase)
            else:
                cabinet.end_fault(event.kind, t)
        else:
            cabinet, index = self.circuits[target.id]
            cabinet.set_circuit_dead(index, starting, t)
        if starting:
            self.active.add(key)
            self.stats.faults_started += 1
        else:
            self.active.discard(key)
            self.stats.faults_ended += 1
        self.truth.write(event)
        logger.info("fault %s: %s on %s", event.event.value, event.kind.value, target)
        await self.notify_supply_changed()

    def fault_event(
        self, target_text: str, kind_text: str, event: FaultEventKind, phase: str | None = None
    ) -> FaultEvent:
        """A fault event for now, from the control interface's words (raises ScenarioError)."""
        target = parse_target(target_text, self.inventory)
        kind = parse_kind(kind_text, target)
        phase_value = None
        if kind is AlarmType.PHASE_LOSS:
            try:
                phase_value = Phase(phase or "A")
            except ValueError as exc:
                raise ScenarioError(f"phase must be A, B or C, got {phase!r}") from exc
        assert FAULT_TARGETS[kind] is target.kind
        return FaultEvent(self.now, target, kind, event, phase_value)

    # --- commands ---------------------------------------------------------------------------

    def command_lamp(self, lamp: LampState, on: bool, level: int) -> bool:
        """Carry out a switch/dim command at the lamp; False when its node cannot hear it."""
        if not lamp.reachable:
            return False
        lamp.command(self.now, on, level)
        return True

    async def switch_circuit(self, circuit_id: str, on: bool) -> None:
        cabinet, index = self.circuits[circuit_id]
        cabinet.switch(index, on, self.now)
        await self.notify_supply_changed()

    def set_weather(self, lux_factor: float) -> None:
        for cabinet in self.cabinets.values():
            cabinet.weather = lux_factor

    async def notify_supply_changed(self) -> None:
        async with self.supply_changed:
            self.supply_changed.notify_all()


def _check_no_overlap(
    cabinet: ModbusCabinetProfile, lamps: ModbusLampProfile, cabinet_id: str
) -> None:
    """A concentrator's lamp blocks must not sit on the cabinet's own registers."""
    used: set[tuple[str, int]] = set()
    for group, members in (
        (cabinet.phases, 3),
        (cabinet.circuits, cabinet.max_circuits),
        (cabinet.fields, 1),
    ):
        for spec in group.values():
            for index in range(members):
                start = spec.address_of(index)
                table = "bits:" + spec.table if spec.table in BIT_TABLES else spec.table
                used.update((table, address) for address in range(start, start + spec.width))
    lamp_values = [(name, spec, lamps.slots) for name, spec in lamps.fields.items()]
    lamp_values += [
        (f"broadcast.{name}", spec, 1) for name, spec in (lamps.broadcast or {}).items()
    ]
    for name, spec, slots in lamp_values:
        table = "bits:" + spec.table if spec.table in BIT_TABLES else spec.table
        for slot in range(slots):
            start = spec.address_of(slot)
            for address in range(start, start + spec.width):
                if (table, address) in used:
                    raise SimulatorError(
                        f"cabinet {cabinet_id}: lamp field {name} of {lamps.id} overlaps "
                        f"{cabinet.id} at {spec.table} address {address}"
                    )
