"""Cabinet controllers and their concentrators as Modbus TCP devices (pymodbus server).

Each cabinet is one Modbus unit: its own registers come from its cabinet profile, and the
lamps on its concentrator are register blocks from their lamp profile, slot n for the n-th of
its lamps in id order. Up to `cabinets_per_port` cabinets share a listening port as unit ids
1, 2, ... (a Modbus TCP gateway in front of several RS-485 controllers does the same).

Registers are filled from the simulation at the moment they are read. Every address between a
table's first and last register reads (reserved ones as 0); addresses outside answer with an
ILLEGAL ADDRESS exception. Writes to relay_on and dim_pct command the lamp; a write to a lamp
the concentrator cannot reach answers GATEWAY TARGET FAILED TO RESPOND (0x0B), as a real
concentrator does; a write to a read-only register is refused with ILLEGAL ADDRESS.

Where the lamp profile has `broadcast` registers, a write to them is a group command: every
lamp on the concentrator carries it out as a write to its own slot would have it (faults and
all). The concentrator answers 0x0B when some lamp could not hear it, after the others did;
the broadcast registers read 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulator.devices import CabinetState, LampReading, LampState
from simulator.world import World
from streetlight.profiles import (
    BIT_TABLES,
    ModbusCabinetProfile,
    ModbusLampProfile,
    RegisterSpec,
    encode,
    fault_word,
)
from streetlight.services import free_port

logger = logging.getLogger(__name__)

_TABLE_OF_FUNCTION = {
    1: "coil",
    5: "coil",
    15: "coil",
    2: "discrete",
    3: "holding",
    6: "holding",
    16: "holding",
    23: "holding",
    4: "input",
}
_ZERO_READING = LampReading(0.0, 0.0, 0.0, 0.0, 0.0, 0, False, 0.0, 0.0, ())


@dataclass(frozen=True, slots=True)
class _Cell:
    """Which value an address belongs to: a group (phase/circuit/cabinet/lamp), member, field."""

    group: str
    index: int
    name: str
    spec: RegisterSpec


_CELLS: dict[tuple[str, int], dict[str, dict[int, _Cell]]] = {}


def _cabinet_cells(profile: ModbusCabinetProfile, circuits: int) -> dict[str, dict[int, _Cell]]:
    """A cabinet's own address map; every cabinet of one model and size shares one."""
    key = (profile.id, circuits)
    if key not in _CELLS:
        tables: dict[str, dict[int, _Cell]] = {
            t: {} for t in ("coil", "discrete", "holding", "input")
        }
        members = {"phase": 3, "circuit": circuits, "cabinet": 1}
        for group, specs in (
            ("phase", profile.phases),
            ("circuit", profile.circuits),
            ("cabinet", profile.fields),
        ):
            for name, spec in specs.items():
                for index in range(members[group]):
                    start = spec.address_of(index)
                    for address in range(start, start + spec.width):
                        tables[spec.table][address] = _Cell(group, index, name, spec)
        _CELLS[key] = tables
    return _CELLS[key]


@dataclass
class _SlotLayout:
    """Where the concentrator's lamp slots are: slot i's field at `base + i*stride + offset`.

    Computed, not tabulated: a map per address would cost more memory than the lamps."""

    table: str
    base: int
    stride: int
    count: int
    by_offset: dict[int, tuple[str, RegisterSpec]]

    def cell(self, address: int) -> _Cell | None:
        index, offset = divmod(address - self.base, self.stride)
        if not 0 <= index < self.count:
            return None
        entry = self.by_offset.get(offset)
        return _Cell("lamp", index, entry[0], entry[1]) if entry else None

    @property
    def high(self) -> int:
        return self.base + self.stride * self.count - 1


@dataclass
class CabinetDevice:
    """One cabinet's Modbus unit: the address map and the read/write handler."""

    state: CabinetState
    profile: ModbusCabinetProfile
    lamp_profile: ModbusLampProfile | None
    lamps: list[LampState]
    world: World
    cells: dict[str, dict[int, _Cell]] = field(default_factory=dict)
    slots: _SlotLayout | None = None
    broadcast: dict[tuple[str, int], _Cell] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cells = _cabinet_cells(self.profile, len(self.state.circuit_ids))
        if self.lamp_profile is not None and self.lamps:
            fields = self.lamp_profile.fields
            first = min(fields.values(), key=lambda spec: spec.address)
            by_offset = {
                spec.address - first.address + word: (name, spec)
                for name, spec in fields.items()
                for word in range(spec.width)
            }
            self.slots = _SlotLayout(
                first.table, first.address, first.stride, len(self.lamps), by_offset
            )
            for name, spec in (self.lamp_profile.broadcast or {}).items():
                for address in range(spec.address, spec.address + spec.width):
                    self.broadcast[(spec.table, address)] = _Cell("broadcast", 0, name, spec)

    def cell(self, table: str, address: int) -> _Cell | None:
        cell = self.cells[table].get(address) or self.broadcast.get((table, address))
        if cell is None and self.slots is not None and table == self.slots.table:
            cell = self.slots.cell(address)
        return cell

    def span(self, table: str) -> tuple[int, int] | None:
        """The table's first and last address, or None when the device has none there."""
        addresses = list(self.cells[table])
        addresses += [address for t, address in self.broadcast if t == table]
        if self.slots is not None and table == self.slots.table:
            addresses += [self.slots.base, self.slots.high]
        return (min(addresses), max(addresses)) if addresses else None

    def sim_device(self, unit: int) -> SimDevice:
        """One block per table, every register writable as far as pymodbus knows: `write`
        refuses read-only and reserved ones itself (a per-register map would cost memory)."""
        blocks: list[list[SimData]] = []
        for table in ("coil", "discrete", "holding", "input"):
            bits = table in BIT_TABLES
            span = self.span(table)
            if span is None:
                # pymodbus wants every table; a lone invalid address answers ILLEGAL ADDRESS
                kind = DataType.BITS if bits else DataType.INVALID
                blocks.append([SimData(0, datatype=kind)])
                continue
            low, high = span
            blocks.append(
                [
                    SimData(
                        low,
                        count=high - low + 1,
                        values=False if bits else 0,
                        datatype=DataType.BITS if bits else DataType.REGISTERS,
                    )
                ]
            )
        return SimDevice(
            unit,
            simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
            action=partial(_action, self),
        )

    # --- reads -------------------------------------------------------------------------------

    def refresh(self, table: str, first: int, count: int, now: float) -> dict[int, int | bool]:
        """Fresh values for addresses first..first+count-1 (registers, or bits)."""
        values: dict[int, int | bool] = {}
        cache: dict[tuple[str, int], Any] = {}
        order = (self.profile.word_order, self.profile.byte_order)
        if self.lamp_profile is not None:
            lamp_order = (self.lamp_profile.word_order, self.lamp_profile.byte_order)
        for address in range(first, first + count):
            cell = self.cell(table, address)
            if cell is None or cell.group == "broadcast":
                values[address] = 0
                continue
            value = self._value(cell, now, cache)
            if table in BIT_TABLES:
                values[address] = bool(value)
                continue
            word_order, byte_order = lamp_order if cell.group == "lamp" else order
            start = cell.spec.address_of(cell.index)
            if cell.spec.bits is not None:
                registers = encode(cell.spec, fault_word(cell.spec, value), word_order, byte_order)
            else:
                registers = encode(cell.spec, value, word_order, byte_order)
            values[address] = registers[address - start]
        return values

    def _value(self, cell: _Cell, now: float, cache: dict[tuple[str, int], Any]) -> Any:
        key = (cell.group, cell.index)
        if key not in cache:
            cache[key] = self._member(cell.group, cell.index, now)
        member = cache[key]
        if cell.spec.event is not None:  # read now: a latched bit clears as it is read
            return self.state.read_event(cell.name, cell.spec.event)
        if cell.group == "lamp":
            reading, online = member
            if cell.name == "online":
                return online
            value = getattr(reading, cell.name)
            return list(value) if cell.name == "faults" else value
        return member[cell.name]

    def _member(self, group: str, index: int, now: float) -> Any:
        state = self.state
        if group == "lamp":
            lamp = self.lamps[index]
            if lamp.reachable:
                return lamp.reading(now), True
            return (lamp.frozen or _ZERO_READING), False
        if group == "phase":
            voltage, current, power, pf, energy = state.phase_readings(now)[index]
            return {
                "voltage_v": voltage,
                "current_a": current,
                "power_w": power,
                "power_factor": pf,
                "energy_wh": energy,
            }
        if group == "circuit":
            live = state.contactors[index] and state.supply_on and index not in state.dead_circuits
            return {
                "contactor_on": state.contactors[index],
                "current_a": state.circuit_current_a(index, now) if live else 0.0,
            }
        return {
            "leakage_ma": state.leakage_ma(now),
            "lux": state.lux(now),
            "door_open": state.door_open,
            "supply_on": state.supply_on,
        }

    # --- writes ------------------------------------------------------------------------------

    async def write(self, table: str, first: int, values: Sequence[int | bool]) -> ExcCodes | None:
        touched: dict[tuple[str, int], dict[str, int | bool]] = {}
        for offset, value in enumerate(values):
            cell = self.cell(table, first + offset)
            if cell is None or not cell.spec.writable:
                return ExcCodes.ILLEGAL_ADDRESS
            touched.setdefault((cell.group, cell.index), {})[cell.name] = value
        for (group, index), fields in touched.items():
            if group == "circuit":
                await self.world.switch_circuit(
                    self.state.circuit_ids[index], bool(fields["contactor_on"])
                )
                continue
            if group == "broadcast":
                if int(fields.get("dim_pct", 0)) > 100:
                    return ExcCodes.ILLEGAL_VALUE
                answers = [self._command(lamp, fields) for lamp in self.lamps]
                if ExcCodes.GATEWAY_NO_RESPONSE in answers:
                    return ExcCodes.GATEWAY_NO_RESPONSE
                continue
            answer = self._command(self.lamps[index], fields)
            if answer is not None:
                return answer
        return None

    def _command(self, lamp: LampState, fields: dict[str, int | bool]) -> ExcCodes | None:
        """One lamp carries out the dim_pct and relay_on written for it (or for all)."""
        level = int(fields.get("dim_pct", lamp.level))
        if level > 100:
            return ExcCodes.ILLEGAL_VALUE
        on = bool(fields.get("relay_on", lamp.relay))
        if not self.world.command_lamp(lamp, on, level):
            return ExcCodes.GATEWAY_NO_RESPONSE
        return None


async def _action(  # noqa: PLR0917 - pymodbus's SimAction signature, plus the device
    device: CabinetDevice,
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    """pymodbus calls this on every request, before answering from `registers`."""
    world = device.world
    world.stats.modbus_requests += 1
    table = _TABLE_OF_FUNCTION.get(function_code)
    if table is None:
        return ExcCodes.ILLEGAL_FUNCTION
    if set_values is not None:
        world.stats.modbus_writes += 1
        result = await device.write(table, address, set_values)
        if result is not None:
            world.stats.modbus_refused += 1
        return result
    now = world.now
    if table in BIT_TABLES:
        # bits are packed 16 to a register; refresh the whole (small) table
        span = device.span(table)
        if span is None:
            return ExcCodes.ILLEGAL_ADDRESS
        fresh = device.refresh(table, span[0], span[1] - span[0] + 1, now)
        for bit_address, value in fresh.items():
            word, bit = divmod(bit_address, 16)
            slot = word - start_address
            registers[slot] = (
                registers[slot] | (1 << bit) if value else registers[slot] & ~(1 << bit)
            )
        return None
    for reg_address, value in device.refresh(table, address, count, now).items():
        registers[reg_address - start_address] = int(value)
    return None


@dataclass(frozen=True)
class Endpoint:
    """Where a cabinet answers: host, port and unit id, with its lamps' slots."""

    cabinet: str
    host: str
    port: int
    unit: int
    profile: str
    lamp_profile: str | None
    lamps: dict[str, int]  # lamp id -> concentrator slot


class ModbusFarm:
    """All cabinets of the world on one or more pymodbus TCP servers."""

    def __init__(
        self, world: World, host: str = "127.0.0.1", port: int = 0, cabinets_per_port: int = 32
    ) -> None:
        if not 1 <= cabinets_per_port <= 247:
            raise ValueError("cabinets_per_port must be 1..247 (Modbus unit ids)")
        self.world = world
        self.host = host
        self._addresses: list[tuple[str, int, int]] = []  # cabinet, port, unit
        self._groups: list[tuple[int, list[SimDevice]]] = []
        cabinet_ids = sorted(world.cabinets)
        next_port = port
        for offset in range(0, len(cabinet_ids), cabinets_per_port):
            group_port = next_port or free_port(host)
            next_port = next_port + 1 if next_port else 0
            devices = []
            for unit, cabinet_id in enumerate(
                cabinet_ids[offset : offset + cabinets_per_port], start=1
            ):
                lamps = world.modbus_lamps.get(cabinet_id, [])
                lamp_profile = world.lamp_profiles.get(cabinet_id)
                device = CabinetDevice(
                    world.cabinets[cabinet_id],
                    world.cabinet_profiles[cabinet_id],
                    lamp_profile,
                    lamps,
                    world,
                )
                devices.append(device.sim_device(unit))
                self._addresses.append((cabinet_id, group_port, unit))
            self._groups.append((group_port, devices))
        self._servers: list[ModbusTcpServer] = []

    @property
    def endpoints(self) -> list[Endpoint]:
        """Where each cabinet answers (built when asked: the lamp maps are large)."""
        world = self.world
        result = []
        for cabinet_id, port, unit in self._addresses:
            lamp_profile = world.lamp_profiles.get(cabinet_id)
            result.append(
                Endpoint(
                    cabinet=cabinet_id,
                    host=self.host,
                    port=port,
                    unit=unit,
                    profile=world.cabinet_profiles[cabinet_id].id,
                    lamp_profile=lamp_profile.id if lamp_profile else None,
                    lamps={
                        lamp.lamp.id: lamp.slot for lamp in world.modbus_lamps.get(cabinet_id, [])
                    },
                )
            )
        return result

    async def start(self) -> None:
        for port, devices in self._groups:
            server = ModbusTcpServer(devices, address=(self.host, port))
            await server.serve_forever(background=True)
            self._servers.append(server)
        logger.info(
            "Modbus: %d cabinets on %d ports from %s:%d",
            len(self._addresses),
            len(self._servers),
            self.host,
            self._groups[0][0] if self._groups else 0,
        )

    async def stop(self) -> None:
        for server in self._servers:
            await server.shutdown()  # type: ignore[no-untyped-call]
        self._servers.clear()

    def write_endpoints(self, path: Path) -> None:
        """The endpoint map a gateway configuration can include (docs/contract.md)."""
        document = {
            "modbus": [
                {
                    "cabinet": e.cabinet,
                    "host": e.host,
                    "port": e.port,
                    "unit": e.unit,
                    "profile": e.profile,
                    **(
                        {"lamp_profile": e.lamp_profile, "lamps": e.lamps} if e.lamp_profile else {}
                    ),
                }
                for e in self.endpoints
            ]
        }
        path.write_text(yaml.safe_dump(document, sort_keys=False))
