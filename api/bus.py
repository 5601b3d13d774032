"""The API on the bus: it listens to telemetry, device status, alarms and schedule notices
(for the live state and the event stream), and it announces what operators saved.

The session reconnects by itself (streetlight.mqtt.run_connected); while the broker is away the
live state stands still and saving still works: an announcement that cannot be sent is
reported, and the controller finds the change at its next read of the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiomqtt import Client, MqttError

from api.events import Hub
from api.lighting import Lighting
from api.live import LiveState
from streetlight.backoff import LinkState
from streetlight.clock import Clock
from streetlight.contract import (
    AlarmEvent,
    Channel,
    DeviceStatus,
    PayloadError,
    ScheduleChange,
    Target,
    TargetKind,
    TelemetryBatch,
    TopicError,
    Topics,
    decode,
    encode,
)
from streetlight.mqtt import make_client, offline_will, publish, run_connected
from streetlight.settings import CommonSettings

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 3.0


class Bus:
    def __init__(
        self,
        settings: CommonSettings,
        identity: str,
        *,
        live: LiveState,
        lighting: Lighting,
        hub: Hub,
        clock: Clock,
        site_of: Callable[[str], str | None],
        alarm_changed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.topics = Topics(settings.mqtt_root)
        self.live, self.lighting, self.hub, self.clock = live, lighting, hub, clock
        self.site_of = site_of  # "kind:id" -> its site
        self.alarm_changed = alarm_changed  # an alarm's event came: the store has news of it
        self._client: Client | None = None
        self.ready = asyncio.Event()
        self.bad_messages = 0

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        will = offline_will(self.topics, TargetKind.API, self.identity)

        def connect() -> Client:
            return make_client(
                settings.mqtt,
                identifier=f"{settings.mqtt_root}-api-{self.identity}",
                ca_file=settings.mqtt_ca_file,
                will=will,
            )

        link = LinkState(logger, f"MQTT broker at {settings.mqtt} (as the API)")
        await run_connected(connect, self._session, stop=stop, link=link, farewell=self._farewell)

    async def _session(self, client: Client) -> None:
        base = self.topics
        for channel in (Channel.TELEMETRY, Channel.STATUS, Channel.ALARM, Channel.SCHEDULE):
            await client.subscribe(base.subscription(channel), qos=1)
        self._client = client
        try:
            await self._say(client, online=True)
            self.ready.set()
            async for message in client.messages:
                self._take(str(message.topic), bytes(message.payload))
        finally:
            self._client = None

    async def _farewell(self, client: Client) -> None:
        await self._say(client, online=False)

    async def _say(self, client: Client, *, online: bool) -> None:
        status = DeviceStatus(
            device=Target(kind=TargetKind.API, id=self.identity),
            online=online,
            at=self.clock.now() if online else None,
            reason=None if online else "stopped",
        )
        await publish(client, self.topics.status(TargetKind.API, self.identity), encode(status),
                      retain=True)  # fmt: skip

    def _take(self, topic: str, payload: bytes) -> None:
        now = self.clock.now().timestamp()
        try:
            address = self.topics.parse(topic)
            if address.channel is Channel.TELEMETRY:
                batch = decode(TelemetryBatch, payload)
                self.live.telemetry(batch, now)
                for cabinet in batch.cabinets:
                    self.lighting.cabinet(cabinet)
            elif address.channel is Channel.STATUS:
                self.live.status(decode(DeviceStatus, payload), now)
            elif address.channel is Channel.ALARM:
                asset = f"{address.kind.value}:{address.id}"
                event = decode(AlarmEvent, payload) if payload else None
                self.live.alarm(asset, address.subtype or "", event, now)
                self.alarm_changed()
                if event is not None:
                    self.hub.alarm(event, self.site_of(asset))
            elif address.channel is Channel.SCHEDULE:
                decode(ScheduleChange, payload)
                self.lighting.notice()
        except (PayloadError, TopicError) as exc:
            self.bad_messages += 1
            if self.bad_messages <= 10 or self.bad_messages % 1000 == 0:
                logger.warning("bad message on %s (%d so far): %s", topic, self.bad_messages, exc)

    # --- for the routes --------------------------------------------------------------------

    async def ping(self) -> None:
        """The broker's round trip for a QoS 1 publish of the API's status."""
        client = self._client
        if client is None:
            raise ConnectionError(f"not connected to the MQTT broker at {self.settings.mqtt}")
        await self._say(client, online=True)

    async def send(self, topic: str, payload: bytes, *, retain: bool = False) -> str | None:
        """Publish; None once the broker has it, else what went wrong (for the caller to tell
        its user: what was saved stays saved)."""
        client = self._client
        if client is None:
            return f"the MQTT broker at {self.settings.mqtt} is not connected"
        started = time.monotonic()
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await publish(client, topic, payload, retain=retain)
        except TimeoutError:
            return f"the MQTT broker did not take it in {PUBLISH_TIMEOUT_S:g} s"
        except MqttError as exc:
            return f"the MQTT broker at {self.settings.mqtt}: {exc}"
        logger.debug("published %s in %.1f ms", topic, 1000 * (time.monotonic() - started))
        return None

    async def announce(self, change: ScheduleChange) -> str | None:
        return await self.send(self.topics.schedule(TargetKind.API, self.identity), encode(change))

    async def alarm_step(
        self, event: AlarmEvent | None, asset: Target, alarm_type: str
    ) -> str | None:
        """An operator's step on an alarm, on its retained topic (None: closed, removed)."""
        topic = self.topics.alarm(asset.kind, asset.id, alarm_type)
        return await self.send(topic, b"" if event is None else encode(event), retain=True)
