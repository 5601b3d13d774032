"""Polling Modbus TCP cabinets and concentrators by their profiles.

The cabinets behind one endpoint share its `Coordinator` (gateway/modbus_link.py). Each
cabinet (one unit id) is polled on its own schedule: its meter and sensors every
`cabinet_interval_s`, its concentrator's lamps every `lamp_interval_s`, both in the clock's
time; when both are due, the lamps first. Reads of adjacent registers are merged into one
request up to the profile's limit, and lamp slots are read whole. A cabinet is reported online
by its first good poll (its state is unknown until then), offline once it fails
`offline_after` polls in a row, and online again by its next good poll. A lamp is reported
online when first read, offline when the concentrator loses it, online when it is back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from gateway.config import ModbusEndpoint
from gateway.modbus_link import (
    NO_ANSWER_CODES,
    Coordinator,
    ModbusDeviceError,
    ModbusLinkError,
    Request,
)
from streetlight.clock import Clock
from streetlight.contract import CabinetTelemetry
from streetlight.domain import Inventory
from streetlight.normalize import Reading, Rejected, SlotBlock, modbus_cabinet, modbus_lamp
from streetlight.profiles import BIT_TABLES, ModbusCabinetProfile, ModbusLampProfile

logger = logging.getLogger(__name__)

MAX_GAP = 8  # merge reads across holes of up to this many registers


def plan(
    ranges: Sequence[tuple[str, int, int]], max_registers: int, max_bits: int
) -> list[Request]:
    """Merge (table, address, width) ranges into as few requests as the limits allow."""
    requests: list[Request] = []
    for table in ("coil", "discrete", "holding", "input"):
        spans = sorted((a, a + w) for t, a, w in ranges if t == table)
        limit = max_bits if table in BIT_TABLES else max_registers
        start = end = None
        for a, b in spans:
            if start is not None and end is not None and a - end <= MAX_GAP and b - start <= limit:
                end = max(end, b)
                continue
            if start is not None and end is not None:
                requests.append(Request(table, start, end - start))
            start, end = a, b
        if start is not None and end is not None:
            requests.append(Request(table, start, end - start))
    return requests


@dataclass
class CabinetUnit:
    """One cabinet behind an endpoint: what to read, and its online state."""

    endpoint: ModbusEndpoint
    profile: ModbusCabinetProfile
    lamp_profile: ModbusLampProfile | None
    cabinet_requests: list[Request]
    lamp_requests: list[tuple[Request, int, int]]  # request, first slot index, slots in it
    slots: dict[int, str]  # slot index (from 0) -> lamp id
    failures: int = 0
    online: bool | None = None  # not known until the first poll answers or fails enough
    next_cabinet: float = 0.0
    next_lamps: float = 0.0
    lamps_offline: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)  # event counters, as last read


def cabinet_unit(
    endpoint: ModbusEndpoint,
    profile: ModbusCabinetProfile,
    lamp_profile: ModbusLampProfile | None,
    circuits: int,
) -> CabinetUnit:
    ranges: list[tuple[str, int, int]] = []
    for specs, members in ((profile.phases, 3), (profile.circuits, circuits), (profile.fields, 1)):
        for spec in specs.values():
            ranges.extend((spec.table, spec.address_of(i), spec.width) for i in range(members))
    slots = {slot - 1: lamp for lamp, slot in endpoint.lamps.items()}
    lamp_requests = []
    if lamp_profile is not None and slots:
        first_spec = min(lamp_profile.fields.values(), key=lambda spec: spec.address)
        stride = first_spec.stride
        span = max(s.address + s.width for s in lamp_profile.fields.values()) - first_spec.address
        per_request = max(1, (lamp_profile.max_read_registers - span) // stride + 1)
        count = max(slots) + 1
        for first in range(0, count, per_request):
            n = min(per_request, count - first)
            start = first_spec.address_of(first)
            lamp_requests.append(
                (Request(first_spec.table, start, (n - 1) * stride + span), first, n)
            )
    return CabinetUnit(
        endpoint,
        profile,
        lamp_profile,
        plan(ranges, profile.max_read_registers, profile.max_read_bits),
        lamp_requests,
        slots,
    )


class Poller:
    """Polls every cabinet of one endpoint on its schedule and hands the results on."""

    def __init__(
        self,
        coordinator: Coordinator,
        units: list[CabinetUnit],
        inventory: Inventory,
        clock: Clock,
        *,
        cabinet_interval: float,
        lamp_interval: float,
        offline_after: int,
        source: str,
        sink: ModbusSink,
    ) -> None:
        self.coordinator = coordinator
        self.units = units
        self.inventory = inventory
        self.clock = clock
        self.cabinet_interval = cabinet_interval
        self.lamp_interval = lamp_interval
        self.offline_after = offline_after
        self.source = source
        self.sink = sink
        start = clock.now().timestamp()
        for index, unit in enumerate(units):  # spread the polls over the interval
            unit.next_cabinet = start + cabinet_interval * index / max(1, len(units))
            unit.next_lamps = (
                start + lamp_interval * index / max(1, len(units))
                if unit.lamp_requests
                else math.inf  # no concentrator lamps: nothing to poll
            )

    def behind_s(self) -> float:
        """How far polling is behind its schedule now: the age of the oldest poll overdue
        (clock seconds; 0 when every poll is on time)."""
        due = min(min(u.next_cabinet, u.next_lamps) for u in self.units)
        return max(0.0, self.clock.now().timestamp() - due)

    async def run(self) -> None:
        while True:
            due = min(min(u.next_cabinet, u.next_lamps) for u in self.units)
            await self.clock.sleep_until(datetime.fromtimestamp(due, UTC))
            # we slept until `due`: what was due then is due now, whatever the float rounding
            now = max(self.clock.now().timestamp(), due)
            for unit in self.units:
                # lamps first: a cabinet reading taken after them shows what may explain a
                # lamp found gone (its supply, its circuit's current) as it was by then
                if unit.next_lamps <= now:
                    unit.next_lamps = max(unit.next_lamps + self.lamp_interval, now)
                    await self._poll(unit, self._lamps)
                if unit.next_cabinet <= now:
                    unit.next_cabinet = max(unit.next_cabinet + self.cabinet_interval, now)
                    await self._poll(unit, self._cabinet)

    async def _poll(
        self, unit: CabinetUnit, read: Callable[[CabinetUnit], Awaitable[None]]
    ) -> None:
        try:
            await read(unit)
        except ModbusLinkError as exc:
            self._failed(unit, str(exc))
        except ModbusDeviceError as exc:
            if exc.code in NO_ANSWER_CODES:
                self._failed(unit, str(exc))
            else:
                self.sink.bad_input("modbus_exception", unit.endpoint.cabinet, str(exc))
        except Rejected as exc:
            self.sink.bad_input(exc.kind, exc.device or unit.endpoint.cabinet, str(exc))
        else:
            if unit.online is not True:
                if unit.online is False:
                    logger.info("cabinet %s answers again", unit.endpoint.cabinet)
                unit.online = True
                self.sink.device_status("cabinet", unit.endpoint.cabinet, online=True)
            unit.failures = 0

    def _failed(self, unit: CabinetUnit, reason: str) -> None:
        unit.failures += 1
        if unit.online is not False and unit.failures >= self.offline_after:
            unit.online = False
            logger.warning("cabinet %s does not answer: %s", unit.endpoint.cabinet, reason)
            self.sink.device_status("cabinet", unit.endpoint.cabinet, online=False, reason=reason)

    async def _cabinet(self, unit: CabinetUnit) -> None:
        values: dict[tuple[str, int], int | bool] = {}
        for request in unit.cabinet_requests:
            words = await self.coordinator.read(unit.endpoint.unit, request)
            values.update(((request.table, request.address + k), w) for k, w in enumerate(words))
        cabinet = self.inventory.cabinets[unit.endpoint.cabinet]
        telemetry = modbus_cabinet(
            unit.profile, cabinet, values, self.clock.now(), self.source, counters=unit.counters
        )
        await self.sink.cabinet(telemetry)

    async def _lamps(self, unit: CabinetUnit) -> None:
        assert unit.lamp_profile is not None
        for request, first, count in unit.lamp_requests:
            words = await self.coordinator.read(unit.endpoint.unit, request)
            block = SlotBlock(request.address, [int(w) for w in words])
            ts = self.clock.now()
            readings: list[Reading] = []
            for index in range(first, first + count):
                lamp_id = unit.slots.get(index)
                if lamp_id is None:
                    continue
                try:
                    reading = modbus_lamp(unit.lamp_profile, block, index, lamp_id, ts)
                except Rejected as exc:
                    self.sink.bad_input(exc.kind, lamp_id, str(exc))
                    continue
                if reading is None:
                    if lamp_id not in unit.lamps_offline:
                        unit.lamps_offline.add(lamp_id)
                        self.sink.device_status(
                            "lamp", lamp_id, online=False, reason="concentrator lost it"
                        )
                    continue
                unit.lamps_offline.discard(lamp_id)
                self.sink.device_status("lamp", lamp_id, online=True)  # published once a change
                readings.append(reading)
            await self.sink.lamps(readings)


class ModbusSink(Protocol):
    """Where polled data goes (the gateway's outputs)."""

    async def lamps(self, readings: Sequence[Reading]) -> None: ...

    async def cabinet(self, telemetry: CabinetTelemetry) -> None: ...

    def bad_input(self, kind: str, device: str, reason: str) -> None: ...

    def device_status(
        self, kind: str, device: str, *, online: bool, reason: str | None = None
    ) -> None: ...
