"""The simulator's control interface, over MQTT: inject and repair faults, change the weather,
ask for counters. Requests go to ``{root}/simulator/control`` as JSON, answers come back on
``{root}/simulator/reply`` (docs/contract.md, "Simulator control"):

    mosquitto_pub -t field/simulator/control \
      -m '{"op": "fault", "target": "lamp:PP-S01-L003", "kind": "lamp_failure"}'
    mosquitto_pub -t field/simulator/control -m '{"op": "status"}'
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt

from simulator.timeline import Timeline, WeatherChange
from simulator.world import World
from streetlight.backoff import LinkState
from streetlight.mqtt import make_client, publish, run_connected
from streetlight.scenario import FaultEvent, FaultEventKind, ScenarioError
from streetlight.settings import MqttUrl

logger = logging.getLogger(__name__)


def control_topics(root: str) -> tuple[str, str]:
    return f"{root}/simulator/control", f"{root}/simulator/reply"


class Control:
    def __init__(
        self, world: World, timeline: Timeline, url: MqttUrl, root: str, ca_file: Path | None = None
    ) -> None:
        self.world = world
        self.timeline = timeline
        self.url = url
        self.ca_file = ca_file
        self.request_topic, self.reply_topic = control_topics(root)
        self.connected = False  # subscribed to requests

    async def run(self, stop: asyncio.Event) -> None:
        def connect() -> aiomqtt.Client:
            return make_client(
                self.url,
                identifier=f"sim-control-{self.request_topic}",
                ca_file=self.ca_file,
                timeout=10,
            )

        async def session(client: aiomqtt.Client) -> None:
            await client.subscribe(self.request_topic, qos=1)
            self.connected = True
            try:
                async for message in client.messages:
                    reply = await self.handle(bytes(message.payload))
                    await publish(client, self.reply_topic, json.dumps(reply).encode())
            finally:
                self.connected = False

        link = LinkState(logger, f"simulator control link to {self.url}")
        await run_connected(connect, session, stop=stop, link=link)

    async def handle(self, payload: bytes) -> dict[str, Any]:
        """Carry out one request; the answer says ok, or names what was wrong."""
        try:
            request = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return {"ok": False, "error": "request is not JSON"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        op = request.get("op")
        answer: dict[str, Any] = {"op": op}
        if "id" in request:
            answer["id"] = request["id"]
        try:
            answer.update(await self._do(op, request))
        except ScenarioError as exc:
            return {**answer, "ok": False, "error": str(exc)}
        return {**answer, "ok": True}

    async def _do(self, op: object, request: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        if op == "status":
            return {
                "now": world.clock.now().isoformat(),
                "lamps": len(world.lamps),
                "cabinets": len(world.cabinets),
                "active_faults": sorted(f"{kind.value} {target}" for target, kind in world.active),
                "stats": world.stats.as_dict(),
                # report lateness in 10 ms bins, so a benchmark can take quantiles of a window
                "lag_histogram": dict(world.stats.lag_histogram),
            }
        if op in ("fault", "repair"):
            event_kind = FaultEventKind.START if op == "fault" else FaultEventKind.END
            event = world.fault_event(
                str(request.get("target")),
                str(request.get("kind")),
                event_kind,
                request.get("phase"),
            )
            await world.apply(event)
            until = _time(request.get("until"))
            if op == "fault" and until is not None:
                end = FaultEvent(until, event.target, event.kind, FaultEventKind.END, event.phase)
                self.timeline.schedule(until, end)
            return {}
        if op == "weather":
            factor = request.get("lux_factor")
            if not isinstance(factor, int | float) or not 0 < factor <= 1:
                raise ScenarioError("lux_factor must be a number in (0, 1]")
            world.set_weather(float(factor))
            until = _time(request.get("until"))
            if until is not None:
                self.timeline.schedule(until, WeatherChange(1.0))
            return {}
        raise ScenarioError(f"unknown op {op!r}; known: status, fault, repair, weather")


def _time(value: object) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ScenarioError(f"until must be ISO 8601 with an offset, got {value!r}") from exc
    if moment.tzinfo is None:
        raise ScenarioError(f"until must have a UTC offset, got {value!r}")
    return moment.timestamp()
