"""The versioned MQTT topics of the internal bus (docs/contract.md, "MQTT topics").

Every topic is ``{root}/v1/{channel}/{kind}/{id}[/{type}]``. `root` is a deployment setting
(`STREETLIGHT_MQTT_ROOT`, default ``streetlight``); tests give each test its own root so they
never see each other's messages. Vendor topics of field devices are not here: they belong to
the device profiles, and only the gateway reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streetlight.domain import ID_PATTERN

VERSION = "v1"


class Channel(StrEnum):
    TELEMETRY = "telemetry"  # gateway -> controller: canonical readings
    COMMAND = "command"  # controller -> gateway: switch and dim
    ACK = "ack"  # gateway -> controller: outcome of a command
    ALARM = "alarm"  # controller -> everyone: alarm state per asset and type
    STATUS = "status"  # online/offline of devices and processes (retained, last will)
    HEALTH = "health"  # a process's own counters
    SCHEDULE = "schedule"  # operators' tools and the API -> controller: the schedule was saved


class TargetKind(StrEnum):
    """What a topic's `{kind}` level may name."""

    LAMP = "lamp"
    CIRCUIT = "circuit"
    CABINET = "cabinet"
    GROUP = "group"  # a named group or any node of the tree, resolved by the gateway
    GATEWAY = "gateway"
    CONTROLLER = "controller"
    API = "api"
    OPERATOR = "operator"  # a person's command-line tool (`streetlight controller override`)
    SIMULATOR = "simulator"


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """What a concrete topic names, as parsed by `Topics.parse`."""

    channel: Channel
    kind: TargetKind
    id: str
    subtype: str | None = None


class TopicError(ValueError):
    """A topic that is not of the contract's form."""


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses the bus's topics under one root."""

    root: str = "streetlight"

    @property
    def base(self) -> str:
        return f"{self.root}/{VERSION}"

    def topic(
        self, channel: Channel, kind: TargetKind, asset_id: str, subtype: str | None = None
    ) -> str:
        if not ID_PATTERN.match(asset_id):
            raise TopicError(f"{asset_id!r} is not a valid id for a topic level")
        topic = f"{self.base}/{channel.value}/{kind.value}/{asset_id}"
        return f"{topic}/{subtype}" if subtype else topic

    def telemetry(self, kind: TargetKind, asset_id: str) -> str:
        return self.topic(Channel.TELEMETRY, kind, asset_id)

    def command(self, kind: TargetKind, target_id: str) -> str:
        return self.topic(Channel.COMMAND, kind, target_id)

    def ack(self, kind: TargetKind, target_id: str) -> str:
        return self.topic(Channel.ACK, kind, target_id)

    def alarm(self, kind: TargetKind, asset_id: str, alarm_type: str) -> str:
        return self.topic(Channel.ALARM, kind, asset_id, alarm_type)

    def status(self, kind: TargetKind, device_id: str) -> str:
        return self.topic(Channel.STATUS, kind, device_id)

    def health(self, kind: TargetKind, process_id: str) -> str:
        return self.topic(Channel.HEALTH, kind, process_id)

    def schedule(self, kind: TargetKind, writer_id: str) -> str:
        return self.topic(Channel.SCHEDULE, kind, writer_id)

    def subscription(self, channel: Channel, kind: TargetKind | None = None) -> str:
        """A filter for every topic of a channel (and kind)."""
        return f"{self.base}/{channel.value}/{kind.value if kind else '+'}/#"

    def parse(self, topic: str) -> TopicAddress:
        """Split a topic of this root into its parts; raises TopicError naming what is wrong."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            raise TopicError(f"topic {topic!r} is not under {self.base!r}")
        levels = topic[len(prefix) :].split("/")
        if len(levels) not in (3, 4):
            raise TopicError(f"topic {topic!r} has {len(levels)} levels after the root, not 3 or 4")
        try:
            channel = Channel(levels[0])
            kind = TargetKind(levels[1])
        except ValueError as exc:
            raise TopicError(f"topic {topic!r}: {exc}") from exc
        if not ID_PATTERN.match(levels[2]):
            raise TopicError(f"topic {topic!r}: {levels[2]!r} is not a valid id")
        return TopicAddress(channel, kind, levels[2], levels[3] if len(levels) == 4 else None)
