"""MQTT lamp nodes: vendor JSON reports on a schedule, commands answered with acknowledgements.

Nodes reach the broker over links: one MQTT connection carries `lamps_per_link` nodes (1 is a
4G node with its own connection; more is an NB-IoT platform forwarding for many). A link's
last will publishes, retained, that its nodes are offline; it comes up with an "online"
status. A node without supply or with a communication fault is silent; when every node of a
link is silent the link says so and drops, and comes back when one is powered again. Nodes
keep their last commanded state across all of this.

The vendor format is the profile's (profiles/slc-mqtt-a.yaml), encoded here with the same
mapping the gateway decodes with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiomqtt

from simulator import noise
from simulator.devices import LampState
from simulator.timeline import Periodic, Timeline
from simulator.world import World
from streetlight.backoff import LinkState
from streetlight.mqtt import make_client, publish, run_connected
from streetlight.profiles import MqttLampProfile
from streetlight.settings import MqttUrl

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 10_000  # reports a link keeps while its broker is away; older ones are dropped
CONNECT_TIMEOUT_S = 10.0
# subscribing costs the MQTT client memory for a moment: a few links at a time, topics in chunks
STARTING_AT_ONCE = 8
TOPICS_PER_SUBSCRIBE = 50


class VendorFormat:
    """Encodes reports and reads commands in one MQTT profile's vendor JSON."""

    def __init__(self, profile: MqttLampProfile, root: str) -> None:
        self.profile = profile
        self.root = root
        report = profile.report
        self._fields = [
            (name, spec.path.split("."), spec.scale, spec.type)
            for name, spec in report.fields.items()
        ]
        self._time_path = report.time.path.split(".")
        self._time_scale = report.time.scale
        self._faults = report.faults
        self._command_pattern = _topic_regex(profile.topics.command, root)
        self._group_pattern = _topic_regex(profile.topics.group_command, root)

    def topic(self, name: str, **values: str) -> str:
        template: str = getattr(self.profile.topics, name)
        return template.format(root=self.root, **values)

    def report(self, lamp: LampState, at: float) -> bytes:
        reading = lamp.reading(at)
        document: dict[str, Any] = {}
        _put(document, self.profile.report.device.split("."), lamp.lamp.id)
        _put(document, self._time_path, int(at / self._time_scale))
        for name, path, scale, kind in self._fields:
            value = getattr(reading, name)
            if kind == "bool":
                _put(document, path, 1 if value else 0)
            elif kind == "int":
                _put(document, path, round(value / scale))
            else:
                _put(document, path, value / scale)
        if self._faults is not None:
            spec_bits = self._faults.bits
            word = sum(1 << bit for bit, flag in spec_bits.items() if flag in reading.faults)
            _put(document, self._faults.path.split("."), word)
        return json.dumps(document, separators=(",", ":")).encode()

    def command_target(self, topic: str) -> tuple[str, str] | None:
        """("device", id) or ("group", id) for a command topic of this profile."""
        if match := self._command_pattern.match(topic):
            return "device", match.group("device")
        if match := self._group_pattern.match(topic):
            return "group", match.group("group")
        return None

    def parse_command(self, payload: bytes) -> tuple[str | None, bool, int] | str:
        """(command id, on, level), or the reason it cannot be carried out."""
        spec = self.profile.command
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return "not JSON"
        if not isinstance(document, dict):
            return "not a JSON object"
        command_id = document.get(spec.id)
        relay, level = document.get(spec.relay), document.get(spec.level)
        if relay not in (0, 1) or isinstance(relay, bool):
            return f"{spec.relay} must be 0 or 1"
        if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 100:
            return f"{spec.level} must be an integer 0-100"
        return (str(command_id) if command_id is not None else None), relay == 1, level

    def ack(self, command_id: str | None, ok: bool, code: int, at: float) -> bytes:
        spec = self.profile.ack
        return json.dumps(
            {spec.id: command_id, spec.ok: ok, spec.code: code, "ts": int(at)}
        ).encode()


def _put(document: dict[str, Any], path: list[str], value: object) -> None:
    node = document
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _topic_regex(template: str, root: str) -> re.Pattern[str]:
    pattern = re.escape(template.replace("{root}", root))
    pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", pattern)
    return re.compile(f"^{pattern}$")


class Link:
    """One MQTT connection carrying some nodes' reports, commands and acknowledgements."""

    def __init__(
        self,
        link_id: str,
        lamps: list[LampState],
        vendor: VendorFormat,
        world: World,
        *,
        url: MqttUrl,
        ca_file: Path | None = None,
        starting: asyncio.Semaphore | None = None,
    ) -> None:
        self.id = link_id
        self._starting = starting or asyncio.Semaphore(1)
        self.lamps = {lamp.lamp.id: lamp for lamp in lamps}
        self.groups: dict[str, list[LampState]] = {}
        for lamp in lamps:
            self.groups.setdefault(lamp.lamp.circuit_id, []).append(lamp)
        self.vendor = vendor
        self.world = world
        self.url = url
        self.ca_file = ca_file
        self.outbox: deque[tuple[str, bytes, bool]] = deque()  # topic, payload, is a report
        self.connected = False  # subscribed and publishing
        self._wake = asyncio.Event()
        self._state = LinkState(logger, f"simulator link {link_id} to {url}")

    def send(self, topic: str, payload: bytes, *, report: bool) -> None:
        """Queue a message; if the outbox is full, the oldest one is dropped and counted."""
        if len(self.outbox) >= OUTBOX_LIMIT:
            self.outbox.popleft()
            self.world.stats.reports_dropped += 1
        self.outbox.append((topic, payload, report))
        self._wake.set()

    def _status(self, online: bool) -> bytes:
        return json.dumps(
            {"link": self.id, "online": online, "devices": sorted(self.lamps)}
        ).encode()

    def _any_reachable(self) -> bool:
        return any(lamp.reachable for lamp in self.lamps.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the link connected while any of its nodes is powered, until `stop` is set."""
        status_topic = self.vendor.topic("link_status", link=self.id)
        will = aiomqtt.Will(status_topic, self._status(False), qos=1, retain=True)

        def connect() -> aiomqtt.Client:
            return make_client(
                self.url,
                identifier=f"sim-{self.vendor.root}-{self.id}",
                ca_file=self.ca_file,
                will=will,
                timeout=CONNECT_TIMEOUT_S,  # aiomqtt's bound on every exchange with the broker
            )

        async def session(client: aiomqtt.Client) -> None:
            async with self._starting:
                await client.publish(status_topic, self._status(True), qos=1, retain=True)
                topics = [self.vendor.topic("command", device=lamp) for lamp in self.lamps]
                topics += [self.vendor.topic("group_command", group=g) for g in self.groups]
                for first in range(0, len(topics), TOPICS_PER_SUBSCRIBE):
                    chunk = topics[first : first + TOPICS_PER_SUBSCRIBE]
                    await client.subscribe([(topic, 1) for topic in chunk])
            self.connected = True
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._receive(client), name=f"link-{self.id}-receive")
                    tasks.create_task(self._publish(client), name=f"link-{self.id}-publish")
                    tasks.create_task(
                        self._watch_power(client, status_topic), name=f"link-{self.id}-power"
                    )
            except* _PoweredDown:
                logger.debug("link %s: every node is silent", self.id)
            finally:
                self.connected = False

        await run_connected(
            connect, session, stop=stop, link=self._state, before_connect=self._until_powered
        )

    async def _until_powered(self) -> None:
        condition = self.world.supply_changed
        async with condition:
            await condition.wait_for(self._any_reachable)

    async def _watch_power(self, client: aiomqtt.Client, status_topic: str) -> None:
        await self._until_unpowered()
        # a powerless node's connection times out and the broker sends its will; the
        # simulator says the same at once, then drops the connection
        await publish(client, status_topic, self._status(False), retain=True)
        raise _PoweredDown

    async def _until_unpowered(self) -> None:
        condition = self.world.supply_changed
        async with condition:
            await condition.wait_for(lambda: not self._any_reachable())

    async def _publish(self, client: aiomqtt.Client) -> None:
        """Send the outbox in order; a message leaves it only once the broker has it."""
        while True:
            while self.outbox:
                topic, payload, report = self.outbox[0]
                await publish(client, topic, payload)
                self.outbox.popleft()
                if report:
                    self.world.stats.reports_sent += 1
                else:
                    self.world.stats.acks_sent += 1
            self._wake.clear()
            await self._wake.wait()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.handle_command(message.topic.value, bytes(message.payload))

    def handle_command(self, topic: str, payload: bytes) -> None:
        world = self.world
        world.stats.commands += 1
        target = self.vendor.command_target(topic)
        if target is None:
            return
        kind, target_id = target
        lamps: Iterable[LampState] = (
            [self.lamps[target_id]]
            if kind == "device" and target_id in self.lamps
            else self.groups.get(target_id, [])
        )
        parsed = self.vendor.parse_command(payload)
        now = world.now
        for lamp in lamps:
            if not lamp.reachable:
                continue  # a node without supply hears nothing
            ack_topic = self.vendor.topic("ack", device=lamp.lamp.id)
            if isinstance(parsed, str):
                world.stats.commands_refused += 1
                logger.info("node %s refused a command: %s", lamp.lamp.id, parsed)
                refusal = self.vendor.ack(_command_id(payload, self.vendor), False, 1, now)
                self.send(ack_topic, refusal, report=False)
                continue
            command_id, on, level = parsed
            world.command_lamp(lamp, on, level)
            self.send(ack_topic, self.vendor.ack(command_id, True, 0, now), report=False)


def _command_id(payload: bytes, vendor: VendorFormat) -> str | None:
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    value = document.get(vendor.profile.command.id) if isinstance(document, dict) else None
    return str(value) if value is not None else None


class _PoweredDown(Exception):  # noqa: N818 - a signal between tasks, not an error
    """Every node of a link lost supply or communication."""


class _NodeReport:
    """One node's periodic report (a small object: there is one per MQTT lamp)."""

    __slots__ = ("interval", "lamp", "link")

    def __init__(self, lamp: LampState, link: Link, interval: float) -> None:
        self.lamp = lamp
        self.link = link
        self.interval = interval

    def __call__(self, at: float) -> float:
        lamp, link = self.lamp, self.link
        stats = link.world.stats
        stats.reports_due += 1
        if lamp.reachable:
            stats.note_lag(max(0.0, link.world.now - at))
            vendor = link.vendor
            report = vendor.report(lamp, max(at, lamp.t))
            link.send(vendor.topic("report", device=lamp.lamp.id), report, report=True)
        # every interval, give or take two seconds, so reports do not arrive in lockstep
        return at + self.interval + 2.0 * noise.signed(lamp.key, int(at))


class NodeNetwork:
    """Every MQTT lamp node of the world: their links, and a report each interval for each."""

    def __init__(
        self,
        world: World,
        url: MqttUrl,
        root: str,
        *,
        interval_s: float = 60.0,
        lamps_per_link: int = 1,
        ca_file: Path | None = None,
        device_urls: dict[str, MqttUrl] | None = None,
    ) -> None:
        """Links of a device class connect as `device_urls[profile id]` if given, else `url`."""
        if lamps_per_link < 1:
            raise ValueError("lamps_per_link must be at least 1")
        self.world = world
        self.interval = interval_s
        self.links: list[Link] = []
        starting = asyncio.Semaphore(STARTING_AT_ONCE)
        for profile_id, lamps in sorted(world.mqtt_lamps.items()):
            vendor = VendorFormat(world.mqtt_profiles[profile_id], root)
            for offset in range(0, len(lamps), lamps_per_link):
                members = lamps[offset : offset + lamps_per_link]
                link_id = (
                    members[0].lamp.id
                    if lamps_per_link == 1
                    else f"{profile_id}-{offset // lamps_per_link + 1}"
                )
                link_url = (device_urls or {}).get(profile_id, url)
                link = Link(
                    link_id,
                    members,
                    vendor,
                    world,
                    url=link_url,
                    ca_file=ca_file,
                    starting=starting,
                )
                self.links.append(link)

    def schedule_reports(self, timeline: Timeline) -> None:
        """Each node's first report falls somewhere in the first interval, then every interval."""
        start = self.world.now
        for link in self.links:
            for lamp in link.lamps.values():
                first = start + noise.uniform(lamp.key, 10) * self.interval
                timeline.schedule(first, Periodic(_NodeReport(lamp, link, self.interval)))

    async def run(self, stop: asyncio.Event) -> None:
        """Run every link; links leave the broker once `stop` is set."""
        async with asyncio.TaskGroup() as tasks:
            for link in self.links:
                tasks.create_task(link.run(stop), name=f"link-{link.id}")
