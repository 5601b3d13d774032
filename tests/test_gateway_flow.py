"""Simulator → Mosquitto → gateway → influxd, for MQTT nodes and Modbus cabinets: every report
arrives in InfluxDB with its values and its simulated time, and on the bus as canonical
telemetry. Everyone connects as their own identity on the closed broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streetlight.contract import GatewayHealth, TelemetryBatch, Topics, decode
from streetlight.influx import InfluxClient, quote_ident
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.helpers import Listener, eventually
from tests.simulation import MODBUS_A_SITE, MODBUS_B_SITE, MQTT_SITE, clock_of, running, sent_all


async def _points(influx: InfluxClient, measurement: str, where: str = "") -> list[dict[str, Any]]:
    series = await influx.query(f"SELECT * FROM {quote_ident(measurement)} {where} GROUP BY *")
    return [row for s in series for row in s.rows()]


async def test_every_report_lands_in_influxdb_with_its_values_and_simulated_time(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    admin = MqttUrl.parse(service_state.mqtt_url)
    settings = role_settings(service_state, topics, influx, "gateway")
    async with (
        running(
            service_state,
            topics.root,
            sites=(MQTT_SITE, MODBUS_A_SITE, MODBUS_B_SITE),
            as_devices=True,
        ) as sim,
        Listener(admin, [f"{topics.root}/slc-a/+/report", f"{topics.root}/v1/telemetry/#"]) as seen,
        running_gateway(sim, settings, config_for(sim, tmp_path / "spool")),
    ):
        clock = clock_of(sim)
        for _ in range(3):
            await clock.advance(60)
        mqtt_lamps = {lamp.lamp.id for lamp in sim.world.mqtt_lamps["slc-mqtt-a"]}
        modbus_lamps = {lamp.lamp.id for lamps in sim.world.modbus_lamps.values() for lamp in lamps}
        sent = await sent_all(sim)
        await eventually(lambda: len(seen.on("/report")) == sent, what="the vendor reports")
        vendor = seen.on("/report")
        # 3 MQTT reports a lamp; each Modbus lamp polled at 0, 60, 120 and 180 s
        rows: list[dict[str, Any]] = []
        for _ in range(100):
            rows = await _points(influx, "lamp")
            mqtt_rows = [r for r in rows if r["lamp"] in mqtt_lamps]
            modbus_rows = [r for r in rows if r["lamp"] in modbus_lamps]
            if len(mqtt_rows) == sent and len(modbus_rows) >= 3 * len(modbus_lamps):
                break
            await asyncio.sleep(0.1)

        def batches() -> list[TelemetryBatch]:
            return [decode(TelemetryBatch, p) for t, p in seen.messages if "/v1/telemetry/" in t]

        def canonical_mqtt() -> int:
            return sum(1 for b in batches() for lamp in b.lamps if lamp.lamp in mqtt_lamps)

        await eventually(lambda: canonical_mqtt() >= sent, what="the controller's copy")
        canonical = [lamp for batch in batches() for lamp in batch.lamps]
        cabinets = [cabinet for batch in batches() for cabinet in batch.cabinets]
        topics_seen = {t for t, _ in seen.messages if "/v1/telemetry/" in t}

    assert sent == 3 * len(mqtt_lamps)
    assert len(mqtt_rows) == sent
    by_key = {(r["lamp"], r["time"]): r for r in mqtt_rows}
    for report in vendor:  # the values and the device's own (simulated) time
        row = by_key[(report["devId"], report["ts"] * 1_000_000_000)]
        data = report["data"]
        assert row["voltage_v"] == data["U"] / 10  # 0.1 V, exactly: 2214 is 221.4
        assert row["power_w"] == data["P"] / 10
        assert row["current_a"] == data["I"] / 1000
        assert row["dim_pct"] == data["dim"]
        assert row["relay_on"] is bool(data["sw"])
        assert row["faults"] == ""
        assert row["site"] == MQTT_SITE
    assert len(modbus_rows) >= 3 * len(modbus_lamps)
    start = datetime(2026, 12, 21, 13, 0, tzinfo=UTC).timestamp()
    for row in modbus_rows:  # polled at the simulated clock's times, within the three minutes
        assert start * 1e9 <= row["time"] <= (start + 181) * 1e9
        assert 200 < row["voltage_v"] < 240
        assert row["power_w"] > 10
    assert {r["lamp"] for r in modbus_rows} == modbus_lamps
    # the controller's copy, on the bus: each report once, with the values written to InfluxDB
    assert topics_seen == {f"{topics.root}/v1/telemetry/gateway/gw-test"}
    on_bus = {(c.lamp, c.ts.timestamp()): c for c in canonical if c.lamp in mqtt_lamps}
    assert len(on_bus) == sent
    for report in vendor:
        copy = on_bus[(report["devId"], report["ts"])]
        row = by_key[(report["devId"], report["ts"] * 1_000_000_000)]
        assert (copy.power_w, copy.voltage_v, copy.dim_pct) == (
            row["power_w"], row["voltage_v"], row["dim_pct"]
        )  # fmt: skip
    assert {c.lamp for c in canonical} >= modbus_lamps
    assert {c.cabinet for c in cabinets} == set(sim.world.cabinets)
    phases = await _points(influx, "cabinet_phase")
    assert {(r["cabinet"], r["phase"]) for r in phases} == {
        (cabinet, phase) for cabinet in sim.world.cabinets for phase in "ABC"
    }


async def test_health_goes_to_the_bus_and_influxdb(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    settings = role_settings(service_state, topics, influx, "gateway")
    health_topic = f"{topics.root}/v1/health/gateway/gw-test"
    async with (
        running(
            service_state, topics.root, sites=(MQTT_SITE, MODBUS_A_SITE), as_devices=True
        ) as sim,
        Listener(MqttUrl.parse(service_state.mqtt_url), [health_topic]) as seen,
        running_gateway(sim, settings, config_for(sim, tmp_path / "spool", health_interval_s=0.5)),
    ):
        await clock_of(sim).advance(60)
        await eventually(
            lambda: any(r["lines_written"] > 0 for r in seen.on("/health/")), what="health"
        )
        for _ in range(50):
            rows = await _points(influx, "gateway_health")
            if rows:
                break
            await asyncio.sleep(0.2)
    report = decode(GatewayHealth, json.dumps(seen.on("/health/")[-1]).encode())
    assert report.gateway == "gw-test"
    assert report.reports_in > 0
    assert report.devices_online > 0
    assert rows
    assert rows[-1]["gateway"] == "gw-test"
    assert rows[-1]["messages_in"] > 0


async def test_a_modbus_cabinet_that_answers_is_published_online_and_counted(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    """Nothing is assumed: a cabinet is online once it has answered a poll, and says so."""
    settings = role_settings(service_state, topics, influx, "gateway")
    status = f"{topics.root}/v1/status/#"
    async with (
        running(service_state, topics.root, sites=(MODBUS_A_SITE,)) as sim,
        Listener(MqttUrl.parse(service_state.mqtt_url), [status]) as seen,
        running_gateway(sim, settings, config_for(sim, tmp_path / "spool")) as gateway,
    ):
        cabinets = set(sim.world.cabinets)
        lamps = {lamp.lamp.id for lamps in sim.world.modbus_lamps.values() for lamp in lamps}

        def online(kind: str) -> set[str]:
            return {
                s["device"]["id"]
                for s in seen.on(f"/status/{kind}/")
                if s["online"] and s["device"]["kind"] == kind
            }

        await clock_of(sim).advance(60)
        await eventually(lambda: online("cabinet") == cabinets, what="cabinets online")
        await eventually(lambda: online("lamp") == lamps, what="lamps online")
        assert gateway.outputs is not None
        report = gateway.outputs.health_report(sim.world.clock.now())
    assert report.devices_online == len(cabinets) + len(lamps)
    assert report.devices_offline == 0
