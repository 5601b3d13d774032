"""The example vendor profiles (examples/profiles/) onboard their devices by profile alone: each
recorded sample, published by its device class on the real broker, reaches InfluxDB through
the gateway with exact values and appears on the bus as canonical telemetry."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway
from gateway.config import GatewayConfig
from simulator.app import Simulator
from simulator.world import SimulatorError
from streetlight.clock import ManualClock
from streetlight.contract import (
    AckOutcome,
    Command,
    CommandAck,
    Target,
    TargetKind,
    TelemetryBatch,
    Topics,
    decode,
    encode,
)
from streetlight.domain import Inventory
from streetlight.influx import InfluxClient
from streetlight.mqtt import make_client
from streetlight.profiles import MqttLampProfile, load_profiles
from streetlight.scenario import Scenario
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
            # recorded samples, each of its own day: no window around the clock
            "readings": {"max_ahead_s": None, "max_age_s": None},
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


def _ctwing_district() -> Inventory:
    """The back street, its first three lamps on the AEP platform's nodes, by IMEI."""
    base = subset((MQTT_SITE,))
    lamps = dict(base.lamps)
    for index, lamp_id in enumerate(sorted(lamps)[:3]):
        lamps[lamp_id] = dataclasses.replace(
            lamps[lamp_id], profile="ctwing-nbiot-push", device_address=f"86997503123450{index}"
        )
    return dataclasses.replace(base, lamps=lamps)


async def test_the_simulator_plays_an_example_profile_and_obeys_its_commands(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    """The AEP push profile both ways: IMEIs in the body and one topic for every report, ON/OFF,
    mA and kWh from the simulated nodes; a command in the platform's nested body, answered
    SUCCESS, switches the node."""
    every = {**profiles(), **load_profiles(EXAMPLE_PROFILES)}
    inventory = _ctwing_district()
    simulator = Simulator(
        inventory,
        every,
        Scenario(),
        ManualClock(NIGHT),
        mqtt_url=MqttUrl.parse(service_state.mqtt_url),
        field_root=topics.root,
    )
    ctwing = sorted(i for i, lamp in inventory.lamps.items() if lamp.profile == "ctwing-nbiot-push")
    config = GatewayConfig.model_validate(
        {
            "id": "gw-ctwing",
            "mqtt": {"profiles": ["ctwing-nbiot-push", "slc-mqtt-a"]},
            "spool": {"dir": str(tmp_path / "spool"), "max_mb": 8},
            "commands": {"timeout_s": 2.0, "attempts": 2},
            "health_interval_s": 3600,
            "influx_flush_s": 0.1,
        }
    )
    gateway = Gateway(
        config,
        config_dir=tmp_path,
        settings=role_settings(service_state, topics, influx, "gateway"),
        inventory=inventory,
        profiles=every,
        clock=simulator.world.clock,
    )
    acks = f"{topics.root}/v1/ack/#"
    async with (
        simulator,
        Listener(MqttUrl.parse(service_state.mqtt_url), [acks]) as seen,
        running_role("gateway", gateway.run, gateway.ready),
    ):
        await eventually(lambda: all(link.connected for link in simulator.nodes.links))
        clock = simulator.world.clock
        assert isinstance(clock, ManualClock)
        await clock.advance(60)
        rows: dict[str, dict[str, Any]] = {}
        for _ in range(100):
            rows = await _rows(influx)
            if set(ctwing) <= set(rows):
                break
            await asyncio.sleep(0.1)
        command = Command(
            id="c-ctwing-1",
            target=Target(kind=TargetKind.LAMP, id=ctwing[0]),
            on=False,
            issued_at=clock.now(),
            origin="controller",
        )
        controller = MqttUrl.parse(service_state.url_for("controller"))
        async with make_client(controller, identifier="example-controller") as client:
            await client.publish(topics.command(TargetKind.LAMP, ctwing[0]), encode(command), qos=1)
        await eventually(lambda: bool(seen.on("/ack/")), within=15, what="the command's ack")
        errors = dict(gateway.health.errors)
    assert errors == {}
    for lamp in ctwing:  # the simulated node's own reading, through the profile both ways
        state = simulator.world.lamps[lamp]
        assert rows[lamp]["relay_on"] is True
        assert 200 < rows[lamp]["voltage_v"] < 240
        assert rows[lamp]["energy_wh"] > 0
        assert rows[lamp]["dim_pct"] == state.level
    ack = decode(CommandAck, json.dumps(seen.on("/ack/")[0]).encode())
    assert (ack.command_id, ack.outcome) == ("c-ctwing-1", AckOutcome.DONE)
    assert simulator.world.lamps[ctwing[0]].relay is False


def test_the_simulator_refuses_a_profile_it_cannot_write() -> None:
    """SenML's records are found by a filter: readable, not writable."""
    every = {**profiles(), **load_profiles(EXAMPLE_PROFILES)}
    base = subset((MQTT_SITE,))
    lamp = min(base.lamps)
    lamps = {
        **base.lamps,
        lamp: dataclasses.replace(
            base.lamps[lamp], profile="senml-lorawan-node", device_address="70b3d59ba0000123"
        ),
    }
    with pytest.raises(
        SimulatorError,
        match=r"senml-lorawan-node: report.device.pattern: the simulator cannot write",
    ):
        Simulator(
            dataclasses.replace(base, lamps=lamps),
            every,
            Scenario(),
            ManualClock(NIGHT),
            mqtt_url=MqttUrl.parse("mqtt://127.0.0.1:1"),
        )
