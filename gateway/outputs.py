"""Where normalised telemetry goes: InfluxDB and the bus, each with a spool behind it.

- InfluxDB, in batches. While InfluxDB is away, or older data still waits in the spool,
  batches go to the Influx spool on disk, and a replayer writes them back in order when
  InfluxDB answers again.
- The bus: canonical telemetry (in `telemetry_batch` messages), device status and health,
  published QoS 1 through the gateway's MQTT client. While the broker is away (or older
  messages wait), messages go to the MQTT spool and are published in order once it is back.

The MQTT message a report came from is acknowledged only once its line is written to InfluxDB
or spooled to disk, so neither a crash nor a full queue loses it (at-least-once; a point
written twice is the same point, InfluxDB keeps one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.config import BUS_BATCH_S
from gateway.normalize import Reading
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
    InfluxRequestError,
    encode_line,
    series_key,
    to_ns,
)
from streetlight.mqtt_threaded import ThreadedClient

logger = logging.getLogger(__name__)

LOGGED_PER_KIND_LIMIT = 10_000  # devices we remember having logged, per kind of bad input
MQTT_FRAME_MESSAGES = 1000
REPLAY_RETRY_S = 2.0


@dataclass
class Health:
    """The gateway's counters; bad input is counted by kind and logged once per device."""

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
        if device not in seen and len(seen) < LOGGED_PER_KIND_LIMIT:
            seen.add(device)
            logger.warning(
                "bad input (%s) from %s: %s (logged once per device)", kind, device, reason
            )


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
        self._spooled = asyncio.Event()
        self._pending_mqtt: list[tuple[str, bytes, bool]] = []
        self.writer = BatchWriter(
            influx,
            batch_size=batch_size,
            flush_interval=flush_s,
            on_failure=self._spool_batch,
            on_done=self._acknowledge,
            hold=lambda: self._influx_down,
        )
        self._status_cache: dict[tuple[str, str], bool] = {}
        self._telemetry_topic = topics.telemetry(TargetKind.GATEWAY, self.source)
        self._bus_lamps: list[dict[str, Any]] = []
        self._bus_cabinets: list[dict[str, Any]] = []

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

    async def lamps(self, readings: Sequence[Reading], receipts: Sequence[int] = ()) -> None:
        """Readings to InfluxDB and the bus; `receipts` (MQTT message ids) are acknowledged
        once all of them are written or spooled."""
        line = self.lines.lamp
        await self.writer.write_many([line(reading) for reading in readings], receipts)
        self._bus_lamps.extend(reading.document() for reading in readings)
        if len(self._bus_lamps) >= TELEMETRY_BATCH_MAX:
            self._publish_telemetry()

    async def cabinet(self, telemetry: CabinetTelemetry) -> None:
        await self.writer.write_many(self.lines.cabinet(telemetry))
        self._bus_cabinets.append(telemetry.model_dump(exclude_none=True, exclude={"v", "source"}))
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
            reason=reason,
        )
        self.publish(self.topics.status(target_kind, device), encode(status), retain=True)

    # --- InfluxDB -------------------------------------------------------------------------------

    def _acknowledge(self, receipts: list[object]) -> None:
        for mid in receipts:
            self.bus.ack(int(mid))  # type: ignore[call-overload]

    async def _spool_batch(self, batch: list[str], error: InfluxError) -> None:
        if isinstance(error, InfluxRequestError):
            # InfluxDB refused the points themselves: keeping them would block the spool
            self.health.errors["influx_refused"] += len(batch)
            logger.error("InfluxDB refused %d points: %s", len(batch), error)
            return
        if not self._influx_down:
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
                self._influx_down = False
                self._spooled.clear()
                await self._spooled.wait()
                continue
            try:
                await self.influx.write_body(frame.payload, retry=False)
            except InfluxRequestError as exc:
                self.health.errors["influx_refused"] += frame.records
                logger.error("InfluxDB refused %d spooled points; dropped: %s", frame.records, exc)  # noqa: TRY400 - the reason is the message
            except InfluxError:
                await asyncio.sleep(REPLAY_RETRY_S)
                continue
            else:
                self.health.lines_written += frame.records
            await asyncio.to_thread(spool.pop, frame)

    # --- the bus --------------------------------------------------------------------------------

    def _publish_telemetry(self) -> None:
        """What the readings since the last batch were, as one `telemetry_batch` message."""
        while self._bus_lamps or self._bus_cabinets:
            lamps = self._bus_lamps[:TELEMETRY_BATCH_MAX]
            cabinets = self._bus_cabinets[:TELEMETRY_BATCH_MAX]
            del self._bus_lamps[:TELEMETRY_BATCH_MAX], self._bus_cabinets[:TELEMETRY_BATCH_MAX]
            document = {"v": 1, "source": self.source, "lamps": lamps, "cabinets": cabinets}
            self.publish(self._telemetry_topic, orjson.dumps(document, option=orjson.OPT_UTC_Z))

    async def _telemetry_batcher(self) -> None:
        while True:
            await asyncio.sleep(self.bus_batch_s)
            self._publish_telemetry()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish QoS 1 now, or keep it for later if the broker (or older news) waits."""
        if (
            not self._pending_mqtt
            and not self.mqtt_spool
            and self.bus.publish(topic, payload, retain=retain)
        ):
            self.health.canonical_out += 1
            return
        self._pending_mqtt.append((topic, payload, retain))
        if len(self._pending_mqtt) >= MQTT_FRAME_MESSAGES:
            self._spooled.set()

    async def _flush_mqtt_pending(self) -> None:
        pending, self._pending_mqtt = self._pending_mqtt, []
        if pending:
            frame = orjson.dumps([[t, p.decode(), r] for t, p, r in pending])
            await asyncio.to_thread(self.mqtt_spool.append, frame, len(pending))

    async def _mqtt_spooler(self) -> None:
        """Move held messages to disk; publish them in order once the broker is back."""
        spool = self.mqtt_spool
        while True:
            await asyncio.sleep(0.5)
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
        return GatewayHealth(
            gateway=health.gateway,
            at=at,
            messages_in=health.messages_in,
            reports_in=health.reports_in,
            lines_written=self.writer.stats.lines_written + health.lines_written,
            canonical_out=health.canonical_out,
            commands=health.commands,
            acks_out=health.acks_out,
            influx_spool_points=self.influx_spool.depth_records,
            mqtt_spool_messages=self.mqtt_spool.depth_records + len(self._pending_mqtt),
            spool_dropped=self.influx_spool.dropped_records + self.mqtt_spool.dropped_records,
            devices_online=sum(self._status_cache.values()),
            devices_offline=sum(1 for up in self._status_cache.values() if not up),
            errors=dict(health.errors),
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
