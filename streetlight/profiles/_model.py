"""Device profiles: what a controller model looks like on the wire, as data (profiles/*.yaml).

A Modbus profile maps canonical field names to registers (table, address, data type, word and
byte order, scale). A field of a repeated group (a lamp's slot behind a concentrator, a phase,
a circuit) has a `stride`: the address of member `i` (from 0) is ``address + i * stride``.

MQTT profiles are in `_mqtt.py`: the vendor's topics, and where each canonical field sits in
its JSON and how to read it.

The simulator encodes with the same profile the gateway decodes with, so the two cannot drift.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from streetlight.contract.payloads import LampFault
from streetlight.profiles._common import LAMP_FIELDS, ProfileId, Strict
from streetlight.profiles._mqtt import MqttLampProfile

Table = Literal["coil", "discrete", "holding", "input"]
DataType = Literal["bool", "u16", "i16", "u32", "i32", "f32"]
WordOrder = Literal["big", "little"]

REGISTER_TABLES = ("holding", "input")
BIT_TABLES = ("coil", "discrete")
WIDTH = {"bool": 1, "u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2}

PHASE_FIELDS = frozenset({"voltage_v", "current_a", "power_w", "power_factor", "energy_wh"})
BROADCAST_FIELDS = frozenset({"dim_pct", "relay_on"})
CIRCUIT_FIELDS = frozenset({"contactor_on", "current_a"})
CABINET_FIELDS = frozenset(
    {"leakage_ma", "door_open", "lux", "supply_on", "door_events", "leakage_events"}
)
# fields of events a cabinet controller keeps between polls (a latched bit or a counter), so an
# event that came and went between two polls is still read
EVENT_FIELDS = frozenset({"door_events", "leakage_events"})


class RegisterSpec(Strict):
    """One value of a Modbus device."""

    table: Table
    address: int = Field(ge=0, le=65535)
    stride: int = Field(default=0, ge=0, le=1000, description="for repeated groups")
    type: DataType = "u16"
    scale: float = Field(default=1.0, gt=0, description="engineering value = raw * scale")
    unit: str | None = None
    writable: bool = False
    bits: dict[int, LampFault] | None = Field(
        default=None, description="for a fault word: bit number -> fault flag"
    )
    event: Literal["latched", "counter"] | None = Field(
        default=None,
        description="an event kept between polls: latched (a bit set by the event, cleared when "
        "read) or counter (a count of events, unsigned, wrapping at its width)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.event == "latched" and self.type != "bool":
            raise ValueError("a latched event is one bit: type must be bool")
        if self.event == "counter" and self.type not in ("u16", "u32"):
            raise ValueError("an event counter is unsigned: type must be u16 or u32")
        if self.table in BIT_TABLES and self.type != "bool":
            raise ValueError(f"a {self.table} holds single bits: type must be bool")
        if self.writable and self.table in ("discrete", "input"):
            raise ValueError(f"the {self.table} table is read-only; writable needs coil or holding")
        if self.bits is not None:
            if self.type not in ("u16", "u32"):
                raise ValueError("bits need an unsigned type, u16 or u32")
            width = 16 * WIDTH[self.type]
            if any(not 0 <= bit < width for bit in self.bits):
                raise ValueError(f"bit numbers must be 0..{width - 1}")
        return self

    def address_of(self, index: int = 0) -> int:
        return self.address + index * self.stride

    @property
    def width(self) -> int:
        return WIDTH[self.type]


class ModbusProfile(Strict):
    """Fields common to Modbus profiles."""

    id: ProfileId
    transport: Literal["modbus"]
    description: str = ""
    word_order: WordOrder = "big"
    byte_order: WordOrder = "big"
    max_read_registers: int = Field(default=125, ge=1, le=125)
    max_read_bits: int = Field(default=2000, ge=1, le=2000)
    pause_ms: int = Field(default=0, ge=0, le=1000, description="silence between requests")

    def _check(self, group: str, fields: dict[str, RegisterSpec], allowed: frozenset[str]) -> None:
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise ValueError(f"{group}: unknown fields {unknown}; known: {sorted(allowed)}")


class ModbusLampProfile(ModbusProfile):
    """A lamp read through its cabinet's concentrator; `slots` lamps per concentrator.

    `broadcast`, where the concentrator has it, is a group write: one register that sets
    dim_pct or relay_on of every lamp slot behind the concentrator at once."""

    device: Literal["lamp"]
    slots: int = Field(default=255, ge=1, le=255, description="lamps one concentrator serves")
    fields: dict[str, RegisterSpec]
    broadcast: dict[str, RegisterSpec] | None = None

    @model_validator(mode="after")
    def _fields(self) -> Self:
        self._check("fields", self.fields, LAMP_FIELDS)
        for name in ("relay_on", "dim_pct"):
            spec = self.fields.get(name)
            if spec is None or not spec.writable:
                raise ValueError(f"fields.{name}: required and writable (commands write it)")
        layout = [("fields", self.fields, self.slots)]
        if self.broadcast is not None:
            self._check("broadcast", self.broadcast, BROADCAST_FIELDS)
            for name in sorted(BROADCAST_FIELDS):
                spec = self.broadcast.get(name)
                if spec is None or not spec.writable:
                    raise ValueError(f"broadcast.{name}: required and writable (commands write it)")
                if spec.stride:
                    raise ValueError(f"broadcast.{name}: one register for every slot, no stride")
            layout.append(("broadcast", self.broadcast, 1))
        _check_layout(layout)
        tables = {spec.table for spec in self.fields.values()}
        strides = {spec.stride for spec in self.fields.values()}
        if len(tables) != 1 or len(strides) != 1:
            raise ValueError("a lamp slot is one block: every field in one table, with one stride")
        first = min(spec.address for spec in self.fields.values())
        last = max(spec.address + spec.width for spec in self.fields.values())
        if last - first > strides.pop():
            raise ValueError("a slot's fields span more registers than the stride")
        return self


class ModbusCabinetProfile(ModbusProfile):
    """A cabinet controller: its meter per phase, a contactor per circuit, its sensors."""

    device: Literal["cabinet"]
    max_circuits: int = Field(default=8, ge=1, le=32)
    phases: dict[str, RegisterSpec]
    circuits: dict[str, RegisterSpec]
    fields: dict[str, RegisterSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields(self) -> Self:
        self._check("phases", self.phases, PHASE_FIELDS)
        self._check("circuits", self.circuits, CIRCUIT_FIELDS)
        self._check("fields", self.fields, CABINET_FIELDS)
        for name, spec in self.fields.items():
            if (name in EVENT_FIELDS) != (spec.event is not None):
                raise ValueError(
                    f"fields.{name}: "
                    + ("needs event: latched or counter" if name in EVENT_FIELDS
                       else "only door_events and leakage_events are events")
                )  # fmt: skip
        contactor = self.circuits.get("contactor_on")
        if contactor is None or not contactor.writable:
            raise ValueError("circuits.contactor_on: required and writable (commands switch it)")
        _check_layout(
            [
                ("phases", self.phases, 3),
                ("circuits", self.circuits, self.max_circuits),
                ("fields", self.fields, 1),
            ]
        )
        return self


def _check_layout(groups: list[tuple[str, dict[str, RegisterSpec], int]]) -> None:
    """No two values (of any member of a repeated group) may share a register or a bit."""
    taken: dict[tuple[str, int], tuple[str, int]] = {}
    for group, fields, members in groups:
        for name, spec in fields.items():
            label = f"{group}.{name}"
            if members > 1 and spec.stride == 0:
                raise ValueError(f"{label}: repeats {members} times and needs a stride")
            for index in range(members):
                start = spec.address_of(index)
                if start + spec.width > 65536:
                    raise ValueError(f"{label}: addresses run past 65535")
                for address in range(start, start + spec.width):
                    other = taken.setdefault((spec.table, address), (label, index))
                    if other != (label, index):
                        raise ValueError(
                            f"{label} and {other[0]} overlap at {spec.table} address {address}"
                        )


Profile = ModbusLampProfile | ModbusCabinetProfile | MqttLampProfile
