"""The command path: canonical commands in, Modbus writes or vendor MQTT commands out, each
answered on the contract's ack topic with what became of it.

A lamp behind a concentrator is written (its relay and dim registers); a circuit or cabinet
switches its contactors; an MQTT node gets a vendor command and must acknowledge it. A group
(any node of the asset tree) goes out as one vendor group command per circuit whose nodes all
belong to it, and as single commands for the rest. Each device is tried up to `attempts` times
(`timeout_s` for an answer); the acknowledgement says done, device_error (the device refused),
timeout (no answer), expired or rejected, and lists the members of a group that failed.

A lamp's dim and relay registers are written in one request when they are adjacent (dim level
first, so the lamp never lights at its old level), else one request each. A command that covers
every lamp on a concentrator whose profile has `broadcast` registers writes those instead, the
same way: one request for them all. When the concentrator answers that some lamp did not hear
it (0x0B), each of its lamps is written on its own, which finds out which, so the ack lists the
same lamps as lamp-by-lamp writes would; a broadcast that fails otherwise fails every lamp on
the concentrator.

Commands wait for a slot among `in_flight` in a queue of `queued`; one more is refused at once
(rejected, counted as `command_overflow`) rather than holding up the messages the ones in flight
wait for.

Commands for lamps of sites other gateways serve are left to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from gateway.groups import Members
from gateway.modbus_link import NO_ANSWER_CODES, Coordinator, ModbusDeviceError, ModbusLinkError
from gateway.outputs import Outputs
from streetlight.clock import Clock
from streetlight.contract import (
    AckOutcome,
    Command,
    CommandAck,
    PayloadError,
    Target,
    TargetKind,
    Topics,
    decode,
    encode,
)
from streetlight.domain import Inventory
from streetlight.profiles import (
    ModbusCabinetProfile,
    ModbusLampProfile,
    MqttLampProfile,
    RegisterSpec,
    command_body,
    read_ack,
)
from streetlight.profiles import (
    encode as encode_value,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModbusPlace:
    """Where a cabinet (and its concentrator's lamps) is written."""

    coordinator: Coordinator
    unit: int
    profile: ModbusCabinetProfile
    lamp_profile: ModbusLampProfile | None
    slots: dict[str, int]  # lamp id -> slot (from 1)


@dataclass
class _Result:
    failed: list[str] = field(default_factory=list)
    device_error: bool = False
    attempts: int = 0


class CommandRouter:
    def __init__(
        self,
        *,
        inventory: Inventory,
        served_lamps: set[str],
        mqtt_lamps: dict[str, MqttLampProfile],  # lamp id -> its profile
        field_root: str,
        modbus: dict[str, ModbusPlace],  # cabinet id -> where
        outputs: Outputs,
        topics: Topics,
        clock: Clock,
        timeout_s: float,
        attempts: int,
        in_flight: int,
        queued: int,
    ) -> None:
        self.inventory = inventory
        self.served_lamps = served_lamps
        self.mqtt_lamps = mqtt_lamps
        self.field_root = field_root
        self.modbus = modbus
        self.outputs = outputs
        self.topics = topics
        self.clock = clock
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queued)
        self._slots = asyncio.Semaphore(in_flight)
        self._waiting: dict[tuple[str, str], asyncio.Future[tuple[bool, int]]] = {}
        self._lamp_modbus = {lamp: place for place in modbus.values() for lamp in place.slots}
        self._lamp_cabinet = {lamp: cabinet for cabinet, p in modbus.items() for lamp in p.slots}
        self._members = Members(inventory)
        # cabinet -> every lamp on its concentrator, where one broadcast write reaches them all
        self._concentrators = {
            cabinet: frozenset(place.slots)
            for cabinet, place in modbus.items()
            if self._broadcasts(cabinet, place)
        }

    def _broadcasts(self, cabinet: str, place: ModbusPlace) -> bool:
        """Whether a broadcast reaches exactly the lamps the endpoint lists (no others)."""
        profile = place.lamp_profile
        if profile is None or profile.broadcast is None or not place.slots:
            return False
        behind = {
            lamp
            for lamp in self._members.of(cabinet) or []
            if self.inventory.lamps[lamp].profile == profile.id
        }
        if behind != set(place.slots):
            logger.warning(
                "cabinet %s: the endpoint's lamps are not the %d %s lamps of the inventory: "
                "lamp by lamp writes only, no broadcast",
                cabinet,
                len(behind),
                profile.id,
            )
            return False
        return True

    # --- in ---------------------------------------------------------------------------------

    def submit(self, payload: bytes) -> None:
        """A command from the bus, queued; refused at once when the queue is full.

        Never waits: the messages that come in behind it include the vendor acks the commands
        in flight are waiting for."""
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._refuse(payload)

    def _refuse(self, payload: bytes) -> None:
        """Answer a command the queue has no room for: rejected, unless it is not ours."""
        self.outputs.health.commands += 1
        try:
            command = decode(Command, payload)
        except PayloadError as exc:
            self.outputs.bad_input("bad_command", "bus", str(exc))
            return
        lamps, circuits = self._scope(command.target)
        if lamps is not None and not lamps and not circuits:
            return  # another gateway's
        waiting = self._queue.qsize()
        self.outputs.bad_input(
            "command_overflow", "bus", f"{waiting} commands waiting: later ones are refused"
        )
        self._ack(
            command,
            AckOutcome.REJECTED,
            0,
            detail=f"command_overflow: the gateway has {waiting} commands waiting",
        )

    def vendor_ack(self, profile: MqttLampProfile, lamp: str, payload: bytes) -> None:
        """A node's acknowledgement, from the ack topic of `lamp` (the gateway resolved it)."""
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.outputs.bad_input("malformed", lamp, "an acknowledgement that is not JSON")
            return
        ack = read_ack(profile.ack, document)
        if ack is None:
            self.outputs.bad_input("malformed", lamp, "an acknowledgement without a command id")
            return
        command_id, ok, code = ack
        future = self._waiting.get((lamp, command_id))
        if future is not None and not future.done():
            future.set_result((ok, code))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            while True:
                payload = await self._queue.get()
                await self._slots.acquire()
                tasks.create_task(self._carry_out(payload), name="command")

    # --- carrying out -----------------------------------------------------------------------

    async def _carry_out(self, payload: bytes) -> None:
        try:
            await self._handle(payload)
        except Exception:
            logger.exception("a command failed unexpectedly")  # one command, not the loop
        finally:
            self._slots.release()

    async def _handle(self, payload: bytes) -> None:
        self.outputs.health.commands += 1
        try:
            command = decode(Command, payload)
        except PayloadError as exc:
            self.outputs.bad_input("bad_command", "bus", str(exc))
            return
        target = command.target
        lamps, circuits = self._scope(target)
        if lamps is None:
            self._ack(
                command, AckOutcome.REJECTED, 0, detail=f"unknown {target.kind.value} {target.id!r}"
            )
            return
        if not lamps and not circuits:
            return  # another gateway's
        if command.expires_at is not None and self.clock.now() > command.expires_at:
            self._ack(
                command,
                AckOutcome.EXPIRED,
                0,
                detail=f"arrived after {command.expires_at.isoformat()}",
            )
            return
        result = _Result()
        await asyncio.gather(
            *(self._switch_circuit(command, circuit, result) for circuit in circuits),
            self._lamps(command, lamps, result),
        )
        if not result.failed:
            outcome = AckOutcome.DONE
        elif result.device_error:
            outcome = AckOutcome.DEVICE_ERROR
        else:
            outcome = AckOutcome.TIMEOUT
        failed = result.failed if target.kind is not TargetKind.LAMP else []
        self._ack(command, outcome, result.attempts, failed=failed)

    def _scope(self, target: Target) -> tuple[list[str] | None, list[str]]:
        """(served lamps, served circuits) a command reaches; None lamps for an unknown target."""
        inv = self.inventory
        kind, ident = target.kind, target.id
        if kind is TargetKind.GROUP:
            members = self._members.of(ident)
            return (
                (None, [])
                if members is None
                else ([m for m in members if m in self.served_lamps], [])
            )
        known: dict[TargetKind, Mapping[str, object]] = {
            TargetKind.LAMP: inv.lamps,
            TargetKind.CIRCUIT: inv.circuits,
            TargetKind.CABINET: inv.cabinets,
        }
        if ident not in known.get(kind, {}):
            return None, []
        if kind is TargetKind.LAMP:
            return ([ident] if ident in self.served_lamps else []), []
        cabinet = inv.circuits[ident].cabinet_id if kind is TargetKind.CIRCUIT else ident
        if cabinet not in self.modbus:
            return [], []
        circuits = [ident] if kind is TargetKind.CIRCUIT else list(inv.cabinets[ident].circuit_ids)
        return [], circuits

    async def _lamps(self, command: Command, lamps: list[str], result: _Result) -> None:
        """Vendor group commands for whole circuits of MQTT nodes, broadcast writes for whole
        concentrators that have them; one command for each of the rest."""
        wanted = set(lamps)
        singles: list[str] = []
        groups: list[tuple[str, list[str]]] = []
        broadcasts: list[tuple[str, list[str]]] = []
        by_circuit: dict[str, list[str]] = {}
        by_cabinet: dict[str, list[str]] = {}
        for lamp in lamps:
            if lamp in self.mqtt_lamps:
                by_circuit.setdefault(self.inventory.lamps[lamp].circuit_id, []).append(lamp)
            elif (cabinet := self._lamp_cabinet.get(lamp, "")) in self._concentrators:
                by_cabinet.setdefault(cabinet, []).append(lamp)
            else:
                singles.append(lamp)
        for circuit, members in by_circuit.items():
            on_circuit = self.inventory.lamps_on_circuit(circuit)
            everyone = [lamp for lamp in on_circuit if lamp in self.mqtt_lamps]
            if len(members) > 1 and wanted.issuperset(everyone):
                groups.append((circuit, members))
            else:
                singles.extend(members)
        for cabinet, members in by_cabinet.items():
            if len(members) > 1 and wanted.issuperset(self._concentrators[cabinet]):
                broadcasts.append((cabinet, members))
            else:
                singles.extend(members)
        await asyncio.gather(
            *(self._mqtt_group(command, circuit, members, result) for circuit, members in groups),
            *(
                self._broadcast(command, cabinet, members, result)
                for cabinet, members in broadcasts
            ),
            *(self._lamp(command, lamp, result) for lamp in singles),
        )

    async def _lamp(self, command: Command, lamp: str, result: _Result) -> None:
        if lamp in self.mqtt_lamps:
            await self._mqtt_group(command, None, [lamp], result)
            return
        place = self._lamp_modbus.get(lamp)
        if place is None or place.lamp_profile is None:
            result.failed.append(lamp)
            return
        writes = _level_writes(place.lamp_profile.fields, command)
        requests = register_writes(place.lamp_profile, place.slots[lamp] - 1, writes)
        await self._modbus(_writer(place, requests), lamp, result)

    async def _broadcast(
        self, command: Command, cabinet: str, lamps: list[str], result: _Result
    ) -> None:
        """One write for every lamp on a concentrator (`lamps`: all of them)."""
        place = self.modbus[cabinet]
        profile = place.lamp_profile
        assert profile is not None
        assert profile.broadcast is not None
        requests = register_writes(profile, 0, _level_writes(profile.broadcast, command))
        error = await self._attempts(_writer(place, requests), result, again_on=frozenset())
        if isinstance(error, ModbusDeviceError) and error.code in NO_ANSWER_CODES:
            # some lamp did not hear it (the rest did): lamp by lamp finds out which
            await asyncio.gather(*(self._lamp(command, lamp, result) for lamp in lamps))
        elif error is not None:
            logger.warning(
                "cabinet %s: a broadcast to its %d lamps failed: %s", cabinet, len(lamps), error
            )
            result.failed.extend(lamps)
            result.device_error |= _refused(error)

    async def _switch_circuit(self, command: Command, circuit: str, result: _Result) -> None:
        cabinet = self.inventory.circuits[circuit].cabinet_id
        place = self.modbus[cabinet]
        number = self.inventory.circuits[circuit].number
        spec = place.profile.circuits["contactor_on"]

        async def write() -> None:
            await place.coordinator.write_coil(place.unit, spec.address_of(number - 1), command.on)

        await self._modbus(write, circuit, result)

    async def _modbus(
        self, write: Callable[[], Awaitable[None]], device: str, result: _Result
    ) -> None:
        error = await self._attempts(write, result, again_on=NO_ANSWER_CODES)
        if error is not None:
            result.failed.append(device)
            result.device_error |= _refused(error)

    async def _attempts(
        self, write: Callable[[], Awaitable[None]], result: _Result, *, again_on: frozenset[int]
    ) -> ModbusDeviceError | ModbusLinkError | None:
        """Up to `attempts` tries, again after a link failure or an exception code in
        `again_on`; None once done, else the error it gave up on."""
        error: ModbusDeviceError | ModbusLinkError | None = None
        for attempt in range(1, self.attempts + 1):
            result.attempts = max(result.attempts, attempt)
            try:
                await write()
            except ModbusDeviceError as exc:
                if exc.code not in again_on:
                    return exc
                error = exc
            except ModbusLinkError as exc:
                error = exc
            else:
                return None
        return error

    async def _mqtt_group(
        self, command: Command, circuit: str | None, lamps: list[str], result: _Result
    ) -> None:
        """A vendor command (to a circuit's group topic, or to one node), with every ack it owes.

        A retry goes to each node that stayed silent, on its own topic."""
        profile = self.mqtt_lamps[lamps[0]]
        level = command.level_pct if command.on and command.level_pct is not None else 0
        body = command_body(profile.command, command.id, command.on, level)
        topics = profile.topics
        pending = {lamp: self._expect(lamp, command.id) for lamp in lamps}
        try:
            for attempt in range(1, self.attempts + 1):
                silent = [lamp for lamp, future in pending.items() if not future.done()]
                if not silent:
                    break
                result.attempts = max(result.attempts, attempt)
                if attempt == 1 and circuit is not None:
                    self.outputs.publish(
                        topics.group_command.format(root=self.field_root, group=circuit), body
                    )
                else:
                    for lamp in silent:
                        self.outputs.publish(
                            topics.command.format(
                                root=self.field_root, device=self._device_name(profile, lamp)
                            ),
                            body,
                        )
                await asyncio.wait([pending[lamp] for lamp in silent], timeout=self.timeout_s)
            for lamp, future in pending.items():
                if not future.done():
                    result.failed.append(lamp)
                elif not future.result()[0]:
                    result.device_error = True
                    result.failed.append(lamp)
        finally:
            for lamp in lamps:
                self._waiting.pop((lamp, command.id), None)

    def _device_name(self, profile: MqttLampProfile, lamp: str) -> str:
        """What the lamp's node is called on its topics: its id, or its device address."""
        if profile.devices_named_by == "device_address":
            return self.inventory.lamps[lamp].device_address or lamp
        return lamp

    def _expect(self, lamp: str, command_id: str) -> asyncio.Future[tuple[bool, int]]:
        future: asyncio.Future[tuple[bool, int]] = asyncio.get_running_loop().create_future()
        self._waiting[(lamp, command_id)] = future
        return future

    def _ack(
        self,
        command: Command,
        outcome: AckOutcome,
        attempts: int,
        *,
        failed: Iterable[str] = (),
        detail: str | None = None,
    ) -> None:
        ack = CommandAck(
            command_id=command.id,
            target=command.target,
            outcome=outcome,
            at=self.clock.now(),
            attempts=attempts,
            failed=sorted(set(failed)),
            detail=detail,
        )
        self.outputs.publish(self.topics.ack(command.target.kind, command.target.id), encode(ack))
        self.outputs.health.acks_out += 1


def _level_writes(
    specs: Mapping[str, RegisterSpec], command: Command
) -> list[tuple[RegisterSpec, int | bool]]:
    """What a command writes to a lamp's (or to the broadcast) registers: dim level, relay."""
    level = command.level_pct if command.on and command.level_pct is not None else 0
    writes: list[tuple[RegisterSpec, int | bool]] = (
        [(specs["dim_pct"], level)] if command.on else []
    )
    writes.append((specs["relay_on"], command.on))
    return writes


def _writer(
    place: ModbusPlace, requests: list[tuple[int, list[int]]]
) -> Callable[[], Awaitable[None]]:
    async def write() -> None:
        for address, registers in requests:
            await place.coordinator.write_registers(place.unit, address, registers)

    return write


def _refused(error: ModbusDeviceError | ModbusLinkError) -> bool:
    """The device answered with an error of its own (not: nothing behind it answered)."""
    return isinstance(error, ModbusDeviceError) and error.code not in NO_ANSWER_CODES


def register_writes(
    profile: ModbusLampProfile, slot: int, writes: list[tuple[RegisterSpec, int | bool]]
) -> list[tuple[int, list[int]]]:
    """The (address, registers) requests that write `writes` to a slot, in their order.

    A field that starts where the one before it ends, in the same table, joins its request:
    a write of several registers reaches the device as one message, applied in address order,
    so the fields still take effect in the order given (dim level before relay). Fields that
    are apart, or in the reverse order, are written one request each."""
    requests: list[tuple[str, int, list[int]]] = []
    for spec, value in writes:
        address = spec.address_of(slot)
        registers = encode_value(spec, value, profile.word_order, profile.byte_order)
        if requests:
            table, start, previous = requests[-1]
            if table == spec.table and start + len(previous) == address:
                previous.extend(registers)
                continue
        requests.append((spec.table, address, list(registers)))
    return [(address, registers) for _, address, registers in requests]
