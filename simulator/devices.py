"""Simulated lamps and cabinets: their state, their faults, and what their meters read.

State advances lazily: a lamp integrates energy, burning hours and driver temperature from
its last update to the time it is next looked at (a report, a Modbus read, a command, a
fault), assuming nothing changed in between, which holds because only commands and faults
change it and each of those advances it first. Readings are pure functions of the state and
the time, plus deterministic noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator import noise, physics
from streetlight.contract import LampFault
from streetlight.domain import STANDBY_W, AlarmType, Cabinet, Lamp, lamp_power_w, power_factor
from streetlight.scenario import LATE_START_MIN, DeviceFault, FaultKind

# active faults as bits of one int per device (compact: thousands of lamps)
LAMP_BITS: dict[AlarmType, int] = {
    AlarmType.LAMP_FAILURE: 1 << 0,
    AlarmType.LOW_POWER: 1 << 1,
    AlarmType.HIGH_POWER: 1 << 2,
    AlarmType.DIMMING_FAILURE: 1 << 3,
    AlarmType.DAY_BURNING: 1 << 4,
    AlarmType.CYCLING: 1 << 5,
    AlarmType.LAMP_OFFLINE: 1 << 6,
    AlarmType.OVER_TEMPERATURE: 1 << 7,
}
CABINET_BITS: dict[AlarmType, int] = {
    AlarmType.VOLTAGE_HIGH: 1 << 0,
    AlarmType.VOLTAGE_LOW: 1 << 1,
    AlarmType.SUPPLY_LOSS: 1 << 2,
    AlarmType.LEAKAGE: 1 << 3,
    AlarmType.DOOR_OPEN: 1 << 4,
}
FAILED, LOW, HIGH, STUCK, WELDED, CYCLING, OFFLINE, HOT = (LAMP_BITS[k] for k in LAMP_BITS)
LATE = 1 << 8  # DeviceFault.LATE_START: lights LATE_START_MIN after it is switched on
LAMP_FAULT_BITS: dict[FaultKind, int] = {DeviceFault.LATE_START: LATE}
LAMP_FAULT_BITS.update(LAMP_BITS.items())
V_HIGH, V_LOW, NO_SUPPLY, LEAKING, DOOR = (CABINET_BITS[k] for k in CABINET_BITS)
_EVENTS = {AlarmType.DOOR_OPEN: "door_events", AlarmType.LEAKAGE: "leakage_events"}

THERMAL_TAU_S = 1200.0  # driver temperature follows load with a 20-minute time constant
# a failing driver's extra heating: past its limit within the hour, even dimmed to 30 % on a
# winter night (5 degC air + 9 for the load + 80 > 85)
HOT_RISE_C = 80.0
DERATE_ABOVE_C = 85.0  # drivers cut their output to protect themselves above this
CYCLE_S, CYCLE_ON_S = 240.0, 150.0  # a cycling lamp: 150 s on, 90 s off (thermal cut-out)
CONTROLLER_W = 12.0  # the cabinet controller's own draw, on phase A
LINE_LOSS = 1.02  # cable losses between cabinet meter and lamps
UNDERVOLTAGE_V, OVERVOLTAGE_V = 187.0, 253.0


def cycling_shows_at(origin: float, switched_on_at: float) -> float:
    """When a lamp that began cycling at `origin` has shown it: the second time it goes out by
    itself after it was switched on (or after the fault began, if later); out, back on, out
    again. Its node flags `cycling` from then on; one cut-out and restart is not a pattern. A
    lamp switched on while its cycle is in a dark phase first lights when the phase ends."""
    watched_since = max(origin, switched_on_at)
    # cut-outs come at origin + CYCLE_ON_S + k * CYCLE_S; the first strictly after the watch
    first = math.floor((watched_since - origin - CYCLE_ON_S) / CYCLE_S) + 1
    return origin + CYCLE_ON_S + (first + 1) * CYCLE_S


@dataclass(frozen=True, slots=True)
class LampReading:
    voltage_v: float
    current_a: float
    power_w: float
    power_factor: float
    energy_wh: float
    dim_pct: int
    relay_on: bool
    driver_temp_c: float
    burning_hours: float
    faults: tuple[LampFault, ...]


class LampState:
    """One lamp and its controller node."""

    __slots__ = (
        "burning_s",
        "cabinet",
        "circuit_index",
        "cycle_origin",
        "drop_v",
        "energy_wh",
        "faults",
        "frozen",
        "key",
        "lamp",
        "level",
        "phase_index",
        "rated",
        "relay",
        "slot",
        "stuck_level",
        "switched_on_at",
        "t",
        "temp_c",
        "tolerance",
    )

    def __init__(
        self, lamp: Lamp, cabinet: CabinetState, circuit_index: int, key: int, now: float
    ) -> None:
        self.lamp = lamp
        self.cabinet = cabinet
        self.circuit_index = circuit_index
        self.phase_index = "ABC".index(lamp.phase.value)
        self.key = key
        self.rated = lamp.rated_power_w
        self.tolerance = 1.0 + 0.03 * noise.signed(key, 1)  # this driver's own curve
        self.drop_v = 0.5 + 2.5 * noise.uniform(key, 2)  # cable drop at full load
        self.relay = False
        self.level = 100
        self.faults = 0
        self.stuck_level = 0
        self.cycle_origin = 0.0
        self.switched_on_at = 0.0
        self.slot = 0  # concentrator slot, for lamps read over Modbus
        self.frozen: LampReading | None = None  # what the concentrator last heard
        self.t = now
        self.energy_wh = 20_000.0 * noise.uniform(key, 3)
        self.burning_s = 3_600_000.0 * noise.uniform(key, 4)
        self.temp_c = physics.ambient_temperature(now, cabinet.utc_offset_h)

    # --- what the lamp is doing -------------------------------------------------------------

    @property
    def supplied(self) -> bool:
        return self.cabinet.feeds(self.phase_index, self.circuit_index)

    @property
    def reachable(self) -> bool:
        """The node can talk: it has supply and no communication fault."""
        return not self.faults & OFFLINE and self.supplied

    def _driving(self, t: float) -> tuple[bool, int]:
        """Whether the driver is on, and at which level, at time t."""
        if self.faults & WELDED:  # lit whatever the node commands
            on, level = True, (self.level if self.relay else self.stuck_level)
        else:
            on, level = self.relay, self.level
        if self.faults & STUCK:
            level = self.stuck_level
        if on and self.faults & CYCLING and (t - self.cycle_origin) % CYCLE_S >= CYCLE_ON_S:
            on = False
        if on and self.faults & LATE and t - self.switched_on_at < LATE_START_MIN * 60:
            on = False
        return on, level

    def power(self, t: float, temp_c: float | None = None) -> float:
        """Active power at t; a driver hotter than its limit (at `temp_c`) derates itself."""
        if not self.supplied:
            return 0.0
        on, level = self._driving(t)
        power = lamp_power_w(self.rated * self.tolerance, on, level)
        if not on:
            return power
        if self.faults & FAILED:
            return STANDBY_W + 0.3
        if self.faults & LOW:
            power = STANDBY_W + (power - STANDBY_W) * 0.6
        elif self.faults & HIGH:
            power = STANDBY_W + (power - STANDBY_W) * 1.35
        if (self.temp_c if temp_c is None else temp_c) > DERATE_ABOVE_C:
            power = STANDBY_W + (power - STANDBY_W) * 0.6
        return power

    def _project(self, t: float) -> tuple[float, float, float]:
        """Energy, burning seconds and temperature at t, had nothing changed since `self.t`."""
        dt = t - self.t
        if dt <= 0:
            return self.energy_wh, self.burning_s, self.temp_c
        power = self.power(t)
        burning = self.burning_s + (dt if power > 0.3 * self.rated else 0.0)
        target = physics.ambient_temperature(t, self.cabinet.utc_offset_h)
        target += 30.0 * max(0.0, power - STANDBY_W) / self.rated
        if self.faults & HOT:
            target += HOT_RISE_C
        temp = target + (self.temp_c - target) * math.exp(-dt / THERMAL_TAU_S)
        return self.energy_wh + power * dt / 3600.0, burning, temp

    def advance(self, t: float) -> None:
        """Integrate up to t; called before anything changes the lamp (reads do not call it)."""
        if t > self.t:
            self.energy_wh, self.burning_s, self.temp_c = self._project(t)
            self.t = t

    def reading(self, t: float) -> LampReading:
        """What the node measures at time t. Reading changes nothing, so readings taken in any
        order (reports, Modbus polls) are the same."""
        energy, burning_s, temp = self._project(t)
        power = self.power(t, temp)
        n = int(t)
        voltage = self.cabinet.phase_voltage(self.phase_index, t)
        if voltage > 0:
            voltage -= self.drop_v * power / self.rated - 0.2 * noise.signed(self.key, n)
        measured = power * (1.0 + 0.004 * noise.signed(self.key ^ 0x77, n)) if power else 0.0
        pf = power_factor(max(0.0, measured - STANDBY_W) / self.rated) if measured else 0.0
        current = measured / (voltage * pf) if voltage > 0 and pf > 0 else 0.0
        on, _ = self._driving(t)
        flags = []
        if self.faults & FAILED and on:
            flags.append(LampFault.LAMP_OPEN)
        if (
            self.faults & CYCLING
            and self.relay
            and t >= cycling_shows_at(self.cycle_origin, self.switched_on_at)
        ):
            flags.append(LampFault.CYCLING)
        if temp > DERATE_ABOVE_C:
            flags.append(LampFault.OVER_TEMPERATURE)
        if 0 < voltage < UNDERVOLTAGE_V:
            flags.append(LampFault.UNDERVOLTAGE)
        elif voltage > OVERVOLTAGE_V:
            flags.append(LampFault.OVERVOLTAGE)
        return LampReading(
            voltage_v=voltage,
            current_a=current,
            power_w=measured,
            power_factor=pf,
            energy_wh=energy,
            dim_pct=self.stuck_level if self.faults & STUCK else self.level,
            relay_on=self.relay,  # the node's view: a welded relay does not show
            driver_temp_c=temp,
            burning_hours=burning_s / 3600.0,
            faults=tuple(flags),
        )

    # --- what changes it --------------------------------------------------------------------

    def command(self, t: float, on: bool, level: int) -> None:
        """The node carries out a switch/dim command (a stuck driver keeps its level)."""
        self.advance(t)
        if on and not self.relay:
            self.switched_on_at = t
        self.relay = on
        if on:
            self.level = level

    def start_fault(self, kind: FaultKind, t: float) -> None:
        self.advance(t)
        bit = LAMP_FAULT_BITS[kind]
        if bit & STUCK:
            self.stuck_level = self.level
        elif bit & WELDED:
            self.stuck_level = self.level if self.relay else 100
        elif bit & CYCLING:
            self.cycle_origin = t
        elif bit & OFFLINE:
            self.frozen = self.reading(t)
        self.faults |= bit

    def end_fault(self, kind: FaultKind, t: float) -> None:
        self.advance(t)
        self.faults &= ~LAMP_FAULT_BITS[kind]
        if not self.faults & OFFLINE:
            self.frozen = None


class CabinetState:
    """One cabinet: supply, contactors, sensors, and the lamps it feeds."""

    __slots__ = (
        "cabinet",
        "circuit_ids",
        "contactors",
        "controller_wh",
        "dead_circuits",
        "dead_phase",
        "events",
        "faults",
        "key",
        "lamps",
        "lat",
        "lon",
        "t",
        "utc_offset_h",
        "weather",
    )

    def __init__(self, cabinet: Cabinet, key: int, utc_offset_h: float, now: float) -> None:
        self.cabinet = cabinet
        self.circuit_ids = cabinet.circuit_ids
        self.key = key
        self.lat = cabinet.location.lat
        self.lon = cabinet.location.lon
        self.utc_offset_h = utc_offset_h
        self.contactors = [True] * len(cabinet.circuit_ids)  # lamps switch at their nodes
        self.dead_circuits: set[int] = set()
        self.dead_phase: int | None = None
        self.faults = 0
        # events the controller keeps between polls: latched bits (cleared when read) and
        # counters, for the door and for leakage trips
        self.events = {"door_events": [False, 0], "leakage_events": [False, 0]}
        self.lamps: list[LampState] = []
        self.controller_wh = 50_000.0 * noise.uniform(key, 5)
        self.t = now
        self.weather = 1.0

    def feeds(self, phase_index: int, circuit_index: int) -> bool:
        return (
            not self.faults & NO_SUPPLY
            and phase_index != self.dead_phase
            and self.contactors[circuit_index]
            and circuit_index not in self.dead_circuits
        )

    @property
    def supply_on(self) -> bool:
        return not self.faults & NO_SUPPLY and self.dead_phase is None

    def phase_voltage(self, phase_index: int, t: float) -> float:
        if self.faults & NO_SUPPLY or phase_index == self.dead_phase:
            return 0.0
        voltage = physics.grid_voltage(
            self.key + phase_index, t, self.cabinet.nominal_voltage_v, self.utc_offset_h
        )
        if self.faults & V_HIGH:
            voltage *= 1.14
        elif self.faults & V_LOW:
            voltage *= 0.85
        return voltage

    def _controller_wh(self, t: float) -> float:
        """The controller's own consumption up to t (on battery, without supply, it draws none)."""
        dt = t - self.t
        if dt <= 0 or self.faults & NO_SUPPLY or self.dead_phase == 0:
            return self.controller_wh
        return self.controller_wh + CONTROLLER_W * dt / 3600.0

    def advance(self, t: float) -> None:
        if t > self.t:
            self.controller_wh = self._controller_wh(t)
            self.t = t

    def leakage_ma(self, t: float) -> float:
        base = 3.0 + 2.0 * noise.smooth(self.key ^ 0x3333, t, 3600.0)
        return base + (
            38.0 + 4.0 * noise.signed(self.key, int(t)) if self.faults & LEAKING else 0.0
        )

    def lux(self, t: float) -> float:
        return physics.ambient_lux(self.lat, self.lon, self.key, t, self.weather)

    @property
    def door_open(self) -> bool:
        return bool(self.faults & DOOR)

    def start_fault(self, kind: AlarmType, t: float, phase_index: int | None = None) -> None:
        self._settle(t)
        if kind is AlarmType.PHASE_LOSS:
            self.dead_phase = phase_index if phase_index is not None else 0
        else:
            self.faults |= CABINET_BITS[kind]
        event = _EVENTS.get(kind)
        if event is not None:
            latch_and_count = self.events[event]
            latch_and_count[0] = True
            latch_and_count[1] = (int(latch_and_count[1]) + 1) % 65_536

    def read_event(self, name: str, kind: str) -> int | bool:
        """An event register as the controller answers it: a latched bit (set by the event,
        cleared by this read) or the counter."""
        latch_and_count = self.events[name]
        if kind == "latched":
            latched = bool(latch_and_count[0])
            latch_and_count[0] = False
            return latched
        return int(latch_and_count[1])

    def end_fault(self, kind: AlarmType, t: float) -> None:
        self._settle(t)
        if kind is AlarmType.PHASE_LOSS:
            self.dead_phase = None
        else:
            self.faults &= ~CABINET_BITS[kind]

    def set_circuit_dead(self, circuit_index: int, dead: bool, t: float) -> None:
        self._settle(t)
        if dead:
            self.dead_circuits.add(circuit_index)
        else:
            self.dead_circuits.discard(circuit_index)

    def switch(self, circuit_index: int, on: bool, t: float) -> None:
        self._settle(t)
        self.contactors[circuit_index] = on

    def _settle(self, t: float) -> None:
        """Bring every lamp up to t before the supply changes under them."""
        self.advance(t)
        for lamp in self.lamps:
            lamp.advance(t)

    def phase_readings(self, t: float) -> list[tuple[float, float, float, float, float]]:
        """Per phase: voltage, current, power, power factor, energy (Wh) at the meter."""
        power = [0.0, 0.0, 0.0]
        apparent = [0.0, 0.0, 0.0]
        energy = [0.0, 0.0, 0.0]
        for lamp in self.lamps:
            reading = lamp.reading(t)
            p = lamp.phase_index
            power[p] += reading.power_w * LINE_LOSS
            apparent[p] += reading.voltage_v * reading.current_a * LINE_LOSS
            energy[p] += reading.energy_wh * LINE_LOSS
        result = []
        for p in range(3):
            voltage = self.phase_voltage(p, t)
            if p == 0 and voltage > 0:
                power[0] += CONTROLLER_W
                apparent[0] += CONTROLLER_W / 0.9
            if p == 0:
                energy[0] += self._controller_wh(t)
            current = apparent[p] / voltage if voltage > 0 else 0.0
            pf = power[p] / apparent[p] if apparent[p] > 0 else 0.0
            result.append((voltage, current, power[p], min(pf, 1.0), energy[p]))
        return result

    def circuit_current_a(self, circuit_index: int, t: float) -> float:
        return sum(
            lamp.reading(t).current_a for lamp in self.lamps if lamp.circuit_index == circuit_index
        )
