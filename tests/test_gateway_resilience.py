"""Nothing is lost: InfluxDB away for 30 s, the broker restarted mid-stream, the gateway killed.

Each test takes its own server away, so the others keep theirs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import yaml

from gateway.spool import pending_records
from streetlight.contract import Topics
from streetlight.influx import InfluxClient, RetryPolicy
from streetlight.services import (
    Influxd,
    LocalServices,
    ServiceState,
    broker_auth,
    find_program,
)
from streetlight.settings import MqttUrl
from tests.conftest import ROOT
from tests.gateway_process import GatewayProcess
from tests.gateway_rig import config_for, gateway_settings, running_gateway
from tests.helpers import Listener, eventually
from tests.simulation import MQTT_SITE, clock_of, running, sent_all


@pytest_asyncio.fixture
async def own_influx(tmp_path: Path) -> AsyncIterator[tuple[Influxd, InfluxClient]]:
    program = find_program("influxd")
    assert program is not None
    server = Influxd(program, tmp_path / "influx")
    await asyncio.to_thread(server.start)
    retry = RetryPolicy(attempts=1)
    try:
        async with InfluxClient(server.url(), "gw", retry=retry) as client:
            await client.execute('CREATE DATABASE "gw"')
            yield server, client
    finally:
        server.stop()


async def _mqtt_points(influx: InfluxClient) -> int:
    series = await influx.query(f"SELECT count(power_w) FROM lamp WHERE site = '{MQTT_SITE}'")
    return int(series[0].values[0][1]) if series else 0


async def _until_points(influx: InfluxClient, expected: int, within: float = 60) -> int:
    deadline = time.monotonic() + within
    count = -1
    while time.monotonic() < deadline:
        try:
            count = await _mqtt_points(influx)
        except Exception:  # noqa: BLE001 - the server may still be starting
            count = -1
        if count >= expected:
            return count
        await asyncio.sleep(0.2)
    return count


async def test_influxdb_away_for_30_seconds_loses_nothing(
    service_state: ServiceState,
    topics: Topics,
    own_influx: tuple[Influxd, InfluxClient],
    tmp_path: Path,
) -> None:
    server, influx = own_influx
    settings = gateway_settings(service_state.url_for("gateway"), server.url(), "gw", topics.root)
    async with running(service_state, topics.root, sites=(MQTT_SITE,), as_devices=True) as sim:
        config = config_for(sim, tmp_path / "spool", modbus={"endpoints": []})
        async with running_gateway(sim, settings, config) as gateway:
            clock = clock_of(sim)
            await clock.advance(60)
            assert (
                await _until_points(influx, sim.world.stats.reports_due)
                == sim.world.stats.reports_due
            )
            await asyncio.to_thread(server.stop)
            away_until = time.monotonic() + 30
            while time.monotonic() < away_until:  # the stream goes on: a simulated minute every 3 s
                await clock.advance(60)
                await asyncio.sleep(3)
            assert gateway.outputs is not None
            spooled = gateway.outputs.influx_spool.depth_records
            await asyncio.to_thread(server.start)
            sent = await sent_all(sim)
            arrived = await _until_points(influx, sent)
            assert gateway.outputs.influx_spool.depth_records == 0
    assert spooled > 0  # the outage did go through the spool
    assert sent >= 10 * len(sim.world.mqtt_lamps["slc-mqtt-a"])
    assert arrived == sent


async def test_a_broker_restart_mid_stream_loses_no_qos1_report(
    topics: Topics, servers: LocalServices, influx: InfluxClient, tmp_path: Path
) -> None:
    auth = broker_auth("+", "+", ROOT / "profiles")
    own = LocalServices(tmp_path / "own", auth=auth)
    own.mosquitto.start()
    try:
        state = ServiceState(
            directory="", mqtt_url=own.mosquitto.url(), influx_url=servers.influxd.url(), pids={},
            markers={}, started_at="",
            mqtt_urls={i: own.mosquitto.url(i) for i in own.mosquitto.credentials},
        )  # fmt: skip
        settings = gateway_settings(
            state.url_for("gateway"), state.influx_url, influx.database, topics.root
        )
        async with running(state, topics.root, sites=(MQTT_SITE,), as_devices=True) as sim:
            config = config_for(sim, tmp_path / "spool", modbus={"endpoints": []})
            async with running_gateway(sim, settings, config):
                clock = clock_of(sim)
                await clock.advance(60)
                await clock.advance(30)  # reports in flight when the broker goes
                await asyncio.to_thread(own.mosquitto.stop)
                await clock.advance(60)  # reports wait in the nodes' outboxes
                await asyncio.to_thread(own.mosquitto.start)
                await clock.advance(60)
                sent = await sent_all(sim, within=60)
                arrived = await _until_points(influx, sent)
    finally:
        own.stop()
    assert sent >= 3 * len(sim.world.mqtt_lamps["slc-mqtt-a"])
    assert arrived == sent


async def test_a_killed_gateway_resumes_without_losing_or_doubling_spooled_data(
    service_state: ServiceState,
    topics: Topics,
    own_influx: tuple[Influxd, InfluxClient],
    tmp_path: Path,
) -> None:
    server, influx = own_influx
    spool_dir = tmp_path / "spool"
    async with running(service_state, topics.root, sites=(MQTT_SITE,), as_devices=True) as sim:
        config_path = tmp_path / "gateway.yaml"
        config = config_for(sim, spool_dir, modbus={"endpoints": []})
        config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        inventory = tmp_path / "inventory.geojson"
        import json  # noqa: PLC0415

        from streetlight.inventory import dump_geojson  # noqa: PLC0415

        inventory.write_text(json.dumps(dump_geojson(sim.world.inventory)))
        # the gateway runs on wall time, the simulator on its own: no window around the clock
        document = {**config.model_dump(mode="json"), "inventory": str(inventory)}
        document["readings"] = {"max_ahead_s": None, "max_age_s": None}
        config_path.write_text(yaml.safe_dump(document))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")},
            "STREETLIGHT_MQTT_URL": service_state.url_for("gateway"),
            "STREETLIGHT_INFLUX_URL": server.url(),
            "STREETLIGHT_INFLUX_DB": "gw",
            "STREETLIGHT_INFLUX_RETENTION": "INF",
            "STREETLIGHT_MQTT_ROOT": topics.root,
            "STREETLIGHT_FIELD_ROOT": topics.root,
            "STREETLIGHT_PROFILES_DIR": str(ROOT / "profiles"),
        }

        def start_gateway() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "streetlight", "gateway", "--config", str(config_path)],
                env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip

        status = f"{topics.root}/v1/status/gateway/gw-test"
        async with Listener(MqttUrl.parse(service_state.mqtt_url), [status]) as seen:
            gateway = start_gateway()
            await eventually(
                lambda: bool(seen.on("/status/")), within=20, what="the gateway online"
            )
        try:
            clock = clock_of(sim)
            await clock.advance(60)
            first = sim.world.stats.reports_due
            got = await _until_points(influx, first, within=30)
            if got != first:
                gateway.kill()
                assert gateway.stdout is not None
                raise AssertionError(
                    f"{got} points; the gateway said: {gateway.stdout.read().decode()}"
                )
            await asyncio.to_thread(server.stop)
            for _ in range(3):
                await clock.advance(60)
            await sent_all(sim)
            # wait until the gateway has spooled them, then kill it without warning
            await eventually(lambda: pending_records(spool_dir / "influx") >= 3 * first, within=30)
            gateway.send_signal(signal.SIGKILL)
            await asyncio.to_thread(gateway.wait)
            assert gateway.stdout is not None
            gateway.stdout.close()
            await clock.advance(60)  # these wait at the broker, in the gateway's session
            sent = await sent_all(sim)
            await asyncio.to_thread(server.start)
            gateway = start_gateway()
            arrived = await _until_points(influx, sent, within=60)
            await eventually(lambda: pending_records(spool_dir / "influx") == 0, within=30)
        finally:
            gateway.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(gateway.wait, 30)
            except subprocess.TimeoutExpired:
                gateway.kill()
            assert gateway.stdout is not None
            gateway.stdout.close()
    assert sent == 5 * first
    assert arrived == sent  # every report once: none lost, none doubled


async def test_the_gateway_stops_within_its_shutdown_timeout_while_influxdb_hangs(
    service_state: ServiceState,
    topics: Topics,
    own_influx: tuple[Influxd, InfluxClient],
    tmp_path: Path,
) -> None:
    """influxd frozen (SIGSTOP: connections open, no answer) while reports flow: the gateway,
    told to stop, ends within its `shutdown_timeout_s` all the same."""
    server, _influx = own_influx
    timeout_s = 4.0
    async with running(service_state, topics.root, sites=(MQTT_SITE,), as_devices=True) as sim:
        gateway = GatewayProcess(
            tmp_path / "gw", service_state, topics.root, sim.world.inventory,
            influx_url=server.url(), influx_db="gw",
            config={"readings": {"max_ahead_s": None, "max_age_s": None},
                    "shutdown_timeout_s": timeout_s},
        )  # fmt: skip
        status = f"{topics.base}/status/gateway/gw-test"
        async with Listener(MqttUrl.parse(service_state.mqtt_url), [status]) as seen:
            gateway.start()
            await eventually(lambda: bool(seen.on("/status/")), within=30, what="online")
        pid = server.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            clock = clock_of(sim)
            for _ in range(3):
                await clock.advance(60)
                await asyncio.sleep(0.5)
            took = await gateway.stop(within=3 * timeout_s)
        finally:
            os.kill(pid, signal.SIGCONT)
            if gateway.alive:
                await gateway.kill()
    assert took < timeout_s + 1.0, f"{took:.1f} s\n{gateway.output()}"
