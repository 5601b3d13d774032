"""The example vendor profiles (examples/profiles/) onboard their devices by profile alone: each
recorded sample, published by its device class on the real broker, reaches InfluxDB through
the gateway with exact values and appears on the bus as canonical telemetry."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import GatewayConfig
from streetlight.clock import ManualClock
from streetlight.contract import TelemetryBatch, Topics, decode
from streetlight.domain import Inventory
from streetlight.influx import InfluxClient
from streetlight.mqtt import make_client
from streetlight.profiles import MqttLampProfile, load_profiles
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.conftest import EXAMPLE_PROFILES
from tests.gateway_rig import role_settings
from tests.helpers import Listener, eventually, running_role, subset
from tests.simulation import MQTT_SITE, NIGHT, profiles

SAMPLES = EXAMPLE_PROFILES / "samples"
# profile: (lamp, its device address or None, the {device} of the report topic)
DEVICES = {
    "lwm2m-ipso-light": ("PP-S04-L001", "urn:imei:869975031234567", "urn:imei:869975031234567"),
    # the inventory writes the DevEUI in capitals, the node in small letters: the same address
    "senml-lorawan-node": ("PP-S04-L002", "70B3D59BA0000123", "70b3d59ba0000123"),
    "ctwing-nbiot-push": ("PP-S04-L003", "869975031234568", None),
    "fiware-ngsi-streetlight": ("PP-S04-L004", None, None),
}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# what each sample says, in the contract's units (worked out by hand from the sample files)
EXPECTED: dict[str, dict[str, Any]] = {
    "lwm2m-ipso-light": {  # no time in the report: the gateway's time of receipt
        "ts": NIGHT, "relay_on": True, "dim_pct": 80, "voltage_v": 229.1, "current_a": 0.178,
        "power_w": 39.6, "power_factor": 0.97, "energy_wh": 18334.0, "driver_temp_c": 41.5,
        "burning_hours": 1520.5, "faults": [],
    },
    "senml-lorawan-node": {  # 66,006,000 J = 18,335 Wh; 5,473,800 s on = 1,520.5 h
        "ts": _at("2026-12-21T13:00:31Z"), "relay_on": True, "dim_pct": 80, "voltage_v": 229.4,
        "current_a": 0.182, "power_w": 39.1, "power_factor": 0.94, "energy_wh": 18335.0,
        "driver_temp_c": 41.5, "burning_hours": 1520.5, "faults": [],
    },
    "ctwing-nbiot-push": {  # "ON"; 2217 x 0.1 V; 121 mA; 258 x 0.1 W; 96 %; 18.335 kWh
        "ts": _at("2026-12-21T13:00:31.123Z"), "relay_on": True, "dim_pct": 60,
        "voltage_v": 221.7, "current_a": 0.121, "power_w": 25.8, "power_factor": 0.96,
        "energy_wh": 18335.0, "driver_temp_c": 38.7, "burning_hours": 1520.5, "faults": [],
    },
    "fiware-ngsi-streetlight": {  # powerState "low" is lit; illuminanceLevel 0.3; defectiveLamp
        "ts": _at("2026-12-21T21:40:31+08:00"), "relay_on": True, "dim_pct": 30,
        "voltage_v": 224.6, "current_a": 0.061, "power_w": 13.2, "power_factor": 0.93,
        "energy_wh": 18336.0, "faults": ["lamp_open"],
    },
}  # fmt: skip


def _inventory() -> Inventory:
    """The back street of the sample district, four of its lamps fitted with the examples'
    nodes."""
    base = subset((MQTT_SITE,))
    lamps = dict(base.lamps)
    for profile_id, (lamp_id, address, _) in DEVICES.items():
        lamps[lamp_id] = dataclasses.replace(
            lamps[lamp_id], profile=profile_id, device_address=address
        )
    return dataclasses.replace(base, lamps=lamps)


async def _rows(influx: InfluxClient) -> dict[str, dict[str, Any]]:
    series = await influx.query("SELECT * FROM lamp GROUP BY *")
    return {row["lamp"]: row for s in series for row in s.rows()}


@pytest.mark.parametrize("profile_id", sorted(DEVICES))
def test_each_example_profile_loads_and_has_a_sample(profile_id: str) -> None:
    profile = load_profiles(EXAMPLE_PROFILES)[profile_id]
    assert isinstance(profile, MqttLampProfile)
    assert (SAMPLES / f"{profile_id}.json").is_file()


async def test_every_sample_lands_in_influxdb_exactly_and_on_the_bus(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    examples = load_profiles(EXAMPLE_PROFILES)
    config = GatewayConfig.model_validate(
        {
            "id": "gw-examples",
            "mqtt": {"profiles": sorted(DEVICES)},
            "spool": {"dir": str(tmp_path / "spool"), "max_mb": 8},
            "health_interval_s": 3600,
            "influx_flush_s": 0.1,
        }
    )
    clock = ManualClock(NIGHT)
    gateway = Gateway(
        config,
        config_dir=tmp_path,
        settings=role_settings(service_state, topics, influx, "gateway"),
        inventory=_inventory(),
        profiles={**profiles(), **examples},
        clock=clock,
    )
    bus = f"{topics.root}/v1/telemetry/#"
    async with (
        Listener(MqttUrl.parse(service_state.mqtt_url), [bus]) as seen,
        running_role("gateway", gateway.run, gateway.ready),
    ):
        for profile_id, (_, _, device) in DEVICES.items():
            profile = examples[profile_id]
            assert isinstance(profile, MqttLampProfile)
            topic = profile.topics.report.format(root=topics.root, device=device)
            url = MqttUrl.parse(service_state.url_for(profile_id))  # as the device class
            async with make_client(url, identifier=f"example-{profile_id}") as node:
                sample = (SAMPLES / f"{profile_id}.json").read_bytes()
                await node.publish(topic, sample, qos=1)
        rows: dict[str, dict[str, Any]] = {}
        for _ in range(100):
            rows = await _rows(influx)
            if len(rows) == len(DEVICES):
                break
            await asyncio.sleep(0.1)
        lamps = {lamp for lamp, _, _ in DEVICES.values()}

        def on_bus() -> dict[str, Any]:
            batches = [decode(TelemetryBatch, p) for t, p in seen.messages if "/telemetry/" in t]
            return {r.lamp: r for batch in batches for r in batch.lamps if r.lamp in lamps}

        await eventually(lambda: len(on_bus()) == len(DEVICES), what="canonical telemetry")
        errors = dict(gateway.health.errors)

    assert errors == {}
    canonical = on_bus()
    for profile_id, (lamp, _, _) in DEVICES.items():
        expected = EXPECTED[profile_id]
        row, copy = rows[lamp], canonical[lamp]
        assert row["time"] == int(expected["ts"].timestamp() * 1000) * 1_000_000, profile_id
        assert copy.ts == expected["ts"], profile_id
        for name, value in expected.items():
            if name == "ts":
                continue
            stored = row[name]
            if name == "faults":
                stored = [flag for flag in stored.split(",") if flag]
            assert stored == value, f"{profile_id} {name}: {stored!r} in InfluxDB"
            assert getattr(copy, name) == value, f"{profile_id} {name} on the bus"
        # a reading without the device's own time says so
        assert copy.ts_source == ("gateway" if profile_id == "lwm2m-ipso-light" else None)
    assert sorted(rows) == sorted(lamps)
