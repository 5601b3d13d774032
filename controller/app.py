"""The controller process: follow the bus, decide what every lamp should do, make it so.

It reads the schedule (programs, calendars, overrides) from the relational store: at once
when a tool that saved a change says so on the bus (streetlight.schedule.announce), and every
`reload_s` in case a notice was lost. It listens to the gateways' canonical telemetry and
acknowledgements on the bus, and every `tick_s` of clock time evaluates the expected state of
every lamp (streetlight.schedule.Evaluator) and dispatches what changed (controller.schedule).

After a (re)start it first listens for `grace_s` of clock time: lamps whose reports already
agree with the expected state are left alone, the rest are commanded. Nothing it needs is
kept only in memory: the schedule is in the store and the field reports its own state.

It also watches: every reading and the gateways' word on devices going offline are evidence
for detection, whose alarms go to the store, the bus and InfluxDB (controller.alarms). Open
alarms and detection's debounce state are read back from the store after a restart, so no
fault is raised twice. Root alarms open work orders in the ledger, and crews are told
(controller.ledger, controller.notify). Every 300 s of clock time, and once a night, it writes
the district's KPIs to InfluxDB (controller.kpi).

A lamp's report takes one path, in one order (`take_lamp_report`): it settles the command it
confirms, detection judges it against what the lamp was told when it was taken, and a lamp
given up on that still disagrees is told again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from aiomqtt import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from controller.alarms import (
    AlarmBook,
    AlarmOutlet,
    Detector,
    ThresholdBook,
    read_open_alarms,
    read_watches,
    save_watches,
)
from controller.kpi import KpiConfig, KpiWriter
from controller.ledger import LedgerConfig, LedgerKeeper
from controller.notify import Notifier
from controller.schedule import RATE_PER_S, Dispatcher
from streetlight.aio import first_of
from streetlight.backoff import Backoff, LinkState
from streetlight.clock import Clock
from streetlight.contract import (
    Channel,
    CommandAck,
    DeviceStatus,
    LampTelemetry,
    PayloadError,
    ScheduleChange,
    Target,
    TargetKind,
    TelemetryBatch,
    Topics,
    decode,
    encode,
)
from streetlight.domain import AlarmType, Inventory, agrees
from streetlight.influx import InfluxClient
from streetlight.mqtt import make_client, offline_will, publish, run_connected
from streetlight.schedule import Evaluator, LuxBoard, Schedule
from streetlight.settings import CommonSettings
from streetlight.store import sessions
from streetlight.store.alarms import next_alarm_id
from streetlight.store.schedules import read_evaluator

logger = logging.getLogger(__name__)

RECONNECT_CAP_S = 30.0


def take_lamp_report(
    reading: LampTelemetry,
    dispatcher: Dispatcher,
    detector: Detector,
    *,
    arrived: datetime | None = None,
    source: str | None = None,
) -> None:
    """A lamp's report, in the order that is right: judged after it settles the command it
    confirms, and before a lamp given up on is told again, so detection holds it against what
    the lamp was told when the report was taken, not against a command sent because of it.
    `arrived` is when it reached the controller, `source` the gateway it came through."""
    heard = dispatcher.hear(reading)
    detector.lamp(reading, arrived=arrived, source=source)
    dispatcher.reassert(heard)


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    tick_s: float = 5.0  # clock seconds between evaluations
    reload_s: float = 5.0  # wall seconds between reads of the schedule without a notice
    grace_s: float = 90.0  # clock seconds of listening before the first commands
    rate_per_s: float = RATE_PER_S  # commands per wall second at most
    confirm_s: float = 180.0  # clock seconds for telemetry to confirm a command
    attempts: int = 3
    health_s: float = 30.0  # wall seconds between health reports
    watch_save_s: float = 10.0  # wall seconds between snapshots of detection's debounce state
    notify_hold_s: float = 60.0  # clock seconds a new alarm waits, in case a root adopts it
    ledger_poll_s: float = 2.0  # wall seconds between reads of the work orders crews move


class Controller:
    def __init__(
        self,
        settings: CommonSettings,
        inventory: Inventory,
        *,
        engine: AsyncEngine,
        clock: Clock,
        config: ControllerConfig | None = None,
        identity: str = "controller",
        thresholds: ThresholdBook | None = None,
        notifier: Notifier | None = None,
        ledger: LedgerConfig | None = None,
        kpi: KpiConfig | None = None,
    ) -> None:
        self.settings = settings
        self.inventory = inventory
        self.engine = engine
        self.clock = clock
        self.config = config or ControllerConfig()
        self.identity = identity
        self.topics = Topics(settings.mqtt_root)
        self.ready = asyncio.Event()  # subscribed and evaluating
        self.schedule = Schedule()
        self.evaluator: Evaluator | None = None
        self.dispatcher = Dispatcher(
            inventory,
            self.topics,
            clock,
            rate_per_s=self.config.rate_per_s,
            confirm_s=self.config.confirm_s,
            attempts=self.config.attempts,
            on_failed=self._command_failed,
        )
        self.outlet = AlarmOutlet(inventory, self.topics, engine, None)
        self.book = AlarmBook(inventory, on_change=self.outlet.add)
        self.detector = Detector(inventory, self.book, self.dispatcher, thresholds)
        self.notifier = notifier
        self.ledger = LedgerKeeper(
            inventory, engine, clock, self.book, config=ledger or LedgerConfig(),
            hold_s=self.config.notify_hold_s, poll_s=self.config.ledger_poll_s, notifier=notifier,
        )  # fmt: skip
        self.outlet.listeners.append(self.ledger.on_changes)
        self.kpi = KpiWriter(
            inventory, clock, engine, dispatcher=self.dispatcher, book=self.book,
            thresholds=self.detector.thresholds, confirm_s=self.config.confirm_s, config=kpi,
        )  # fmt: skip
        self.lux = LuxBoard()
        self._started = clock.now()
        self._changed = asyncio.Event()  # the schedule changed: evaluate now
        self._notified = asyncio.Event()  # a tool saved a change: read the store now
        self.evaluations = 0
        self.last_evaluation_s = 0.0
        self.bad_messages = 0

    # --- schedule ------------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Read the schedule from the store; True if it changed."""
        async with sessions(self.engine)() as session:
            evaluator = await read_evaluator(session, self.inventory, self.evaluator)
        if evaluator is None:
            return False
        self.evaluator, self.schedule = evaluator, evaluator.schedule
        schedule = evaluator.schedule
        logger.info(
            "schedule: %d programs, %d calendars, %d overrides",
            len(schedule.programs),
            len(schedule.calendars),
            sum(1 for o in schedule.overrides if o.active(self.clock.now())),
        )
        return True

    # --- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.reload()
        await self.restore_alarms()
        influx = InfluxClient.from_settings(self.settings)
        async with influx, asyncio.TaskGroup() as tasks:
            self.outlet.influx = influx
            if self.notifier is not None:  # it needs no broker: it runs until told to stop
                tasks.create_task(self.notifier.run(stop), name="controller-notify")
            tasks.create_task(self.kpi.run(influx, stop), name="controller-kpi")  # nor this
            try:
                await self._run(stop)
            finally:
                await self.outlet.flush(None)  # into the store, at least
                await self.save_watches()

    async def _run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        will = offline_will(self.topics, TargetKind.CONTROLLER, self.identity)

        def connect() -> Client:
            return make_client(
                settings.mqtt,
                identifier=f"{settings.mqtt_root}-{self.identity}",
                ca_file=settings.mqtt_ca_file,
                will=will,
            )

        await run_connected(
            connect,
            self._serve,
            stop=stop,
            link=LinkState(logger, f"MQTT broker at {settings.mqtt} (as {self.identity})"),
            backoff=Backoff(initial=1.0, cap=RECONNECT_CAP_S),
            farewell=self._farewell,
        )

    async def _serve(self, client: Client) -> None:
        await client.subscribe(self.topics.subscription(Channel.TELEMETRY), qos=1)
        await client.subscribe(self.topics.subscription(Channel.ACK), qos=1)
        await client.subscribe(self.topics.subscription(Channel.STATUS, TargetKind.LAMP), qos=1)
        await client.subscribe(self.topics.subscription(Channel.STATUS, TargetKind.GATEWAY), qos=1)
        await client.subscribe(self.topics.subscription(Channel.SCHEDULE), qos=1)
        await self._say_status(client, online=True)
        self.detector.feeds.link(True, self.clock.now())
        try:
            await self._serve_connected(client)
        finally:  # the link is down: no gateway's feed is judged until it is back
            self.detector.feeds.link(False, self.clock.now())

    async def _serve_connected(self, client: Client) -> None:

        async def publish_once(topic: str, payload: bytes) -> None:
            await publish(client, topic, payload)

        async def publish_retained(topic: str, payload: bytes) -> None:
            await publish(client, topic, payload, retain=True)

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(client), name="controller-receive")
            tasks.create_task(self._ticks(), name="controller-ticks")
            tasks.create_task(self._reloads(), name="controller-reload")
            tasks.create_task(self.dispatcher.send_forever(publish_once), name="controller-send")
            tasks.create_task(self._health(client), name="controller-health")
            tasks.create_task(self.outlet.run(publish_retained), name="controller-alarms")
            tasks.create_task(self._save_watches(), name="controller-watches")
            tasks.create_task(self.ledger.run(), name="controller-ledger")
            self.ready.set()

    async def _farewell(self, client: Client) -> None:
        """Told to stop: the alarms not yet on the bus, then a retained "stopped" status."""

        async def publish_retained(topic: str, payload: bytes) -> None:
            await publish(client, topic, payload, retain=True)

        await self.outlet.flush(publish_retained)
        await self._say_status(client, online=False)

    async def _say_status(self, client: Client, *, online: bool) -> None:
        status = DeviceStatus(
            device=Target(kind=TargetKind.CONTROLLER, id=self.identity),
            online=online,
            at=self.clock.now() if online else None,
            reason=None if online else "stopped",
        )
        topic = self.topics.status(TargetKind.CONTROLLER, self.identity)
        await publish(client, topic, encode(status), retain=True)

    async def _receive(self, client: Client) -> None:
        ack_prefix = f"{self.topics.base}/{Channel.ACK.value}/"
        status_prefix = f"{self.topics.base}/{Channel.STATUS.value}/"
        schedule_prefix = f"{self.topics.base}/{Channel.SCHEDULE.value}/"
        async for message in client.messages:
            payload = message.payload
            topic = str(message.topic)
            try:
                if topic.startswith(ack_prefix):
                    self.dispatcher.on_ack(decode(CommandAck, payload))
                elif topic.startswith(status_prefix):
                    status = decode(DeviceStatus, payload)
                    at = status.at or self.clock.now()  # a last will carries no time
                    if status.device.kind is TargetKind.GATEWAY:
                        self.detector.feeds.status(status.device.id, status.online, at)
                    else:
                        self.detector.lamp_status(status.device.id, status.online, at)
                elif topic.startswith(schedule_prefix):
                    change = decode(ScheduleChange, payload)
                    logger.info("%s saved by %s: reading the store", change.what, change.by)
                    self._notified.set()
                else:
                    self._telemetry(decode(TelemetryBatch, payload))
            except PayloadError as exc:
                self.bad_messages += 1
                logger.warning("bad message on %s: %s", message.topic, exc)

    def _telemetry(self, batch: TelemetryBatch) -> None:
        dispatcher, detector = self.dispatcher, self.detector
        self.ledger.evidence(batch)
        arrived, source = self.clock.now(), batch.source
        times = [r.ts for r in batch.lamps] + [c.ts for c in batch.cabinets]
        detector.arrived(source, max(times, default=None), arrived, batch.behind_s)
        for reading in batch.lamps:
            take_lamp_report(reading, dispatcher, detector, arrived=arrived, source=source)
        for cabinet in batch.cabinets:
            detector.cabinet(cabinet)
            if cabinet.lux is not None:
                self.lux.reading(cabinet.cabinet, cabinet.lux, cabinet.ts)

    async def _ticks(self) -> None:
        while True:
            self.evaluate_and_dispatch()
            self.detector.tick(self.clock.now())
            self.ledger.tick(self.clock.now())
            self.kpi.look()  # lamps told to switch, and whose switch shows
            await first_of(self.clock.sleep(self.config.tick_s), self._changed)  # or sooner
            self._changed.clear()

    def evaluate_and_dispatch(self) -> None:
        if self.evaluator is None:
            return
        now = self.clock.now()
        started = time.perf_counter()
        expected = self.evaluator.evaluate(now, self.lux.dark)
        self.evaluations += 1
        self.last_evaluation_s = time.perf_counter() - started
        levels = {lamp: state.level for lamp, state in expected.items()}
        dispatcher = self.dispatcher
        if now - self._started < timedelta(seconds=self.config.grace_s):
            for lamp, level in levels.items():  # re-assert only where the field disagrees
                reading = dispatcher.reported.get(lamp)
                if (
                    lamp not in dispatcher.asserted
                    and reading is not None
                    and agrees(level, reading)
                ):
                    dispatcher.adopt(lamp, level)
            return
        changed = dispatcher.assert_levels(levels)
        if changed:
            logger.info("%d lamps change; %d in flight", changed, dispatcher.in_flight)
        dispatcher.check_deadlines()

    async def _reloads(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._notified.wait(), self.config.reload_s)
            self._notified.clear()  # a notice from now on means another read
            try:
                if await self.reload():
                    self._changed.set()
            except Exception:
                logger.exception("cannot read the schedule from the store; keeping the last one")

    async def _health(self, client: Client) -> None:
        topic = self.topics.health(TargetKind.CONTROLLER, self.identity)
        while True:
            await asyncio.sleep(self.config.health_s)
            stats = self.dispatcher.stats
            report = {
                "controller": self.identity,
                "at": self.clock.now().isoformat(),
                "lamps": len(self.inventory.lamps),
                "evaluations": self.evaluations,
                "last_evaluation_ms": round(1000 * self.last_evaluation_s, 1),
                "commands_sent": stats.commands_sent,
                "lamps_commanded": stats.lamps_commanded,
                "confirmed": stats.confirmed,
                "retried": stats.retried,
                "failed": stats.failed,
                "reasserted": stats.reasserted,
                "deferred": stats.deferred,
                "alarms_open": sum(1 for _ in self.book.open_alarms()),
                "in_flight": self.dispatcher.in_flight,
                "bad_messages": self.bad_messages,
                "superseded": stats.superseded,
                "alarm_changes_refused": self.outlet.refused,
                "alarm_changes_dropped": self.outlet.dropped,
                "ledger_actions_dropped": self.ledger.dropped_actions,
                "feeds_stale": sorted(
                    f.source for f in self.detector.feeds.feeds.values() if f.stale
                ),
            }
            await publish(client, topic, orjson.dumps(report), qos=0, retain=True)

    # --- alarms --------------------------------------------------------------------------------

    def _command_failed(self, lamp: str, level: int | None, why: str) -> None:
        told = "off" if level is None else f"{level} %"
        self.book.raise_now(
            AlarmType.COMMAND_FAILED, f"lamp:{lamp}", self.clock.now(), f"to {told}: {why}"
        )

    async def restore_alarms(self) -> None:
        """Take back the open alarms and the debounce state saved before a restart."""
        async with sessions(self.engine)() as session:
            alarms = await read_open_alarms(session)
            watches = await read_watches(session)
            next_id = await next_alarm_id(session)
        book = self.book
        book.number_from(next_id)
        by_id = {alarm.id: alarm for alarm in alarms}
        saved = {alarm_id: key for key, (_, alarm_id) in watches.items() if alarm_id}
        for alarm in alarms:
            key = saved.get(alarm.id)
            book.restore(alarm, watches[key][0] if key is not None else None)
        for key, (watch, alarm_id) in watches.items():
            if alarm_id is None or alarm_id not in by_id:
                book.restore_watch(key, watch)
        if alarms:
            logger.info("%d open alarms taken back from the store", len(alarms))
        await self.ledger.restore()

    async def save_watches(self) -> None:
        try:
            async with sessions(self.engine)() as session, session.begin():
                await save_watches(session, self.book.watches, self.clock.now())
        except Exception:
            logger.exception("cannot save detection's state to the store")

    async def _save_watches(self) -> None:
        while True:
            await asyncio.sleep(self.config.watch_save_s)
            await self.save_watches()
