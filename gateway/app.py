"""The gateway as one asyncio program: field devices in, InfluxDB and the bus out.

Its MQTT client (a network thread, for throughput) subscribes with a persistent session to the
vendor topics of its MQTT profiles and to the bus's commands; its Modbus pollers read the
cabinets of the endpoint map. Everything becomes canonical telemetry for `Outputs`, bad input
is counted by kind, and health goes out every `health_interval_s`.

Every handler of a device message is total: whatever the topic and the bytes, the message is
counted (by kind, when it is bad), acknowledged once what it carried is safe, and the loop goes
on; a failure of a handler itself is counted as `internal_error` and logged with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.commands import CommandRouter, ModbusPlace
from gateway.config import GatewayConfig, GatewayConfigError
from gateway.modbus_link import Coordinator
from gateway.modbus_poller import Poller, cabinet_unit
from gateway.outputs import Health, Outputs
from streetlight.clock import Clock
from streetlight.contract import Channel, DeviceStatus, Target, TargetKind, Topics, encode
from streetlight.contract.influx_schema import ensure_database
from streetlight.domain import Inventory
from streetlight.influx import InfluxClient, InfluxError, RetryPolicy
from streetlight.mqtt_threaded import Received, ThreadedClient, Will
from streetlight.normalize import MqttDecoder, Reading, Rejected, TimeWindow, device_names
from streetlight.profiles import ModbusCabinetProfile, ModbusLampProfile, MqttLampProfile, Profile
from streetlight.settings import CommonSettings

logger = logging.getLogger(__name__)

CONNECT_WAIT_S = 10.0
INTERNAL_ERROR = "internal_error"  # a handler failed on a message: counted, never fatal
LINK_NAME_CHARS = 64  # of a link's id, where it is quoted in a device's status


def _topic_pattern(template: str, root: str) -> re.Pattern[str]:
    pattern = re.escape(template.replace("{root}", root))
    pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", pattern)
    return re.compile(f"^{pattern}$")


def _subscription(template: str, root: str) -> str:
    return re.sub(r"\{(\w+)\}", "+", template.replace("{root}", root))


@dataclass(frozen=True)
class _Route:
    kind: str  # report, ack, link
    pattern: re.Pattern[str]
    profile: MqttLampProfile
    decoder: MqttDecoder


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        config_dir: Path,
        settings: CommonSettings,
        inventory: Inventory,
        profiles: dict[str, Profile],
        clock: Clock,
    ) -> None:
        self.config = config
        self.settings = settings
        self.inventory = inventory
        self.clock = clock
        self.topics = Topics(settings.mqtt_root)
        self.health = Health(config.id)
        sites = set(inventory.sites) if config.sites == "all" else set(config.sites)
        unknown = sites - set(inventory.sites)
        if unknown:
            raise GatewayConfigError(f"sites: unknown {sorted(unknown)}")
        self.served_lamps = {
            lamp for lamp in inventory.lamps if inventory.place(lamp).site_id in sites
        }
        self._routes, self._mqtt_lamps = self._mqtt_routes(profiles)
        self._endpoints = [
            e
            for e in config.all_endpoints(config_dir)
            if e.cabinet in inventory.cabinets and inventory.cabinets[e.cabinet].site_id in sites
        ]
        self._profiles = profiles
        self.outputs: Outputs | None = None  # while running
        self.ready = asyncio.Event()  # polling and ingesting
        self._internal_logged = False

    def _mqtt_routes(
        self, profiles: dict[str, Profile]
    ) -> tuple[list[_Route], dict[str, MqttLampProfile]]:
        routes: list[_Route] = []
        lamps: dict[str, MqttLampProfile] = {}
        root = self.settings.field_root
        readings = self.config.readings
        window = TimeWindow(ahead_s=readings.max_ahead_s, behind_s=readings.max_age_s)
        for profile_id in self.config.mqtt.profiles:
            profile = profiles.get(profile_id)
            if not isinstance(profile, MqttLampProfile):
                raise GatewayConfigError(f"mqtt.profiles: {profile_id!r} is not an MQTT profile")
            known = {
                lamp: None
                for lamp in self.served_lamps
                if self.inventory.lamps[lamp].profile == profile_id
            }
            lamps.update(dict.fromkeys(known, profile))
            of_profile = frozenset(
                lamp.id for lamp in self.inventory.lamps.values() if lamp.profile == profile_id
            )
            decoder = MqttDecoder(
                profile,
                device_names(profile, self.inventory),
                now=self.clock.now,
                lamps=of_profile,
                window=window,
            )
            for kind, template in (
                ("report", profile.topics.report),
                ("ack", profile.topics.ack),
                ("link", profile.topics.link_status),
            ):
                routes.append(_Route(kind, _topic_pattern(template, root), profile, decoder))
        return routes, lamps

    def subscriptions(self) -> list[tuple[str, int]]:
        root = self.settings.field_root
        topics: list[tuple[str, int]] = []
        for profile_id in self.config.mqtt.profiles:
            profile = self._profiles[profile_id]
            assert isinstance(profile, MqttLampProfile)
            templates = (profile.topics.report, profile.topics.ack, profile.topics.link_status)
            topics.extend((_subscription(template, root), 1) for template in templates)
        topics.append((self.topics.subscription(Channel.COMMAND), 1))
        return topics

    async def run(self, stop: asyncio.Event) -> None:
        settings, config = self.settings, self.config
        will = Will(
            self.topics.status(TargetKind.GATEWAY, config.id),
            encode(
                DeviceStatus(
                    device=Target(kind=TargetKind.GATEWAY, id=config.id),
                    online=False,
                    reason="connection lost",
                )
            ),
        )
        bus = ThreadedClient(
            settings.mqtt,
            identifier=f"gateway-{config.id}",
            subscriptions=self.subscriptions(),
            ca_file=settings.mqtt_ca_file,
            clean_session=False,  # the broker keeps our reports while we are away
            manual_ack=True,  # acknowledged once their data is written or spooled
            will=will,
        )
        retry = RetryPolicy(attempts=2, initial_delay=0.2, max_delay=1.0)
        async with InfluxClient.from_settings(settings, retry=retry) as influx:
            try:
                await ensure_database(
                    influx, settings.influx_retention, settings.influx_kpi_retention
                )
            except InfluxError as exc:
                logger.warning("cannot prepare InfluxDB's database yet: %s", exc)
            outputs = Outputs(
                inventory=self.inventory,
                topics=self.topics,
                influx=influx,
                bus=bus,
                spool_dir=config.spool.dir,
                spool_bytes=int(config.spool.max_mb * 1024 * 1024),
                health=self.health,
                clock=self.clock,
                batch_size=config.influx_batch_size,
                flush_s=config.influx_flush_s,
                bus_batch_s=config.bus_batch_s,
                # of the shutdown timeout, what InfluxDB may take; the rest is the bus's
                drain_timeout_s=config.shutdown_timeout_s / 2,
            )
            self.outputs = outputs
            bus.start()
            try:
                async with outputs:
                    if not await bus.wait_connected(CONNECT_WAIT_S):
                        logger.warning(
                            "no broker yet at %s; polling Modbus meanwhile", settings.mqtt
                        )
                    await self._serve(bus, outputs, stop)
            finally:
                gone = DeviceStatus(
                    device=Target(kind=TargetKind.GATEWAY, id=config.id),
                    online=False,
                    reason="stopped",
                )
                bus.publish(will.topic, encode(gone), retain=True)
                try:
                    async with asyncio.timeout(config.shutdown_timeout_s / 4):
                        await bus.stop()
                except TimeoutError:
                    logger.warning("the MQTT client did not stop in time; leaving it")

    async def _serve(self, bus: ThreadedClient, outputs: Outputs, stop: asyncio.Event) -> None:
        config = self.config
        pollers, places = self._modbus(outputs)
        outputs.behind = lambda: max((poller.behind_s() for poller in pollers), default=0.0)
        router = self.router(outputs, places)
        online = DeviceStatus(
            device=Target(kind=TargetKind.GATEWAY, id=config.id), online=True, at=self.clock.now()
        )
        outputs.publish(
            self.topics.status(TargetKind.GATEWAY, config.id), encode(online), retain=True
        )
        logger.info(
            "gateway %s: %d lamps served, %d Modbus cabinets on %d endpoints, MQTT profiles %s",
            config.id,
            len(self.served_lamps),
            len(self._endpoints),
            len(pollers),
            config.mqtt.profiles,
        )
        async with asyncio.TaskGroup() as tasks:
            self.ready.set()
            work = [
                tasks.create_task(outputs.run(), name="outputs"),
                tasks.create_task(router.run(), name="commands"),
                tasks.create_task(self._ingest(bus, outputs, router), name="ingest"),
                tasks.create_task(self._health(outputs), name="health"),
                *(
                    tasks.create_task(
                        p.run(), name=f"modbus-{p.coordinator.host}:{p.coordinator.port}"
                    )
                    for p in pollers
                ),
            ]
            await stop.wait()
            for task in work:
                task.cancel()
        for poller in pollers:
            poller.coordinator.close()

    def router(self, outputs: Outputs, places: dict[str, ModbusPlace]) -> CommandRouter:
        """The command path, for the Modbus cabinets at `places` and the MQTT lamps."""
        commands = self.config.commands
        return CommandRouter(
            inventory=self.inventory,
            served_lamps=self.served_lamps,
            mqtt_lamps=self._mqtt_lamps,
            field_root=self.settings.field_root,
            modbus=places,
            outputs=outputs,
            topics=self.topics,
            clock=self.clock,
            timeout_s=commands.timeout_s,
            attempts=commands.attempts,
            in_flight=commands.in_flight,
            queued=commands.queued,
        )

    def _modbus(self, outputs: Outputs) -> tuple[list[Poller], dict[str, ModbusPlace]]:
        by_endpoint: dict[tuple[str, int], list[Any]] = {}
        places: dict[str, ModbusPlace] = {}
        coordinators: dict[tuple[str, int], Coordinator] = {}
        for endpoint in self._endpoints:
            profile = self._profiles.get(endpoint.profile)
            found = self._profiles.get(endpoint.lamp_profile) if endpoint.lamp_profile else None
            lamp_profile = found if isinstance(found, ModbusLampProfile) else None
            if not isinstance(profile, ModbusCabinetProfile):
                raise GatewayConfigError(
                    f"cabinet {endpoint.cabinet}: {endpoint.profile!r} is not a cabinet profile"
                )
            if endpoint.lamp_profile and lamp_profile is None:
                raise GatewayConfigError(
                    f"cabinet {endpoint.cabinet}: {endpoint.lamp_profile!r} "
                    f"is not a Modbus lamp profile"
                )
            key = (endpoint.host, endpoint.port)
            if key not in coordinators:
                coordinators[key] = Coordinator(
                    endpoint.host,
                    endpoint.port,
                    timeout=self.config.modbus.timeout_s,
                    pause_s=profile.pause_ms / 1000,
                )
            circuits = len(self.inventory.cabinets[endpoint.cabinet].circuit_ids)
            by_endpoint.setdefault(key, []).append(
                cabinet_unit(endpoint, profile, lamp_profile, circuits)
            )
            places[endpoint.cabinet] = ModbusPlace(
                coordinators[key], endpoint.unit, profile, lamp_profile, dict(endpoint.lamps)
            )
        modbus = self.config.modbus
        pollers = [
            Poller(
                coordinators[key],
                units,
                self.inventory,
                self.clock,
                cabinet_interval=modbus.cabinet_interval_s,
                lamp_interval=modbus.lamp_interval_s,
                offline_after=modbus.offline_after,
                source=self.config.id,
                sink=outputs,
            )
            for key, units in by_endpoint.items()
        ]
        return pollers, places

    async def _ingest(self, bus: ThreadedClient, outputs: Outputs, router: CommandRouter) -> None:
        """Take the received messages a batch at a time: the hot path of the gateway."""
        command_prefix = self.command_prefix
        while True:
            batch = await bus.received()
            self.health.messages_in += len(batch)
            readings: list[Reading] = []
            receipts: list[tuple[int, int]] = []  # (message id, connection) of the readings
            done: list[tuple[int, int]] = []  # of the messages with nothing to keep
            for message in batch:
                reading = self.handle(outputs, router, message, command_prefix)
                if message.qos:
                    (done if reading is None else receipts).append((message.mid, message.session))
                if reading is not None:
                    readings.append(reading)
            bus.ack_all(done)  # handled: acknowledged together, in one write
            if readings:
                await outputs.lamps(readings, receipts)

    @property
    def command_prefix(self) -> str:
        return self.topics.base + "/" + Channel.COMMAND.value + "/"

    def handle(
        self, outputs: Outputs, router: CommandRouter, message: Received, command_prefix: str
    ) -> Reading | None:
        """One received message, whatever its topic and bytes: a report's reading to keep, or
        None (a command queued, an ack or link status taken, bad input counted). Never raises."""
        try:
            if message.topic.startswith(command_prefix):
                router.submit(message.payload)  # never waits: acks must keep flowing
                return None
            return self._device_message(outputs, router, message)
        except Exception as exc:  # noqa: BLE001 - one message, never the loop
            self._internal_error(outputs, message, exc)
            return None

    def _internal_error(self, outputs: Outputs, message: Received, exc: Exception) -> None:
        where = message.topic[:120]
        outputs.bad_input(INTERNAL_ERROR, where, f"{type(exc).__name__}: {exc}")
        if not self._internal_logged:
            self._internal_logged = True
            logger.error("a message on %s failed its handler (logged once)", where, exc_info=exc)

    def _device_message(
        self, outputs: Outputs, router: CommandRouter, message: Received
    ) -> Reading | None:
        """A report's reading to keep; acks and link states are handled here and give None."""
        for route in self._routes:
            match = route.pattern.match(message.topic)
            if match is None:
                continue
            device = match.groupdict().get("device")
            if route.kind == "report":
                return self._report(outputs, route, message.payload, device)
            if route.kind == "ack":
                lamp = self._lamp_of(outputs, route, device)
                if lamp is not None:
                    router.vendor_ack(route.profile, lamp, message.payload)
            else:
                self._link_status(outputs, route, match.group("link"), message.payload)
            return None
        return None

    @staticmethod
    def _lamp_of(outputs: Outputs, route: _Route, device: str | None) -> str | None:
        """The lamp a device name of a topic stands for; None (counted) if none."""
        try:
            return route.decoder.lamp(route.decoder.device(device, "the topic"))
        except Rejected as exc:
            outputs.bad_input(exc.kind, exc.device or str(device), str(exc))
            return None

    def _report(
        self, outputs: Outputs, route: _Route, payload: bytes, device: str | None
    ) -> Reading | None:
        self.health.reports_in += 1
        try:
            reading = route.decoder.decode(payload, device)
        except Rejected as exc:
            outputs.bad_input(exc.kind, exc.device or device or "a report", str(exc))
            return None
        if reading.lamp not in self.served_lamps:
            return None  # another gateway's lamp
        outputs.device_status("lamp", reading.lamp, online=True)
        return reading

    def _link_status(self, outputs: Outputs, route: _Route, link: str, payload: bytes) -> None:
        try:
            status = orjson.loads(payload) if payload else {}
        except orjson.JSONDecodeError:
            outputs.bad_input("malformed", f"link {link}", "a link status that is not JSON")
            return
        devices = status.get("devices") if isinstance(status, dict) else None
        if not isinstance(devices, list) or not isinstance(status.get("online"), bool):
            outputs.bad_input(
                "unmapped", f"link {link}", "a link status without online and devices"
            )
            return
        for device in devices:
            try:
                lamp = route.decoder.lamp(route.decoder.device(device, "the link status"))
            except Rejected:
                continue  # a device this gateway does not know: another's, or not yet in
            if lamp in self.served_lamps:
                reason = f"link {link[:LINK_NAME_CHARS]}"  # a status's reason is 500 at most
                outputs.device_status("lamp", lamp, online=status["online"], reason=reason)

    async def _health(self, outputs: Outputs) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            report = outputs.health_report(self.clock.now())
            outputs.publish(
                self.topics.health(TargetKind.GATEWAY, self.config.id), encode(report), retain=True
            )
            await outputs.writer.write(outputs.health_line(report))
            logger.info(
                "health: %d in, %d written, %d points spooled, errors %s",
                report.messages_in,
                report.lines_written,
                report.influx_spool_points,
                report.errors or "none",
            )
