"""10,000 hostile messages through the real broker to a running `streetlight gateway` process,
with good reports between them: the process never exits, every bad message is counted by its
kind (in the gateway's own health report on the bus), and every good report is in InfluxDB.

The hostile messages are what a device identity can publish on its class's topics: random
bytes, 1 MB payloads, topic levels of 60,000 characters, nesting deeper than any parser's limit,
NaN and infinities, huge and negative numbers, times far ahead and long ago, lamps of another
model and lamps nobody has, link status of any length and acknowledgements that are garbage.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.mqtt import make_client
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.gateway_process import GatewayProcess
from tests.helpers import Listener, eventually, subset
from tests.simulation import MODBUS_A_SITE, MQTT_SITE

HOSTILE = 10_000
GOOD_EVERY = 20  # a good report after every 20 hostile messages
SEED = 1414

Message = tuple[str, bytes, str | None]  # topic, payload, the kind it is counted as (None: good)


def _report(lamp: str, ts: float, **data: Any) -> dict[str, Any]:
    values = {"U": 2214, "I": 180, "P": 358, "PF": 92, "E": 18334, "dim": 100, "sw": 1,
              "T": 382, "rt": 760, "alm": 0, **data}  # fmt: skip
    return {"devId": lamp, "ts": ts, "data": values}


def _hostile(root: str, rng: random.Random, lamps: list[str], others: list[str]) -> list[Message]:
    """HOSTILE messages and the kind each is counted as."""
    now = time.time()

    def report(lamp: str) -> str:
        return f"{root}/slc-a/{lamp}/report"

    def dumps(document: Any) -> bytes:
        return json.dumps(document, allow_nan=True).encode()

    def malformed(topic: str, payload: bytes) -> Message:
        return topic, payload, "malformed"

    heavy = [malformed(report(rng.choice(lamps)), b"{" + b"x" * 1_000_000) for _ in range(20)]
    heavy += [
        malformed(report(rng.choice(lamps)), b"[" * 100_000 + b"]" * 100_000) for _ in range(50)
    ]
    makers: list[Callable[[], Message]] = [
        lambda: (report(rng.choice(lamps)), rng.randbytes(rng.randint(1, 300)), "malformed"),
        lambda: (report(lamp := rng.choice(lamps)),
                 dumps(_report(lamp, now, U=rng.choice([float("nan"), float("inf")]))),
                 "malformed"),  # NaN and Infinity are not JSON
        lambda: (report(lamp := rng.choice(lamps)),
                 dumps(_report(lamp, now, U=rng.choice([-5, 10**30, 99_999_999]))),
                 "out_of_range"),
        lambda: (report(lamp := rng.choice(lamps)),
                 dumps(_report(lamp, now, E=rng.choice([10**15, -1]))), "out_of_range"),
        lambda: (report(lamp := rng.choice(lamps)), dumps(_report(lamp, 1e11)), "time_ahead"),
        lambda: (report(lamp := rng.choice(lamps)), dumps(_report(lamp, 1e18)), "out_of_range"),
        lambda: (report(lamp := rng.choice(lamps)), dumps(_report(lamp, 86_400)), "time_old"),
        lambda: (report(lamp := rng.choice(others)), dumps(_report(lamp, now)), "wrong_profile"),
        lambda: (report(name := f"NOPE-{rng.randint(0, 10**6)}"), dumps(_report(name, now)),
                 "unknown_device"),
        lambda: (report(name := "d" * 60_000), dumps(_report(name, now)), "unknown_device"),
        lambda: (report(rng.choice(lamps)), dumps({"devId": rng.choice(lamps)}), "unmapped"),
        lambda: (f"{root}/slc-a/{rng.choice(lamps)}/ack", rng.randbytes(20) + b"\xff",
                 "malformed"),
        lambda: (f"{root}/slc-a/link/{'k' * rng.randint(1, 50_000)}/status",
                 dumps({"online": "yes", "devices": lamps[:3]}), "unmapped"),
        lambda: (f"{root}/slc-a/link/{'k' * rng.randint(1, 50_000)}/status",
                 rng.randbytes(30) + b"\xfe", "malformed"),
    ]  # fmt: skip
    light: list[Message] = [rng.choice(makers)() for _ in range(HOSTILE - len(heavy))]
    messages = light + heavy
    rng.shuffle(messages)
    return messages


async def test_ten_thousand_hostile_messages_never_stop_the_gateway(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    inventory = subset((MQTT_SITE, MODBUS_A_SITE))
    lamps = sorted(lamp for lamp, row in inventory.lamps.items() if row.profile == "slc-mqtt-a")
    others = sorted(lamp for lamp, row in inventory.lamps.items() if row.profile != "slc-mqtt-a")
    hostile = _hostile(topics.root, rng, lamps, others)
    start = time.time() - 3600
    messages: list[Message] = []
    good = 0
    for index, message in enumerate(hostile):
        messages.append(message)
        if index % GOOD_EVERY == 0:  # good reports between, each lamp at times of its own
            lamp = lamps[good % len(lamps)]
            body = json.dumps(_report(lamp, int(start) + good)).encode()
            messages.append((f"{topics.root}/slc-a/{lamp}/report", body, None))
            good += 1
    # links of any length that name real lamps: good news, whatever their length
    for length in (1, 64, 500, 5000, 50_000):
        body = json.dumps({"online": True, "devices": lamps}).encode()
        messages.append((f"{topics.root}/slc-a/link/{'L' * length}/status", body, None))
    expected = Counter(kind for _, _, kind in messages if kind is not None)

    gateway = GatewayProcess(
        tmp_path / "gw", service_state, topics.root, inventory,
        influx_url=service_state.influx_url, influx_db=influx.database,
        config={"health_interval_s": 1},
    )  # fmt: skip
    health_topic = f"{topics.base}/health/gateway/gw-test"
    admin = MqttUrl.parse(service_state.url_for("admin"))
    async with Listener(admin, [health_topic], identifier=f"health-{topics.root}") as health:
        gateway.start()
        try:
            await eventually(lambda: bool(health.on("/health/")), within=30, what="health")
            device = MqttUrl.parse(service_state.url_for("slc-mqtt-a"))
            async with make_client(device, identifier=f"hostile-{topics.root}") as node:
                for topic, payload, _kind in messages:
                    await node.publish(topic, payload, qos=1)
            total = len(messages)

            def latest() -> dict[str, Any]:
                return health.on("/health/")[-1]

            await eventually(
                lambda: latest()["messages_in"] >= total, within=120, what="every message in"
            )
            await eventually(
                lambda: latest()["lines_written"] >= good, within=60, what="good reports written"
            )
            await asyncio.sleep(1.5)  # one more health report, after the last count
            report = latest()
            alive = gateway.alive
            series = await influx.query(
                f"SELECT count(dim_pct) FROM lamp WHERE site = '{MQTT_SITE}'"
            )
            stored = int(series[0].values[0][1]) if series else 0
        finally:
            if gateway.alive:
                await gateway.stop()
    assert alive, gateway.output()
    assert report["messages_in"] == total
    assert Counter(report["errors"]) == expected, gateway.output()
    assert stored == good
