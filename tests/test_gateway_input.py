"""Bad input reaches the gateway: it is counted by kind, stored nowhere, and the loops go on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.mqtt import make_client
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.helpers import eventually
from tests.simulation import MODBUS_A_SITE, MQTT_SITE, clock_of, running


def _errors(gateway: Gateway) -> dict[str, int]:
    return dict(gateway.health.errors)


async def _lamp_rows(influx: InfluxClient) -> list[dict[str, Any]]:
    series = await influx.query("SELECT * FROM lamp GROUP BY *")
    return [row for s in series for row in s.rows()]


async def test_malformed_reports_are_counted_and_not_stored(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    settings = role_settings(service_state, topics, influx, "gateway")
    async with (
        running(service_state, topics.root, sites=(MQTT_SITE,)) as sim,
        running_gateway(
            sim, settings, config_for(sim, tmp_path / "spool", modbus={"endpoints": []})
        ) as gateway,
    ):
        lamp = min(sim.world.lamps)
        data = {"U": 2200, "I": 180, "P": 400, "PF": 95, "E": 100, "dim": 100, "sw": 1, "T": 300,
                "rt": 10, "alm": 0}  # fmt: skip
        good: dict[str, Any] = {"devId": lamp, "ts": 1797858000, "data": data}

        def changed(**fields: Any) -> bytes:
            return json.dumps({**good, "data": {**data, **fields}}).encode()

        cases: list[tuple[str, bytes]] = [
            (lamp, json.dumps(good).encode()[:-7]),  # truncated JSON
            (lamp, b"\x00\xff\xfe binary garbage \x01"),
            (lamp, b"[1, 2, 3]"),
            (lamp, changed(U="two hundred")),  # wrong type
            (lamp, changed(sw=7)),  # wrong type for a switch
            (lamp, changed(U=99_999_999)),  # huge: 9,999,999.9 V
            (lamp, changed(PF=-40)),  # out of range
            ("NOPE", json.dumps({**good, "devId": "NOPE"}).encode()),  # unknown lamp
            (lamp, json.dumps({"devId": lamp, "ts": 1797858000, "data": {"U": 2200}}).encode()),
        ]
        async with make_client(
            MqttUrl.parse(service_state.url_for("slc-mqtt-a")), identifier="bad-node"
        ) as node:
            for device, payload in cases:
                await node.publish(f"{topics.root}/slc-a/{device}/report", payload, qos=1)
            await node.publish(
                f"{topics.root}/slc-a/{lamp}/report", json.dumps(good).encode(), qos=1
            )
        await eventually(
            lambda: sum(_errors(gateway).values()) == len(cases), what="every case counted"
        )
        await eventually(
            lambda: gateway.outputs is not None and gateway.outputs.writer.stats.lines_written >= 1
        )
        rows = await _lamp_rows(influx)

    assert _errors(gateway) == {
        "malformed": 3,
        "wrong_type": 2,
        "out_of_range": 2,
        "unknown_device": 1,
        "unmapped": 1,
    }
    assert [(r["lamp"], r["voltage_v"]) for r in rows] == [(lamp, 220.0)]  # only the good one


async def test_wrong_register_replies_are_counted_and_polling_goes_on(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    settings = role_settings(service_state, topics, influx, "gateway")
    async with running(service_state, topics.root, sites=(MODBUS_A_SITE,)) as sim:
        config = config_for(sim, tmp_path / "spool", mqtt={"profiles": []})
        endpoints = [e.model_dump() for e in config.modbus.endpoints]
        # the first cabinet configured as the other model: its registers are not there
        endpoints[0] = {
            **endpoints[0],
            "profile": "cabinet-modbus-b",
            "lamp_profile": "slc-modbus-b",
        }
        config = config_for(
            sim, tmp_path / "spool", mqtt={"profiles": []}, modbus={"endpoints": endpoints}
        )
        async with running_gateway(sim, settings, config) as gateway:
            for _ in range(3):
                await clock_of(sim).advance(60)
            await eventually(lambda: _errors(gateway).get("modbus_exception", 0) >= 3)
            good = endpoints[1]["cabinet"]
            await eventually(
                lambda: (
                    gateway.outputs is not None and gateway.outputs.writer.stats.lines_written > 0
                )
            )
            await asyncio.sleep(0.3)
            rows = await _lamp_rows(influx)
    assert {r["cabinet"] for r in rows} == {good}  # the well-configured cabinet kept being read
