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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from simulator import noise
from simulator.devices import LampState
from simulator.timeline import Periodic, Timeline
from simulator.world import SimulatorError, World
from streetlight.backoff import LinkState
from streetlight.contract import LampFault
from streetlight.mqtt import make_client, publish, run_connected
from streetlight.profiles import (
    FaultSpec,
    JsonField,
    MqttLampProfile,
    ack_body,
    compiled,
    conversion,
    read_command,
)
from streetlight.settings import MqttUrl

logger = logging.getLogger(__name__)

OUTBOX_LIMIT = 10_000  # reports a link keeps while its broker is away; older ones are dropped
CONNECT_TIMEOUT_S = 10.0
# subscribing costs the MQTT client memory for a moment: a few links at a time, topics in chunks
STARTING_AT_ONCE = 8
TOPICS_PER_SUBSCRIBE = 50


class VendorFormat:
    """Encodes reports and reads commands in one MQTT profile's vendor JSON.

    Every path the simulator writes must be a chain of keys and indexes (a filter such as
    SenML's `[?n=='voltage'].v | [0]` can be read, not written); a profile with another is
    refused with the key and path, as is a device name behind a `pattern`."""

    def __init__(self, profile: MqttLampProfile, root: str) -> None:
        self.profile = profile
        self.root = root
        report = profile.report
        if report.device.pattern is not None:
            raise SimulatorError(
                f"profile {profile.id}: report.device.pattern: the simulator cannot write a "
                f"device name through a pattern"
            )
        paths = {f"report.fields.{name}.path": spec.path for name, spec in report.fields.items()}
        if report.device.path is not None:
            paths["report.device.path"] = report.device.path
        if report.time is not None:
            paths["report.time.path"] = report.time.path
        if report.faults is not None:
            paths["report.faults.path"] = report.faults.path
        for key, path in paths.items():
            if not compiled(path).writable:
                raise SimulatorError(
                    f"profile {profile.id}: {key}: the simulator writes only chains of keys "
                    f"and indexes, not {path!r}"
                )
        self._as_list = any(isinstance(compiled(p).steps[0], int) for p in paths.values())  # type: ignore[index]
        self._device = compiled(report.device.path) if report.device.path else None
        self._time = report.time
        self._fields = [
            (name, compiled(spec.path), spec, conversion(name, spec.unit))
            for name, spec in report.fields.items()
        ]
        self._faults = report.faults
        self._command_pattern = _topic_regex(profile.topics.command, root)
        self._group_pattern = _topic_regex(profile.topics.group_command, root)

    def name(self, lamp: LampState) -> str:
        """What the lamp's node calls itself: its id, or its device address."""
        if self.profile.devices_named_by == "device_address":
            address = lamp.lamp.device_address
            if address is None:
                raise SimulatorError(
                    f"lamp {lamp.lamp.id}: {self.profile.id} names devices by address, and the "
                    f"lamp has no device_address"
                )
            return address
        return lamp.lamp.id

    def topic(self, name: str, **values: str) -> str:
        template: str = getattr(self.profile.topics, name)
        return template.format(root=self.root, **values)

    def report(self, lamp: LampState, at: float) -> bytes:
        reading = lamp.reading(at)
        document: Any = [] if self._as_list else {}
        if self._device is not None:
            self._device.put(document, self.name(lamp))
        if self._time is not None:
            self._put_time(document, at)
        for name, path, spec, convert in self._fields:
            value = getattr(reading, name)
            if spec.type == "bool":
                path.put(document, _state_word(spec, bool(value)))
                continue
            vendor = convert.to_vendor(float(value)) / spec.scale
            path.put(document, round(vendor) if spec.type == "int" else vendor)
        if self._faults is not None:
            compiled(self._faults.path).put(document, _fault_value(self._faults, reading.faults))
        return json.dumps(document, separators=(",", ":")).encode()

    def _put_time(self, document: Any, at: float) -> None:
        assert self._time is not None
        path = compiled(self._time.path)
        if self._time.format == "epoch_s":
            path.put(document, int(at))
        elif self._time.format == "epoch_ms":
            path.put(document, int(at * 1000))
        else:
            path.put(document, datetime.fromtimestamp(at, UTC).isoformat())

    def command_target(self, topic: str) -> tuple[str, str] | None:
        """("device", name) or ("group", id) for a command topic of this profile."""
        if match := self._command_pattern.match(topic):
            return "device", match.group("device")
        if match := self._group_pattern.match(topic):
            return "group", match.group("group")
        return None

    def parse_command(self, payload: bytes) -> tuple[str | None, bool, int] | str:
        """(command id, on, level), or the reason it cannot be carried out."""
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return "not JSON"
        return read_command(self.profile.command, document)

    def ack(self, command_id: str | None, ok: bool, code: int, at: float) -> bytes:
        return ack_body(self.profile.ack, command_id, ok, code, at)


def _state_word(spec: JsonField, on: bool) -> object:
    """How the vendor says on or off: 1/0, or the profile's first word for it."""
    if spec.states is None:
        return 1 if on else 0
    return next((word for word, value in spec.states.items() if value is on), on)


def _fault_value(spec: FaultSpec, faults: Iterable[LampFault]) -> object:
    """A fault word with the flags' bits, or the list of the flags' first words."""
    if spec.bits is not None:
        return sum(1 << bit for bit, flag in spec.bits.items() if flag in faults)
    words = spec.words or {}
    return [word for flag in faults for word in [_first(words, flag)] if word is not None]


def _first(words: dict[str, LampFault | None], flag: LampFault) -> str | None:
    return next((word for word, mapped in words.items() if mapped == flag), None)


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
        self.names = {vendor.name(lamp): lamp for lamp in lamps}  # as the nodes call themselves
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
            {"link": self.id, "online": online, "devices": sorted(self.names)}
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
                topics = [self.vendor.topic("command", device=name) for name in self.names]
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
            [self.names[target_id]]
            if kind == "device" and target_id in self.names
            else self.groups.get(target_id, [])
        )
        parsed = self.vendor.parse_command(payload)
        now = world.now
        for lamp in lamps:
            if not lamp.reachable:
                continue  # a node without supply hears nothing
            ack_topic = self.vendor.topic("ack", device=self.vendor.name(lamp))
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
    value = compiled(vendor.profile.command.id).get(document)
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
            link.send(vendor.topic("report", device=vendor.name(lamp)), report, report=True)
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
