"""Running the simulator in a test: a small district, a manual clock, real broker and Modbus."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulator.app import Simulator
from simulator.control import control_topics
from simulator.modbus_server import Endpoint
from streetlight.clock import ManualClock
from streetlight.mqtt import make_client
from streetlight.profiles import Profile, load_profiles
from streetlight.scenario import Scenario
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.conftest import ROOT
from tests.helpers import eventually, subset

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 12, 21, 21, 0, tzinfo=SHANGHAI)  # lamps lit at start
DAY = datetime(2026, 12, 22, 12, 0, tzinfo=SHANGHAI)  # lamps off at start
MQTT_SITE = "PP-S04"  # a back street: 25 MQTT nodes, one cabinet-modbus-a
MODBUS_A_SITE = "PP-S07"  # an open compound: 37 slc-modbus-a lamps, two cabinet-modbus-a
MODBUS_B_SITE = "PP-S09"  # a managed compound: 58 slc-modbus-b lamps, two cabinet-modbus-b
SITES = (MQTT_SITE, MODBUS_A_SITE, MODBUS_B_SITE)

_profiles: dict[str, Profile] = {}


def profiles() -> dict[str, Profile]:
    if not _profiles:
        _profiles.update(load_profiles(ROOT / "profiles"))
    return _profiles


@asynccontextmanager
async def running(
    state: ServiceState,
    root: str,
    *,
    start: datetime = NIGHT,
    sites: tuple[str, ...] = SITES,
    scenario: Scenario | None = None,
    seed: int = 1,
    truth: Path | None = None,
    lamps_per_link: int = 1,
    as_devices: bool = False,
    settle_turns: int = 20,
) -> AsyncIterator[Simulator]:
    """A simulator on a manual clock; every link connected before the test goes on.

    With `as_devices`, nodes connect as their device class and control as `simulator`, as in
    a deployment; otherwise everything connects as `admin`."""
    device_urls = (
        {name: MqttUrl.parse(state.url_for(name)) for name in ("slc-mqtt-a",)}
        if as_devices
        else None
    )
    simulator = Simulator(
        subset(sites),
        profiles(),
        scenario or Scenario(),
        ManualClock(start, settle_turns),
        mqtt_url=MqttUrl.parse(state.url_for("simulator") if as_devices else state.mqtt_url),
        field_root=root,
        seed=seed,
        truth_path=truth,
        lamps_per_link=lamps_per_link,
        device_urls=device_urls,
    )
    async with simulator:
        await eventually(
            lambda: (
                simulator.control.connected
                and all(link.connected for link in simulator.nodes.links)
            ),
            what="control and links connected",
        )
        yield simulator


def clock_of(simulator: Simulator) -> ManualClock:
    clock = simulator.world.clock
    assert isinstance(clock, ManualClock)
    return clock


async def sent_all(simulator: Simulator, within: float = 10.0) -> int:
    """Wait until every queued node message has reached the broker; the reports sent so far.

    A node's publish awaits the broker's PUBACK, so `stats.reports_sent` trails the clock: read
    it only after the outboxes are empty."""
    await eventually(
        lambda: not any(link.outbox for link in simulator.nodes.links),
        within=within,
        what="node outboxes sent",
    )
    return simulator.world.stats.reports_sent


def endpoint(simulator: Simulator, cabinet_id: str) -> Endpoint:
    return next(e for e in simulator.farm.endpoints if e.cabinet == cabinet_id)


_MBPOLL_TABLE = {"coil": "0", "discrete": "1", "input": "3", "holding": "4"}
_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)")


async def mbpoll(
    where: Endpoint, table: str, address: int, count: int, fmt: str = "hex"
) -> dict[int, str]:
    """Read with mbpoll (Debian's independent Modbus client): address -> value as printed."""
    kind = _MBPOLL_TABLE[table] + (f":{fmt}" if table in ("input", "holding") else "")
    process = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-a", str(where.unit), "-p", str(where.port), "-t", kind,
        "-0", "-r", str(address), "-c", str(count), "-1", where.host,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 20)
    if process.returncode != 0:
        raise AssertionError(f"mbpoll failed ({process.returncode}): {err.decode()}{out.decode()}")
    values = {}
    for line in out.decode().splitlines():
        if match := _LINE.match(line.strip()):
            values[int(match.group(1))] = match.group(2)
    return values


def words(values: dict[int, str]) -> list[int]:
    """mbpoll's hex output as register values, in address order."""
    return [int(values[address], 16) for address in sorted(values)]


async def mbpoll_write(where: Endpoint, table: str, address: int, *values: int) -> tuple[int, str]:
    """Write with mbpoll; returns its exit status and output (an exception reply is non-zero)."""
    process = await asyncio.create_subprocess_exec(
        "mbpoll", "-m", "tcp", "-a", str(where.unit), "-p", str(where.port),
        "-t", _MBPOLL_TABLE[table], "-0", "-r", str(address), where.host,
        *(str(v) for v in values),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    return process.returncode or 0, out.decode()


async def control(url: MqttUrl, root: str, request: dict[str, object]) -> dict[str, object]:
    """Send one request to the simulator's control interface and return its reply."""
    request_topic, reply_topic = control_topics(root)
    async with make_client(url, identifier=f"test-control-{root}") as client:
        await client.subscribe(reply_topic, qos=1)
        await client.publish(request_topic, json.dumps(request), qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                reply: dict[str, object] = json.loads(message.payload)
                return reply
    raise AssertionError("no reply")
