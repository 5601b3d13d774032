"""Dispatch: turn changes of the expected state into commands, and see them carried out.

When lamps' expected level changes, the change goes out as few commands as the tree allows:
one group command for a site whose lamps all change to the same level, else one per circuit
whose lamps all do, else one per lamp (the gateway turns a group into vendor group commands
or Modbus writes). Commands leave through a paced queue (`rate_per_s`), so a whole district
does not switch in the same millisecond.

Each command is tracked until the gateway acknowledges it and every lamp's telemetry shows
the new state. A lamp not confirmed within `confirm_s` (clock seconds; longer than a
reporting interval) or whose command failed is retried on its own, up to `attempts`
commands in all; then it is given up as command_failed, and `on_failed` is told.

A lamp given up on is told again when it reports in disagreement: at once if it had been
silent for longer than `confirm_s` (it was offline, or without supply, and never heard the
command), else after `reassert_s`, so a broken driver is not commanded every few minutes.
A lamp silent when its last attempt fails is not a command failure (it is offline, and
detection says so): its command waits, and is sent again when it reports.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from streetlight.clock import Clock
from streetlight.contract import (
    AckOutcome,
    Command,
    CommandAck,
    LampTelemetry,
    Target,
    TargetKind,
    Topics,
    encode,
)
from streetlight.domain import Inventory, Level, agrees

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[None]]
COMMAND_LIFETIME = timedelta(minutes=5)
# Commands per wall second at most. A command is a site, a circuit or a lamp; the gateway
# writes a group's Modbus lamps one request after another, so lamps behind one cabinet never
# switch together whatever this is. 500/s spreads a district's 200-odd site commands over
# half a second (bench/dispatch.py).
RATE_PER_S = 500.0
OUTSTANDING = 64  # commands published and not yet acknowledged by the broker, at most


@dataclass
class Tracked:
    """A command on its way: the lamps it should bring to `level`, and what is known so far."""

    command: Command
    lamps: set[str]
    level: Level
    sent_at: datetime | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Heard:
    """A lamp's report as the dispatcher heard it, with the one before it."""

    reading: LampTelemetry
    previous: LampTelemetry | None
    commanded: bool  # a command was on its way to the lamp when the report came


@dataclass
class DispatchStats:
    commands_sent: int = 0
    lamps_commanded: int = 0
    confirmed: int = 0
    retried: int = 0
    failed: int = 0
    reasserted: int = 0  # lamps given up on and told again
    deferred: int = 0  # commands to silent lamps, held until they report
    superseded: int = 0  # queued commands whose lamps all got a newer one: dropped unsent


class Dispatcher:
    def __init__(
        self,
        inventory: Inventory,
        topics: Topics,
        clock: Clock,
        *,
        rate_per_s: float = RATE_PER_S,
        confirm_s: float = 180.0,
        attempts: int = 3,
        reassert_s: float = 3600.0,
        on_failed: Callable[[str, Level, str], None] | None = None,
    ) -> None:
        self.inventory = inventory
        self.topics = topics
        self.clock = clock
        self.rate_per_s = rate_per_s
        self.confirm_s = confirm_s
        self.attempts = attempts
        self.on_failed = on_failed
        self.reassert_s = reassert_s
        self._given_up: dict[str, datetime] = {}  # lamp -> when it was given up on
        self.asserted: dict[str, Level] = {}  # what each lamp has been told to do
        self.asserted_at: dict[str, datetime] = {}  # since when (its first command for it)
        # when the field said a lamp carried out its latest command (the gateway's ack); it
        # stands until the next command, even once telemetry agrees: a welded relay reports
        # off, as told, and its draw says otherwise
        self.acknowledged: dict[str, datetime] = {}
        self.reported: dict[str, LampTelemetry] = {}
        self._tracked: dict[str, Tracked] = {}  # command id -> its command
        self._lamp_command: dict[str, str] = {}  # lamp -> the command that carries it now
        # commands waiting for their turn to be sent. Bounded: each lamp is carried by one live
        # command at most, so when more than the lamps wait, the commands whose lamps all got
        # a newer one (they would be skipped when their turn came) are dropped from the queue;
        # a live command is never dropped
        self._queue: deque[Tracked] = deque()
        self._queue_max = max(1, len(inventory.lamps))
        self._queued = asyncio.Event()
        self._ids = itertools.count(1)
        self._run = f"{int(clock.now().timestamp()):x}"
        self.stats = DispatchStats()
        self._lamps_of_site: dict[str, list[str]] = {}
        self._lamps_of_circuit: dict[str, list[str]] = {}
        for lamp in inventory.lamps.values():
            circuit = inventory.circuits[lamp.circuit_id]
            site = inventory.cabinets[circuit.cabinet_id].site_id
            self._lamps_of_circuit.setdefault(circuit.id, []).append(lamp.id)
            self._lamps_of_site.setdefault(site, []).append(lamp.id)

    # --- deciding ------------------------------------------------------------------------------

    def assert_levels(self, expected: Mapping[str, Level]) -> int:
        """Queue commands for every lamp whose expected level differs from what it was told;
        returns how many lamps changed."""
        changed = {
            lamp: level
            for lamp, level in expected.items()
            if lamp not in self.asserted or self.asserted[lamp] != level
        }
        if not changed:
            return 0
        for target, level, lamps in self._targets(changed):
            self._enqueue(target, level, lamps)
        return len(changed)

    def adopt(self, lamp: str, level: Level) -> None:
        """Take a lamp's reported state as asserted (after a restart, where it already agrees)."""
        if self.asserted.get(lamp, ...) != level:
            self.asserted_at[lamp] = self.clock.now()
        self.asserted[lamp] = level

    def _targets(self, changed: Mapping[str, Level]) -> Iterable[tuple[Target, Level, list[str]]]:
        left = dict(changed)
        for site, lamps in self._lamps_of_site.items():
            yield from self._whole(TargetKind.GROUP, site, lamps, left)
        for circuit, lamps in self._lamps_of_circuit.items():
            yield from self._whole(TargetKind.GROUP, circuit, lamps, left)
        for lamp, level in left.items():
            yield Target(kind=TargetKind.LAMP, id=lamp), level, [lamp]

    @staticmethod
    def _whole(
        kind: TargetKind, ident: str, lamps: list[str], left: dict[str, Level]
    ) -> Iterable[tuple[Target, Level, list[str]]]:
        if len(lamps) < 2 or lamps[0] not in left:
            return
        level = left[lamps[0]]
        if all(lamp in left and left[lamp] == level for lamp in lamps):
            for lamp in lamps:
                del left[lamp]
            yield Target(kind=kind, id=ident), level, lamps

    def _enqueue(self, target: Target, level: Level, lamps: list[str], attempt: int = 1) -> None:
        now = self.clock.now()
        command = Command(
            id=f"c-{self._run}-{next(self._ids)}",
            target=target,
            on=level is not None,
            level_pct=level,
            issued_at=now,
            expires_at=now + COMMAND_LIFETIME,
            origin="controller",
            reason=f"attempt {attempt}" if attempt > 1 else None,
        )
        tracked = Tracked(command, set(lamps), level, attempt=attempt)
        for lamp in lamps:
            older = self._tracked.get(self._lamp_command.get(lamp, ""))
            if older is not None:  # the lamp's earlier command no longer speaks for it
                self._settle(older, lamp)
            if attempt == 1:
                self.asserted_at[lamp] = now
            self.asserted[lamp] = level
            self._lamp_command[lamp] = command.id
            self.acknowledged.pop(lamp, None)  # an earlier ack does not speak for this one
        self._tracked[command.id] = tracked
        if len(self._queue) >= self._queue_max:
            self._drop_superseded()
        self._queue.append(tracked)
        self._queued.set()

    def _drop_superseded(self) -> None:
        """The queue is full: drop the commands every lamp of which has a newer one."""
        live: deque[Tracked] = deque()
        for tracked in self._queue:
            if tracked.lamps:
                live.append(tracked)
            else:
                self._tracked.pop(tracked.command.id, None)
                self.stats.superseded += 1
        self._queue = live

    # --- sending -------------------------------------------------------------------------------

    async def send_forever(self, publish: Publish) -> None:
        """Publish queued commands, `rate_per_s` at most, up to `OUTSTANDING` of them waiting
        for the broker's acknowledgement at once (waiting for each in turn held the rate to
        what one round trip allows). A publish that fails ends the loop with its error."""
        gap = 1.0 / self.rate_per_s
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        room = asyncio.Semaphore(OUTSTANDING)
        async with asyncio.TaskGroup() as sending:
            while True:
                while not self._queue:
                    self._queued.clear()
                    await self._queued.wait()
                tracked = self._queue.popleft()
                if not tracked.lamps:  # every lamp was taken over by a newer command
                    self._tracked.pop(tracked.command.id, None)
                    continue
                delay = next_at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at = max(next_at, loop.time()) + gap
                await room.acquire()
                tracked.sent_at = self.clock.now()
                self.stats.commands_sent += 1
                self.stats.lamps_commanded += len(tracked.lamps)
                sending.create_task(self._send(publish, tracked, room))

    async def _send(self, publish: Publish, tracked: Tracked, room: asyncio.Semaphore) -> None:
        target = tracked.command.target
        try:
            await publish(self.topics.command(target.kind, target.id), encode(tracked.command))
        finally:
            room.release()
        logger.debug(
            "sent %s: %s:%s to %s",
            tracked.command.id,
            target.kind.value,
            target.id,
            "off" if tracked.level is None else f"{tracked.level} %",
        )

    # --- hearing back --------------------------------------------------------------------------

    def on_ack(self, ack: CommandAck) -> None:
        tracked = self._tracked.get(ack.command_id)
        if tracked is None:
            return  # not ours, or already settled
        done = ack.outcome is AckOutcome.DONE
        failed = set(ack.failed) if ack.failed or done else set(tracked.lamps)
        for lamp in tracked.lamps - failed:
            if self._lamp_command.get(lamp) == tracked.command.id:
                self.acknowledged[lamp] = ack.at
        if failed:
            for lamp in failed & tracked.lamps:
                reading = self.reported.get(lamp)
                if (
                    reading is not None
                    and tracked.sent_at is not None
                    and reading.ts >= tracked.sent_at
                    and agrees(tracked.level, reading)
                ):  # the field already does it (the lamp came back on its own, say)
                    self._settle(tracked, lamp)
                    self.stats.confirmed += 1
                else:
                    self._retry(tracked, lamp, f"{ack.outcome.value}")

    def hear(self, reading: LampTelemetry) -> Heard:
        """Hear a lamp's report: it confirms the command on its way if it agrees. What it
        found is for `reassert`, once detection has judged the report against what the lamp
        was told when it was taken (not against a command sent because of it)."""
        lamp = reading.lamp
        previous = self.reported.get(lamp)
        self.reported[lamp] = reading
        command_id = self._lamp_command.get(lamp)
        tracked = self._tracked.get(command_id) if command_id is not None else None
        if (
            tracked is not None
            and tracked.sent_at is not None
            and reading.ts >= tracked.sent_at  # one from before says nothing about it
            and agrees(tracked.level, reading)
        ):
            self._settle(tracked, lamp)
            self.stats.confirmed += 1
        return Heard(reading, previous, commanded=command_id is not None)

    def reassert(self, heard: Heard) -> None:
        """Tell a lamp given up on again if its report still disagrees (`_reassert`); not while
        a command was on its way to it when the report came."""
        lamp = heard.reading.lamp
        if not heard.commanded and lamp in self._given_up:
            self._reassert(lamp, heard.reading, heard.previous)

    def check_deadlines(self) -> None:
        """Retry lamps not confirmed in time (from the command's sending)."""
        now = self.clock.now()
        limit = timedelta(seconds=self.confirm_s)
        for tracked in list(self._tracked.values()):
            if tracked.sent_at is not None and now - tracked.sent_at > limit:
                for lamp in list(tracked.lamps):
                    self._retry(tracked, lamp, "not confirmed by telemetry")

    def _retry(self, tracked: Tracked, lamp: str, why: str) -> None:
        self._settle(tracked, lamp)
        if tracked.attempt >= self.attempts:
            now = self.clock.now()
            self._given_up[lamp] = now
            reading = self.reported.get(lamp)
            if reading is None or (now - reading.ts).total_seconds() > self.confirm_s:
                # a silent lamp could not hear it (its lamp_offline says so): it is told
                # again when it reports, and only a command it hears can fail
                self.stats.deferred += 1
                logger.info("lamp %s is silent: its command waits until it reports", lamp)
                return
            self.stats.failed += 1
            logger.warning(
                "lamp %s: command to %s failed after %d attempts (%s)",
                lamp,
                "off" if tracked.level is None else f"{tracked.level} %",
                tracked.attempt,
                why,
            )
            if self.on_failed is not None:
                self.on_failed(lamp, tracked.level, why)
            return
        self.stats.retried += 1
        lamp_target = Target(kind=TargetKind.LAMP, id=lamp)
        self._enqueue(lamp_target, tracked.level, [lamp], tracked.attempt + 1)

    def _reassert(self, lamp: str, reading: LampTelemetry, previous: LampTelemetry | None) -> None:
        """A lamp given up on is told again when it reports after a silence (it could not hear
        its command) or once `reassert_s` has passed; not if it now does what it was told."""
        level = self.asserted.get(lamp, ...)
        if level is ... or agrees(level, reading):
            self._given_up.pop(lamp, None)
            return
        silent = previous is None or (reading.ts - previous.ts).total_seconds() > self.confirm_s
        waited = (self.clock.now() - self._given_up[lamp]).total_seconds() >= self.reassert_s
        if silent or waited:
            del self._given_up[lamp]
            self.stats.reasserted += 1
            self._enqueue(Target(kind=TargetKind.LAMP, id=lamp), level, [lamp])

    def _settle(self, tracked: Tracked, lamp: str) -> None:
        tracked.lamps.discard(lamp)
        if self._lamp_command.get(lamp) == tracked.command.id:
            del self._lamp_command[lamp]
        if not tracked.lamps:
            self._tracked.pop(tracked.command.id, None)

    def pending(self, lamp: str) -> bool:
        """Whether a command to `lamp` is on its way (sent or queued, not yet confirmed)."""
        return lamp in self._lamp_command

    @property
    def in_flight(self) -> int:
        """Lamps commanded and not yet confirmed or given up."""
        return len(self._lamp_command)
