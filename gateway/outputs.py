"""Where normalised telemetry goes: InfluxDB and the bus, each with a spool of its own.

- InfluxDB, in batches. While InfluxDB is away, or older data from its absence still waits in
  the spool, batches go to the Influx spool on disk, and a replayer writes them back in order
  when InfluxDB answers again. While it is merely slower than the ingest (every place for a
  pending batch is taken), the batch that finds no place goes to the spool, and the replayer
  writes it beside the direct writes.
- The bus: canonical telemetry (in `telemetry_batch` messages), device status and health,
  published QoS 1 through the gateway's MQTT client. While the broker is away, or more
  telemetry messages than `BUS_UNACKED` wait for its acknowledgement, or older messages wait,
  messages go to the MQTT spool and are published in order once it is back.

Neither output waits for the other: a reading goes to both at once, and each has its own spool.
The MQTT messages a batch of reports came from are acknowledged to the broker only once both
outputs hold every reading of the batch (a `Ticket`): its lines written to InfluxDB or in the
Influx spool, and its `telemetry_batch` acknowledged by the broker or in the MQTT spool. A crash
before that and the broker delivers the reports again (at least once: a point written twice is
the same point, InfluxDB keeps one; a reading seen twice on the bus is not newer than itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.config import BUS_BATCH_S
from gateway.spool import Spool
from streetlight.clock import Clock
from streetlight.contract import (
    GATEWAY_HEALTH,
    TELEMETRY_BATCH_MAX,
    CabinetTelemetry,
    DeviceStatus,
    GatewayHealth,
    Target,
    TargetKind,
    TelemetryLines,
    Topics,
    encode,
)
from streetlight.domain import Inventory
from streetlight.influx import (
    BatchWriter,
    FieldValue,
    InfluxClient,
    InfluxError,
    InfluxPartialWriteError,
    InfluxRequestError,
    WriterFullError,
    encode_line,
    series_key,
    to_ns,
)
from streetlight.mqtt_threaded import ThreadedClient
from streetlight.normalize import Reading

logger = logging.getLogger(__name__)

LOGGED_PER_KIND_LIMIT = 10_000  # sources we remember having logged, per kind of bad input
LOGGED_NAME_CHARS = 80  # of a source's name, in the log and in that memory
MQTT_FRAME_MESSAGES = 1000
BUS_UNACKED = 256  # telemetry messages waiting for the broker's acknowledgement, at most
REPLAY_RETRY_S = 2.0


@dataclass
class Health:
    """The gateway's counters; bad input is counted by kind and logged once per source."""

    gateway: str
    messages_in: int = 0
    reports_in: int = 0
    lines_written: int = 0
    canonical_out: int = 0
    commands: int = 0
    acks_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    _logged: dict[str, set[str]] = field(default_factory=dict)

    def bad_input(self, kind: str, device: str, reason: str) -> None:
        self.errors[kind] += 1
        seen = self._logged.setdefault(kind, set())
        source = device[:LOGGED_NAME_CHARS]
        if source not in seen and len(seen) < LOGGED_PER_KIND_LIMIT:
            seen.add(source)
            logger.warning(
                "bad input (%s) from %r: %s (logged once per source)",
                kind,
                source,
                reason[:300],
            )


class Ticket:
    """The vendor messages of one batch of readings, acknowledged to the broker once every part
    of the batch is held by both outputs (each part holds the ticket until it is safe)."""

    __slots__ = ("_done", "_holds", "receipts")

    def __init__(self, receipts: list[tuple[int, int]], done: Callable[[Ticket], None]) -> None:
        self.receipts = receipts  # (message id, the connection it came on)
        self._done = done
        self._holds = 1  # until the bus has taken every reading of the batch

    def hold(self) -> None:
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        if self._holds == 0:
            self._done(self)


@dataclass(slots=True)
class _Pending:
    topic: str
    payload: bytes
    retain: bool
    tickets: list[Ticket]


class Outputs:
    """InfluxDB and canonical MQTT outputs, with their spools. Use as an async context."""

    def __init__(
        self,
        *,
        inventory: Inventory,
        topics: Topics,
        influx: InfluxClient,
        bus: ThreadedClient,
        spool_dir: Path,
        spool_bytes: int,
        health: Health,
        clock: Clock,
        batch_size: int = 5000,
        flush_s: float = 0.5,
        bus_batch_s: float = BUS_BATCH_S,
        drain_timeout_s: float | None = None,
    ) -> None:
        self.inventory = inventory
        self.clock = clock
        self.bus_batch_s = bus_batch_s  # the longest a reading waits for its telemetry batch
        self.topics = topics
        self.influx = influx
        self.bus = bus
        self.health = health
        self.source = health.gateway
        self.lines = TelemetryLines(inventory)
        self.influx_spool = Spool(spool_dir / "influx", spool_bytes // 2)
        self.mqtt_spool = Spool(spool_dir / "mqtt", spool_bytes // 2)
        self._influx_down = bool(self.influx_spool)  # spooled data from before a restart
        self._influx_slow = False  # batches went to the spool because the writer was full
        self._spooled = asyncio.Event()  # the Influx spool has frames to write
        self._bus_backlog = asyncio.Event()  # messages wait for the MQTT spool
        self._pending_mqtt: list[_Pending] = []
        self._awaiting: dict[int, list[Ticket]] = {}  # message id -> tickets it carries
        self.writer = BatchWriter(
            influx,
            batch_size=batch_size,
            flush_interval=flush_s,
            on_failure=self._spool_batch,
            on_done=self._influx_done,
            hold=lambda: self._influx_down,
            when_full="fail",  # InfluxDB slow: spool, never hold up the ingest or the bus
        )
        self.writer.drain_timeout = drain_timeout_s
        self.influx_refused = 0  # points InfluxDB dropped from the spool's frames
        self._status_cache: dict[tuple[str, str], bool] = {}
        self._telemetry_topic = topics.telemetry(TargetKind.GATEWAY, self.source)
        self._bus_lamps: list[dict[str, Any]] = []
        self._bus_cabinets: list[dict[str, Any]] = []
        self._bus_tickets: list[tuple[int, Ticket]] = []  # (end in _bus_lamps, its ticket)
        # how far the gateway's polling is behind its schedule, told with each batch
        self.behind: Callable[[], float] = lambda: 0.0
        bus.on_published = self._published

    async def __aenter__(self) -> Outputs:
        await self.writer.__aenter__()
        if self.influx_spool:
            logger.warning(
                "%d telemetry points wait in the spool from before; writing them first",
                self.influx_spool.depth_records,
            )
            self._spooled.set()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._publish_telemetry()
        await self.writer.__aexit__(*exc_info)
        await self._flush_mqtt_pending()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._replay_influx(), name="influx-replay")
            tasks.create_task(self._mqtt_spooler(), name="mqtt-spool")
            tasks.create_task(self._telemetry_batcher(), name="telemetry-batches")

    # --- telemetry in ---------------------------------------------------------------------------

    async def lamps(
        self, readings: Sequence[Reading], receipts: Sequence[tuple[int, int]] = ()
    ) -> None:
        """Readings to InfluxDB and the bus; `receipts` (MQTT message ids, each with the number
        of the connection it came on) are acknowledged once both outputs hold all of them.
        Waits for no server: at most for a batch to be appended to a spool on disk."""
        if not readings:
            return
        ticket = Ticket(list(receipts), self._acknowledge) if receipts else None
        line = self.lines.lamp
        self._bus_lamps.extend(reading.document() for reading in readings)
        if ticket is not None:
            self._bus_tickets.append((len(self._bus_lamps), ticket))
            ticket.hold()  # InfluxDB's part
        await self.writer.write_many(
            [line(reading) for reading in readings], (ticket,) if ticket is not None else ()
        )
        if len(self._bus_lamps) >= TELEMETRY_BATCH_MAX:
            self._publish_telemetry()

    async def cabinet(self, telemetry: CabinetTelemetry) -> None:
        self._bus_cabinets.append(telemetry.model_dump(exclude_none=True, exclude={"v", "source"}))
        await self.writer.write_many(self.lines.cabinet(telemetry))
        if len(self._bus_cabinets) >= TELEMETRY_BATCH_MAX:
            self._publish_telemetry()

    def bad_input(self, kind: str, device: str, reason: str) -> None:
        self.health.bad_input(kind, device, reason)

    def device_status(
        self, kind: str, device: str, *, online: bool, reason: str | None = None
    ) -> None:
        """Publish a device's online state, retained, when it changes."""
        if self._status_cache.get((kind, device)) == online:
            return
        self._status_cache[(kind, device)] = online
        target_kind = TargetKind(kind)
        status = DeviceStatus(
            device=Target(kind=target_kind, id=device),
            online=online,
            at=self.clock.now(),  # when this gateway found out
            reason=reason[:500] if reason is not None else None,
        )
        self.publish(self.topics.status(target_kind, device), encode(status), retain=True)

    def _acknowledge(self, ticket: Ticket) -> None:
        """Both outputs hold the ticket's readings: the broker may forget their messages."""
        self.bus.ack_all(ticket.receipts)

    # --- InfluxDB -------------------------------------------------------------------------------

    @staticmethod
    def _influx_done(receipts: list[object]) -> None:
        for ticket in receipts:
            assert isinstance(ticket, Ticket)
            ticket.release()

    async def _spool_batch(self, batch: list[str], error: InfluxError) -> None:
        if isinstance(error, InfluxRequestError):
            # InfluxDB refused the points themselves: keeping them would block the spool
            self.health.errors["influx_refused"] += len(batch)
            logger.error("InfluxDB refused %d points: %s", len(batch), error)
            return
        if isinstance(error, WriterFullError):
            # slower than the ingest, not away: this batch waits in the spool, the next ones
            # are tried directly, and InfluxDB takes both as fast as it can
            if not self._influx_slow:
                logger.info("InfluxDB slower than the ingest: the excess waits in the spool")
                self._influx_slow = True
        elif not self._influx_down:
            logger.warning("InfluxDB away (%s): spooling telemetry to disk", error)
            self._influx_down = True
        await asyncio.to_thread(self.influx_spool.append, "\n".join(batch).encode(), len(batch))
        self._spooled.set()

    async def _replay_influx(self) -> None:
        spool = self.influx_spool
        while True:
            frame = await asyncio.to_thread(spool.peek)
            if frame is None:
                if self._influx_down:
                    logger.info("InfluxDB back and the spool written: writing directly again")
                self._influx_down = self._influx_slow = False
                self._spooled.clear()
                await self._spooled.wait()
                continue
            try:
                await self.influx.write_body(frame.payload, retry=False)
            except InfluxPartialWriteError as exc:
                dropped = min(exc.dropped, frame.records)
                self.health.lines_written += frame.records - dropped
                self.influx_refused += dropped
                logger.error(  # noqa: TRY400 - the reason is the message
                    "InfluxDB dropped %d of %d spooled points: %s", dropped, frame.records, exc
                )
            except InfluxRequestError as exc:
                self.influx_refused += frame.records
                logger.error("InfluxDB refused %d spooled points; dropped: %s", frame.records, exc)  # noqa: TRY400 - the reason is the message
            except InfluxError:
                await asyncio.sleep(REPLAY_RETRY_S)
                continue
            else:
                self.health.lines_written += frame.records
            await asyncio.to_thread(spool.pop, frame)

    # --- the bus --------------------------------------------------------------------------------

    def _publish_telemetry(self) -> None:
        """What the readings since the last batch were, as `telemetry_batch` messages of at most
        `TELEMETRY_BATCH_MAX` lamps; each message holds the tickets of the readings it carries."""
        while self._bus_lamps or self._bus_cabinets:
            count = min(len(self._bus_lamps), TELEMETRY_BATCH_MAX)
            lamps = self._bus_lamps[:count]
            cabinets = self._bus_cabinets[:TELEMETRY_BATCH_MAX]
            del self._bus_lamps[:count], self._bus_cabinets[:TELEMETRY_BATCH_MAX]
            carried: list[Ticket] = []
            finished: list[Ticket] = []
            later: list[tuple[int, Ticket]] = []
            start = 0
            for end, ticket in self._bus_tickets:
                if start < count:
                    carried.append(ticket)
                if end <= count:
                    finished.append(ticket)
                else:
                    later.append((end - count, ticket))
                start = end
            self._bus_tickets = later
            document: dict[str, Any] = {"v": 1, "source": self.source}
            if (behind := self.behind()) >= 1.0:
                document["behind_s"] = round(behind, 1)
            document["lamps"], document["cabinets"] = lamps, cabinets
            payload = orjson.dumps(document, option=orjson.OPT_UTC_Z)
            self.publish(self._telemetry_topic, payload, tickets=carried)
            for ticket in finished:
                ticket.release()  # the bus has all of its readings: their messages hold it

    async def _telemetry_batcher(self) -> None:
        while True:
            await asyncio.sleep(self.bus_batch_s)
            self._publish_telemetry()

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, tickets: Sequence[Ticket] = ()
    ) -> None:
        """Publish QoS 1 now, or keep it for the spool if the broker (or older news) waits; the
        tickets are held until the broker has it or the spool does."""
        for ticket in tickets:
            ticket.hold()
        if (
            not self._pending_mqtt
            and not self.mqtt_spool
            and len(self._awaiting) < BUS_UNACKED
            and (info := self.bus.publish(topic, payload, retain=retain)) is not None
        ):
            self.health.canonical_out += 1
            if tickets:
                self._awaiting.setdefault(info.mid, []).extend(tickets)
            return
        self._pending_mqtt.append(_Pending(topic, payload, retain, list(tickets)))
        if len(self._pending_mqtt) >= MQTT_FRAME_MESSAGES:
            self._bus_backlog.set()

    def _published(self, mid: int) -> None:
        """The broker acknowledged message `mid` (called on the loop by the MQTT client)."""
        for ticket in self._awaiting.pop(mid, ()):
            ticket.release()

    async def _flush_mqtt_pending(self) -> None:
        pending, self._pending_mqtt = self._pending_mqtt, []
        if pending:
            frame = orjson.dumps([[m.topic, m.payload.decode(), m.retain] for m in pending])
            await asyncio.to_thread(self.mqtt_spool.append, frame, len(pending))
            for message in pending:
                for ticket in message.tickets:
                    ticket.release()

    async def _mqtt_spooler(self) -> None:
        """Move held messages to disk; publish them in order once the broker is back."""
        spool = self.mqtt_spool
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._bus_backlog.wait()
            self._bus_backlog.clear()
            await self._flush_mqtt_pending()
            while self.bus.connected and (frame := await asyncio.to_thread(spool.peek)) is not None:
                messages: list[Any] = orjson.loads(frame.payload)
                infos = [self.bus.publish(t, p.encode(), retain=r) for t, p, r in messages]
                if any(info is None for info in infos):
                    break  # the broker went away again: keep the frame
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(30):
                        # paho tracks acknowledgements on its own thread: poll its flags
                        while not all(i is not None and i.is_published() for i in infos):  # noqa: ASYNC110
                            await asyncio.sleep(0.05)
                await asyncio.to_thread(spool.pop, frame)
                self.health.canonical_out += frame.records

    # --- health ---------------------------------------------------------------------------------

    def health_report(self, at: datetime) -> GatewayHealth:
        health = self.health
        stats = self.writer.stats
        errors = Counter(health.errors)
        refused = stats.lines_refused + self.influx_refused
        if refused:
            errors["influx_refused"] += refused
        return GatewayHealth(
            gateway=health.gateway,
            at=at,
            messages_in=health.messages_in,
            reports_in=health.reports_in,
            lines_written=stats.lines_written + health.lines_written,
            canonical_out=health.canonical_out,
            commands=health.commands,
            acks_out=health.acks_out,
            influx_spool_points=self.influx_spool.depth_records,
            mqtt_spool_messages=self.mqtt_spool.depth_records + len(self._pending_mqtt),
            spool_dropped=self.influx_spool.dropped_records + self.mqtt_spool.dropped_records,
            devices_online=sum(self._status_cache.values()),
            devices_offline=sum(1 for up in self._status_cache.values() if not up),
            errors=dict(errors),
        )

    def health_line(self, report: GatewayHealth) -> str:
        """The report as a `gateway_health` point (docs/contract.md)."""
        fields: dict[str, FieldValue] = {
            spec.name: getattr(report, spec.name) for spec in GATEWAY_HEALTH.fields
        }
        for kind, count in report.errors.items():
            fields[f"errors_{kind}"] = count
        return encode_line(
            series_key(GATEWAY_HEALTH.name, {"gateway": report.gateway}),
            fields,
            to_ns(report.at),
        )
