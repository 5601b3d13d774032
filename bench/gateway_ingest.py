"""The gateway's throughput: MQTT reports into InfluxDB, Modbus lamp reads, command round trips.

    python bench/gateway_ingest.py [--reports 300000] [--lamps 20361] [--profile DIR]

Starts its own Mosquitto (with the project's identities) and influxd, and measures:

1. ingest: N vendor reports (QoS 1) wait at the broker in the gateway's persistent session;
   `streetlight gateway` is started and the rate is N / the time from its first point in
   InfluxDB to its last. Ceiling, in the same run: the same reports, encoded as line protocol
   before the clock starts, posted straight to influxd by a bare HTTP loop (same batch size and
   requests in flight). The ratio is the gateway's rate over the ceiling's.
2. Modbus: the gateway polls a simulated district's concentrators as fast as it can (lamp
   interval 0.2 s, so the interval is not what limits it); lamp readings per second written
   to InfluxDB over a window, and the gateway's CPU.
3. commands: 1,000 MQTT lamps; one command each, published as the controller would, timed
   from publish to the gateway's acknowledgement (p50, p99).

Figures go to bench/results/gateway_ingest.json. With `--profile DIR`, the gateway of the ingest
runs under cProfile (bench/_profiled.py) and each of its threads' profile is written to DIR;
the ingest's figures are then the profiled gateway's, far slower than the real one's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import psutil
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "xunyang"))

import generate  # noqa: E402

from bench._common import write_results  # noqa: E402
from streetlight.contract import (  # noqa: E402
    Command,
    CommandAck,
    Target,
    TargetKind,
    Topics,
    decode,
    encode,
)
from streetlight.contract.influx_schema import TelemetryLines, ensure_database  # noqa: E402
from streetlight.domain import Inventory  # noqa: E402
from streetlight.influx import InfluxClient  # noqa: E402
from streetlight.inventory import dump_geojson  # noqa: E402
from streetlight.mqtt import client_id, make_client  # noqa: E402
from streetlight.normalize import MqttDecoder, device_names  # noqa: E402
from streetlight.profiles import MqttLampProfile, load_profiles  # noqa: E402
from streetlight.services import LocalServices, ServiceState, broker_auth  # noqa: E402
from streetlight.settings import MqttUrl  # noqa: E402

BUS, FIELD = "bench", "benchfield"
BATCH, IN_FLIGHT = 5000, 2
OUTSTANDING = 30_000  # publisher messages queued or unacknowledged at once
T0 = int(datetime(2026, 12, 21, 10, 0, tzinfo=UTC).timestamp())
NIGHT_START = "2026-12-21T20:00:00+08:00"
DRAIN_LIMIT_S = 600
STREETLIGHT = ("-m", "streetlight")  # how a process runs `streetlight`


def _reports(lamps: list[str], count: int) -> list[tuple[str, bytes]]:
    out = []
    for index in range(count):
        lamp, k = lamps[index % len(lamps)], index // len(lamps)
        data = {"U": 2200 + index % 97, "I": 180, "P": 390 + index % 13, "PF": 95, "E": 1000 + k,
                "dim": 100, "sw": 1, "T": 350, "rt": 400, "alm": 0}  # fmt: skip
        body = {"devId": lamp, "ts": T0 + k * 60 + index % 60, "data": data}
        out.append(
            (f"{FIELD}/slc-a/{lamp}/report", json.dumps(body, separators=(",", ":")).encode())
        )
    return out


def _publish_all(url: MqttUrl, messages: list[tuple[str, bytes]]) -> float:
    """Publish QoS 1 and wait for every acknowledgement; returns messages per second."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id(url, "bench-publisher"))
    client.username_pw_set(url.username, url.password)
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)
    client.connect(url.host, url.port)
    client.loop_start()
    started = time.perf_counter()
    infos: list[paho.MQTTMessageInfo] = []
    for topic, payload in messages:
        if len(infos) >= OUTSTANDING:  # message ids are 16 bits: never reuse one still queued
            infos.pop(0).wait_for_publish(60)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(60)
    rate = len(messages) / (time.perf_counter() - started)
    client.disconnect()
    client.loop_stop()
    return rate


def _env(state: ServiceState, directory: Path, identity: str, db: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")},
        "STREETLIGHT_MQTT_URL": state.url_for(identity),
        "STREETLIGHT_INFLUX_URL": state.influx_url,
        "STREETLIGHT_INFLUX_DB": db,
        "STREETLIGHT_INFLUX_RETENTION": "INF",
        "STREETLIGHT_MQTT_ROOT": BUS,
        "STREETLIGHT_FIELD_ROOT": FIELD,
        "STREETLIGHT_PROFILES_DIR": str(ROOT / "profiles"),
        "STREETLIGHT_VAR_DIR": str(directory),
        "STREETLIGHT_LOG_LEVEL": "WARNING",
    }


def _start(
    argv: list[str], env: dict[str, str], log: Path, command: Sequence[str] = STREETLIGHT
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, *command, *argv], env=env, cwd=log.parent,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _count(influx: InfluxClient) -> int:
    series = await influx.query("SELECT count(power_w) FROM lamp")
    return int(series[0].values[0][1]) if series else 0


async def _wait_online(state: ServiceState, gateway_id: str) -> None:
    topic = Topics(BUS).status(TargetKind.GATEWAY, gateway_id)
    url = MqttUrl.parse(state.mqtt_url)
    async with make_client(url, identifier=f"wait-{uuid.uuid4().hex[:6]}") as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(60):
            async for message in client.messages:
                if json.loads(message.payload).get("online"):
                    return


def _gateway_config(directory: Path, name: str, document: dict[str, Any]) -> list[str]:
    """Write a gateway configuration; the arguments that run a gateway with it."""
    path = directory / f"{name}.yaml"
    defaults = {
        "spool": {"dir": str(directory / f"spool-{name}"), "max_mb": 512},
        # the reports are stamped on the night of the sample (T0), the gateway runs on wall time
        "readings": {"max_ahead_s": None, "max_age_s": None},
    }
    path.write_text(yaml.safe_dump({**defaults, "health_interval_s": 3600, **document}))
    return ["gateway", "--config", str(path)]


def _district(directory: Path, name: str, scale: int) -> tuple[Inventory, Path]:
    inventory = generate.generate(scale=scale)
    path = directory / f"{name}.geojson"
    path.write_text(json.dumps(dump_geojson(inventory)))
    return inventory, path


def _cpu(processes: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: sum(proc.cpu_times()[:2]) for name, proc in processes.items()}


async def _points_written(influx: InfluxClient, database: str) -> int:
    """Points InfluxDB has taken into `database` since it started, from its own counters:
    cheap to ask, unlike counting the data, which would load the server being measured."""
    series = await influx.query("SHOW STATS FOR 'shard'")
    written = 0
    for shard in series:
        if shard.tags.get("database") == database:
            written += int(shard.values[0][shard.columns.index("writePointsOk")])
    return written


async def _drain(
    state: ServiceState,
    argv: list[str],
    env: dict[str, str],
    log: Path,
    count: int,
    *,
    command: Sequence[str],
) -> tuple[float, dict[str, float], int]:
    """Run the gateway until `count` distinct points are stored: (rate, CPU seconds of the gateway,
    broker and influxd, lamp points in InfluxDB), timed from its first point to its last."""
    async with InfluxClient(state.influx_url, "ingest") as influx:
        gateway = _start(argv, env, log, command)
        processes = {
            "gateway": psutil.Process(gateway.pid),
            "mosquitto": psutil.Process(state.pids["mosquitto"]),
            "influxd": psutil.Process(state.pids["influxd"]),
        }
        started = time.perf_counter()
        first_point = 0.0
        cpu_start: dict[str, float] = {}
        arrived = 0
        try:
            while time.perf_counter() - started < DRAIN_LIMIT_S and arrived < count:
                await asyncio.sleep(0.1)
                written = await _points_written(influx, "ingest")
                if written and not first_point:
                    first_point, cpu_start = time.perf_counter(), _cpu(processes)
                # the counter counts a point written twice (a report the broker sent again)
                # twice: once it says all, count the points themselves, each report once
                if written >= count:
                    arrived = await _count(influx)
            finished, cpu_end = time.perf_counter(), _cpu(processes)
        finally:
            _stop(gateway)
        arrived = await _count(influx)  # every report, once
    if not first_point:
        raise SystemExit(f"the gateway wrote nothing; see {log}")
    cpu = {name: cpu_end[name] - cpu_start[name] for name in processes}
    return count / (finished - first_point), cpu, arrived


async def _ceiling(
    state: ServiceState, inventory: Inventory, messages: list[tuple[str, bytes]]
) -> float:
    """The same reports as line protocol, encoded before the clock starts and posted by a bare
    loop (same batch size, same requests in flight): what this InfluxDB takes at most."""
    profile = load_profiles(ROOT / "profiles")["slc-mqtt-a"]
    assert isinstance(profile, MqttLampProfile)
    decoder = MqttDecoder(profile, device_names(profile, inventory))
    lines = TelemetryLines(inventory)
    encoded = [lines.lamp(decoder.decode(payload)) for _, payload in messages]
    # uncompressed, as the gateway sends to an InfluxDB on the same host (STREETLIGHT_INFLUX_GZIP)
    bodies = ["\n".join(encoded[i : i + BATCH]).encode() for i in range(0, len(encoded), BATCH)]
    del encoded
    async with InfluxClient(state.influx_url, "ceiling") as influx:
        await ensure_database(influx, "INF")
        queue = list(reversed(bodies))
        params = {"db": "ceiling", "precision": "ns"}
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=state.influx_url, timeout=60) as http:

            async def poster() -> None:
                while queue:
                    response = await http.post("/write", params=params, content=queue.pop())
                    response.raise_for_status()

            await asyncio.gather(*(poster() for _ in range(IN_FLIGHT)))
        rate = len(messages) / (time.perf_counter() - started)
        assert await _count(influx) == len(messages)
    return rate


async def ingest(
    state: ServiceState, directory: Path, lamps: int, count: int, profile: Path | None = None
) -> dict[str, Any]:
    inventory, path = _district(directory, "ingest", max(1, round(lamps / 2305)))
    # reports of the district's MQTT nodes: a lamp of another model on their topics is refused
    nodes = sorted(i for i, lamp in inventory.lamps.items() if lamp.profile == "slc-mqtt-a")
    messages = _reports(nodes, count)
    argv = _gateway_config(
        directory,
        "ingest",
        {
            "id": "gw-bench",
            "inventory": str(path),
            "mqtt": {"profiles": ["slc-mqtt-a"]},
        },
    )
    env = _env(state, directory, "gateway", "ingest")
    log = directory / "gateway.log"
    # the gateway's session is made once; then the reports wait for it at the broker
    first = _start(argv, env, log)
    await _wait_online(state, "gw-bench")
    _stop(first)
    device = MqttUrl.parse(state.url_for("slc-mqtt-a"))
    published_rate = await asyncio.to_thread(_publish_all, device, messages)
    command = STREETLIGHT if profile is None else (str(ROOT / "bench/_profiled.py"), str(profile))
    gateway_rate, cpu, arrived = await _drain(state, argv, env, log, count, command=command)
    ceiling_rate = await _ceiling(state, inventory, messages)
    return {
        "reports": count,
        "lamps": len(nodes),
        "publish_rate_per_s": round(published_rate),
        "gateway_reports_per_s": round(gateway_rate),
        "gateway_cpu_s_per_1000_reports": round(1000 * cpu["gateway"] / arrived, 3),
        "cpu_s_per_1000_reports": {k: round(1000 * v / arrived, 3) for k, v in cpu.items()},
        "ceiling_reports_per_s": round(ceiling_rate),
        "ratio_to_ceiling": round(gateway_rate / ceiling_rate, 3),
        "arrived": arrived,
        "targets": {"reports_per_s": 20_000, "ratio": 0.3},
    }


async def _wait_for_file(path: Path, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(path.exists):
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} did not appear within {within:g} s")
        await asyncio.sleep(0.5)


async def _sample(influx: InfluxClient, proc: psutil.Process) -> tuple[int, float, float]:
    """Points so far, the process's CPU seconds, and the time."""
    return await _count(influx), sum(proc.cpu_times()[:2]), time.perf_counter()


async def modbus(state: ServiceState, directory: Path, window: float) -> dict[str, Any]:
    inventory, path = _district(directory, "modbus", 2)
    endpoints = directory / "endpoints.yaml"
    sim_env = {
        **_env(state, directory, "admin", "modbus"),
        "STREETLIGHT_SIM_CABINETS_PER_PORT": "8",
    }
    sim_argv = ["simulate", "--inventory", str(path), "--endpoints", str(endpoints)]
    simulator = _start(sim_argv, sim_env, directory / "simulator.log")
    try:
        await _wait_for_file(endpoints)
        polling = {
            "endpoints_file": str(endpoints),
            "lamp_interval_s": 0.2,
            "cabinet_interval_s": 60,
        }
        argv = _gateway_config(
            directory, "modbus", {"id": "gw-modbus", "inventory": str(path), "modbus": polling}
        )
        env = _env(state, directory, "gateway", "modbus")
        gateway = _start(argv, env, directory / "gateway-modbus.log")
        try:
            async with InfluxClient(state.influx_url, "modbus") as influx:
                await asyncio.sleep(10)  # connected and polling
                proc = psutil.Process(gateway.pid)
                before, cpu_before, t0 = await _sample(influx, proc)
                await asyncio.sleep(window)
                after, cpu_after, t1 = await _sample(influx, proc)
        finally:
            _stop(gateway)
    finally:
        _stop(simulator)
    profiles = [lamp.profile for lamp in inventory.lamps.values()]
    return {
        "modbus_lamps": sum(1 for profile in profiles if profile.startswith("slc-modbus")),
        "lamp_interval_s": 0.2,
        "lamp_reads_per_s": round((after - before) / (t1 - t0)),
        "gateway_cpu_pct_of_one_core": round(100 * (cpu_after - cpu_before) / (t1 - t0), 1),
        "window_s": window,
        "target_reads_per_s": 3000,
    }


def _command(lamp: str, now: datetime) -> Command:
    return Command(
        id=f"c-{lamp}",
        target=Target(kind=TargetKind.LAMP, id=lamp),
        on=True,
        level_pct=50,
        issued_at=now,
        expires_at=now + timedelta(minutes=5),
        origin="controller",
    )


async def _round_trips(state: ServiceState, lamps: list[str]) -> list[float]:
    """Publish one command per lamp as the controller would; milliseconds to each ack."""
    topics = Topics(BUS)
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    controller = MqttUrl.parse(state.url_for("controller"))
    async with (
        make_client(MqttUrl.parse(state.mqtt_url), identifier="bench-acks") as watcher,
        make_client(controller, identifier="bench-controller") as client,
    ):
        await watcher.subscribe(f"{BUS}/v1/ack/#", qos=1)

        async def collect() -> None:
            async for message in watcher.messages:
                acked[decode(CommandAck, message.payload).command_id] = time.perf_counter()
                if len(acked) == len(lamps):
                    return

        collector = asyncio.create_task(collect())
        now = datetime.now(UTC)
        for lamp in lamps:
            command = _command(lamp, now)
            sent[command.id] = time.perf_counter()
            await client.publish(topics.command(TargetKind.LAMP, lamp), encode(command), qos=1)
        await asyncio.wait_for(collector, 120)
    return sorted(1000 * (acked[c] - sent[c]) for c in sent if c in acked)


async def commands(state: ServiceState, directory: Path, lamps: int) -> dict[str, Any]:
    inventory, path = _district(directory, "commands", 2)
    mqtt = sorted(i for i, lamp in inventory.lamps.items() if lamp.profile == "slc-mqtt-a")
    sim_env = {
        **_env(state, directory, "simulator", "commands"),
        "STREETLIGHT_SIM_DEVICE_CREDENTIALS": str(state.credentials_file),
        "STREETLIGHT_SIM_LAMPS_PER_LINK": "50",
    }
    sim_argv = ["simulate", "--inventory", str(path), "--start", NIGHT_START, "--speed", "1"]
    simulator = _start(sim_argv, sim_env, directory / "simulator-commands.log")
    argv = _gateway_config(
        directory,
        "commands",
        {"id": "gw-commands", "inventory": str(path), "mqtt": {"profiles": ["slc-mqtt-a"]}},
    )
    gateway = _start(argv, _env(state, directory, "gateway", "commands"), directory / "gw-c.log")
    try:
        await _wait_online(state, "gw-commands")
        await asyncio.sleep(5)  # the nodes' links connected
        rtt = await _round_trips(state, mqtt[:lamps])
    finally:
        _stop(gateway)
        _stop(simulator)
    return {
        "commands": min(lamps, len(mqtt)),
        "acked": len(rtt),
        "round_trip_ms_p50": round(statistics.median(rtt), 1),
        "round_trip_ms_p99": round(rtt[int(0.99 * (len(rtt) - 1))], 1),
    }


async def main(
    reports: int, lamps: int, window: float, only: str | None, profile: Path | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="streetlight-gw-bench-") as tmp:
        directory = Path(tmp)
        auth = broker_auth(BUS, FIELD, ROOT / "profiles")
        servers = LocalServices(directory / "servers", auth=auth)
        state = servers.start()
        try:
            figures: dict[str, Any] = {}
            if only in (None, "ingest"):
                figures["ingest"] = await ingest(state, directory, lamps, reports, profile)
                print("ingest:", figures["ingest"], flush=True)
            if only in (None, "modbus"):
                figures["modbus"] = await modbus(state, directory, window)
                print("modbus:", figures["modbus"], flush=True)
            if only in (None, "commands"):
                figures["commands"] = await commands(state, directory, 1000)
                print("commands:", figures["commands"], flush=True)
        finally:
            servers.stop()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=300_000)
    parser.add_argument("--lamps", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--only", choices=("ingest", "modbus", "commands"))
    parser.add_argument("--profile", type=Path, help="profile the ingest's gateway into DIR")
    args = parser.parse_args()
    profile = args.profile.resolve() if args.profile else None
    results = asyncio.run(main(args.reports, args.lamps, args.window, args.only, profile))
    print(f"figures written to {write_results('gateway_ingest', results)}")
