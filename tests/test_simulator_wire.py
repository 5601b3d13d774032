"""The simulator on the wire: independent clients see what the documented map and format say.

mosquitto_sub and mbpoll (Debian's own MQTT and Modbus clients) read a running simulator on a
manual clock, so every reading can be checked against the simulation at the same instant.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from simulator.app import Simulator
from simulator.modbus_server import Endpoint
from streetlight.contract import Topics
from streetlight.domain import STANDBY_W, lamp_power_w
from streetlight.mqtt import client_id, make_client
from streetlight.profiles import ModbusCabinetProfile, ModbusLampProfile, MqttLampProfile, decode
from streetlight.scenario import FaultEventKind
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.helpers import Listener, eventually
from tests.simulation import (
    MODBUS_A_SITE,
    MODBUS_B_SITE,
    MQTT_SITE,
    clock_of,
    endpoint,
    mbpoll,
    mbpoll_write,
    profiles,
    running,
    sent_all,
    words,
)


def _cabinet_of_site(simulator: Simulator, site: str) -> str:
    return next(c for c in sorted(simulator.world.cabinets) if c.startswith(site))


def _concentrator_of_site(simulator: Simulator, site: str) -> tuple[Endpoint, ModbusLampProfile]:
    """The first cabinet of a Modbus site: its endpoint and its lamps' profile."""
    where = endpoint(simulator, _cabinet_of_site(simulator, site))
    assert where.lamp_profile is not None
    profile = profiles()[where.lamp_profile]
    assert isinstance(profile, ModbusLampProfile)
    return where, profile


def _report_filter(root: str) -> str:
    return f"{root}/slc-a/+/report"


async def test_mosquitto_sub_sees_every_report_once_per_interval(
    service_state: ServiceState, topics: Topics
) -> None:
    url = MqttUrl.parse(service_state.mqtt_url)
    sentinel = f"{topics.root}/slc-a/END/report"
    subscriber = await asyncio.create_subprocess_exec(
        "mosquitto_sub", "-h", "127.0.0.1", "-p", str(url.port), "-t", _report_filter(topics.root),
        "-u", url.username or "", "-P", url.password or "", "-v", "-q", "1", "-W", "120",
        "-i", client_id(url, f"sub-{topics.root}"),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert subscriber.stdout is not None
    lines: list[str] = []
    try:
        async with make_client(url, identifier="test-sentinel") as client:
            # mosquitto_sub is subscribed once it prints what we publish
            while not lines:
                await client.publish(sentinel, b"{}", qos=1)
                try:
                    lines.append(
                        (await asyncio.wait_for(subscriber.stdout.readline(), 0.5)).decode()
                    )
                except TimeoutError:
                    continue
            async with running(service_state, topics.root, sites=(MQTT_SITE,)) as simulator:
                lamps = simulator.world.mqtt_lamps["slc-mqtt-a"]
                clock = clock_of(simulator)
                start = clock.now().timestamp()
                for _ in range(3):
                    await clock.advance(60)
                    await sent_all(simulator)
            await client.publish(sentinel, b"{}", qos=1)  # after every report was acknowledged
            while True:
                line = (await asyncio.wait_for(subscriber.stdout.readline(), 20)).decode()
                if line.startswith(sentinel):
                    break
                lines.append(line)
    finally:
        subscriber.kill()
        await subscriber.wait()
    per_interval: dict[tuple[str, int], int] = {}
    for line in lines[1:]:
        topic, payload = line.split(" ", 1)
        report = json.loads(payload)
        assert topic == f"{topics.root}/slc-a/{report['devId']}/report"
        key = (report["devId"], int((report["ts"] - start) // 60))
        per_interval[key] = per_interval.get(key, 0) + 1
    assert per_interval == {(lamp.lamp.id, k): 1 for lamp in lamps for k in range(3)}


async def test_report_follows_the_vendor_format(
    service_state: ServiceState, topics: Topics
) -> None:
    profile = profiles()["slc-mqtt-a"]
    assert isinstance(profile, MqttLampProfile)
    async with (
        running(service_state, topics.root, sites=(MQTT_SITE,)) as simulator,
        Listener(MqttUrl.parse(service_state.mqtt_url), [_report_filter(topics.root)]) as listener,
    ):
        await clock_of(simulator).advance(60)
        lamps = simulator.world.mqtt_lamps["slc-mqtt-a"]
        await eventually(lambda: len(listener.messages) == len(lamps), what="one report per lamp")
        world_now = simulator.world.now
        for report in listener.on("/report"):
            lamp = simulator.world.lamps[report["devId"]]
            reading = lamp.reading(report["ts"] if report["ts"] >= lamp.t else world_now)
            data = report["data"]
            assert set(data) == {"U", "I", "P", "PF", "E", "dim", "sw", "T", "rt", "alm"}
            assert data["sw"] == 1  # lit at 21:00
            assert data["dim"] == 100
            # the vendor's integer units: 0.1 V, mA, 0.1 W, %, Wh
            assert abs(data["U"] / 10 - reading.voltage_v) < 1.0
            assert abs(data["P"] / 10 - lamp.rated * lamp.tolerance - STANDBY_W) < 0.02 * lamp.rated
            assert abs(data["U"] / 10 * data["I"] / 1000 * data["PF"] / 100 - data["P"] / 10) < 1.5
            assert data["alm"] == 0


async def test_dim_command_changes_power_within_one_interval(
    service_state: ServiceState, topics: Topics
) -> None:
    url = MqttUrl.parse(service_state.mqtt_url)
    async with (
        running(service_state, topics.root, sites=(MQTT_SITE,)) as simulator,
        Listener(url, [f"{topics.root}/slc-a/#"]) as listener,
    ):
        lamp = simulator.world.mqtt_lamps["slc-mqtt-a"][0]
        lamp_id = lamp.lamp.id
        async with make_client(url, identifier="test-commander") as client:
            command = {"cmdId": "c-1", "sw": 1, "dim": 50}
            await client.publish(f"{topics.root}/slc-a/{lamp_id}/cmd", json.dumps(command), qos=1)
            await eventually(lambda: bool(listener.on(f"{lamp_id}/ack")), what="the node's ack")
        assert listener.on(f"{lamp_id}/ack")[0] == {
            "cmdId": "c-1",
            "ok": True,
            "code": 0,
            "ts": listener.on(f"{lamp_id}/ack")[0]["ts"],
        }
        await clock_of(simulator).advance(60)
        await eventually(lambda: bool(listener.on(f"{lamp_id}/report")), what="the report")
        data = listener.on(f"{lamp_id}/report")[-1]["data"]
        expected = lamp_power_w(lamp.rated * lamp.tolerance, True, 50)
        assert data["dim"] == 50
        assert abs(data["P"] / 10 - expected) <= 0.01 * expected + 0.1


async def test_group_command_reaches_every_node_of_the_circuit(
    service_state: ServiceState, topics: Topics
) -> None:
    url = MqttUrl.parse(service_state.mqtt_url)
    async with (
        running(service_state, topics.root, sites=(MQTT_SITE,)) as simulator,
        Listener(url, [f"{topics.root}/slc-a/+/ack"]) as listener,
    ):
        circuit = simulator.world.inventory.cabinets[
            _cabinet_of_site(simulator, MQTT_SITE)
        ].circuit_ids[0]
        members = [
            lamp_.lamp.id
            for lamp_ in simulator.world.mqtt_lamps["slc-mqtt-a"]
            if lamp_.lamp.circuit_id == circuit
        ]
        async with make_client(url, identifier="test-commander") as client:
            topic = f"{topics.root}/slc-a/group/{circuit}/cmd"
            await client.publish(topic, json.dumps({"cmdId": "g-1", "sw": 0, "dim": 0}), qos=1)
            await client.publish(topic, b"\xff not json", qos=1)
        await eventually(
            lambda: len(listener.messages) == 2 * len(members), what="two acks per node"
        )
        acks = listener.on("/ack")
        assert sorted(t.split("/")[-2] for t, _ in listener.messages) == sorted(members * 2)
        assert sum(
            a == {"cmdId": "g-1", "ok": True, "code": 0, "ts": a["ts"]} for a in acks
        ) == len(members)
        assert sum(a["ok"] is False and a["code"] == 1 for a in acks) == len(members)
        assert all(not simulator.world.lamps[m].relay for m in members)


async def test_mbpoll_reads_a_cabinet_consistent_with_the_map_and_the_mqtt_reports(
    service_state: ServiceState, topics: Topics
) -> None:
    """The cabinet meter (over Modbus) adds up what its lamps report (over MQTT)."""
    profile = profiles()["cabinet-modbus-a"]
    assert isinstance(profile, ModbusCabinetProfile)
    async with (
        running(service_state, topics.root, sites=(MQTT_SITE,)) as simulator,
        Listener(MqttUrl.parse(service_state.mqtt_url), [_report_filter(topics.root)]) as listener,
    ):
        await clock_of(simulator).advance(60)  # every lamp reports once
        lamps = simulator.world.mqtt_lamps["slc-mqtt-a"]
        await eventually(lambda: len(listener.messages) == len(lamps), what="one report per lamp")
        cabinet_id = _cabinet_of_site(simulator, MQTT_SITE)
        where = endpoint(simulator, cabinet_id)
        raw = words(await mbpoll(where, "input", 0, 24))
        reported = {r["devId"]: r["data"]["P"] / 10 for r in listener.on("/report")}
    for phase in range(3):
        fields = {
            name: decode(
                spec,
                raw[spec.address_of(phase) : spec.address_of(phase) + spec.width],
                "big",
                "big",
            )
            for name, spec in profile.phases.items()
        }
        on_phase = [
            reported[lamp_.lamp.id]
            for lamp_ in lamps
            if lamp_.phase_index == phase and lamp_.cabinet.cabinet.id == cabinet_id
        ]
        expected = sum(on_phase) * 1.02 + (12.0 if phase == 0 else 0.0)
        assert abs(float(fields["power_w"]) - expected) <= 0.01 * expected + 0.5, (
            phase,
            fields,
            expected,
        )
        assert 200 < float(fields["voltage_v"]) < 240
        assert float(fields["power_factor"]) <= 1.0
        # P = V * I * PF, to the registers' resolution
        apparent = (
            float(fields["voltage_v"]) * float(fields["current_a"]) * float(fields["power_factor"])
        )
        assert abs(apparent - float(fields["power_w"])) <= 0.02 * float(fields["power_w"]) + 3


@pytest.mark.parametrize("site", [MODBUS_A_SITE, MODBUS_B_SITE])
async def test_mbpoll_reads_a_lamp_as_the_profile_says(
    service_state: ServiceState, topics: Topics, site: str
) -> None:
    async with running(service_state, topics.root, sites=(site,)) as simulator:
        where, profile = _concentrator_of_site(simulator, site)
        lamp_id, slot = sorted(where.lamps.items())[2]
        lamp = simulator.world.lamps[lamp_id]
        first = min(spec.address_of(slot - 1) for spec in profile.fields.values())
        count = (
            max(spec.address_of(slot - 1) + spec.width for spec in profile.fields.values()) - first
        )
        raw = words(await mbpoll(where, "holding", first, count))
        reading = lamp.reading(simulator.world.now)
        values = {
            name: decode(
                spec,
                raw[spec.address_of(slot - 1) - first :][: spec.width],
                profile.word_order,
                profile.byte_order,
            )
            for name, spec in profile.fields.items()
        }
        if profile.word_order == "little":  # an independent decoding of the float registers
            floats = await mbpoll(
                where, "holding", profile.fields["power_w"].address_of(slot - 1), 1, "float"
            )
            assert abs(float(next(iter(floats.values()))) - reading.power_w) < 0.01
    assert values["relay_on"] is True
    assert values["dim_pct"] == 100
    assert values["online"] is True
    assert values["faults"] == 0
    assert abs(float(values["power_w"]) - reading.power_w) <= 0.1
    assert abs(float(values["voltage_v"]) - reading.voltage_v) <= 0.1
    assert abs(float(values["energy_wh"]) - reading.energy_wh) <= 10
    assert abs(float(values["driver_temp_c"]) - reading.driver_temp_c) <= 1


async def test_modbus_writes_command_lamps_and_contactors(
    service_state: ServiceState, topics: Topics
) -> None:
    async with running(service_state, topics.root, sites=(MODBUS_A_SITE,)) as simulator:
        cabinet_id = _cabinet_of_site(simulator, MODBUS_A_SITE)
        where = endpoint(simulator, cabinet_id)
        profile = profiles()["slc-modbus-a"]
        assert isinstance(profile, ModbusLampProfile)
        lamp_id, slot = min(where.lamps.items())
        lamp = simulator.world.lamps[lamp_id]
        dim = profile.fields["dim_pct"].address_of(slot - 1)

        status, output = await mbpoll_write(where, "holding", dim, 30)
        assert status == 0, output
        assert (lamp.relay, lamp.level) == (True, 30)

        status, output = await mbpoll_write(where, "holding", dim, 130)  # no such level
        assert status != 0
        assert "Illegal data value" in output
        status, output = await mbpoll_write(where, "holding", dim - 6, 2200)  # voltage: read-only
        assert status != 0
        assert "Illegal data address" in output

        await simulator.world.apply(
            simulator.world.fault_event(f"lamp:{lamp_id}", "lamp_offline", FaultEventKind.START)
        )
        status, output = await mbpoll_write(where, "holding", dim, 80)
        assert status != 0  # the concentrator cannot reach it
        assert lamp.level == 30

        # contactor of circuit 1: off, and its lamps lose supply
        status, output = await mbpoll_write(where, "coil", 0, 0)
        assert status == 0, output
        coils = await mbpoll(where, "coil", 0, 2)
        assert [coils[0], coils[1]] == ["0", "1"]
        circuit = simulator.world.inventory.cabinets[cabinet_id].circuit_ids[0]
        assert all(
            not lamp_.supplied
            for lamp_ in simulator.world.lamps.values()
            if lamp_.lamp.circuit_id == circuit
        )


@pytest.mark.parametrize("site", [MODBUS_A_SITE, MODBUS_B_SITE])
async def test_mbpoll_broadcast_write_commands_every_slot(
    service_state: ServiceState, topics: Topics, site: str
) -> None:
    async with running(service_state, topics.root, sites=(site,)) as simulator:
        where, profile = _concentrator_of_site(simulator, site)
        assert profile.broadcast is not None
        dim = profile.broadcast["dim_pct"].address
        relay = profile.broadcast["relay_on"].address
        assert relay == dim + 1
        lamps = [simulator.world.lamps[lamp] for lamp in where.lamps]
        others = [lamp for lamp in simulator.world.lamps.values() if lamp not in lamps]

        status, output = await mbpoll_write(where, "holding", dim, 30, 1)  # one request
        assert status == 0, output
        assert {(lamp.relay, lamp.level) for lamp in lamps} == {(True, 30)}
        assert {(lamp.relay, lamp.level) for lamp in others} == {(True, 100)}
        slot_dim = profile.fields["dim_pct"]
        for slot in (1, len(lamps)):  # what the first and last slots read back
            read = words(await mbpoll(where, "holding", slot_dim.address_of(slot - 1), 2))
            assert read == [30, 1]
        assert words(await mbpoll(where, "holding", dim, 2)) == [0, 0]  # commands read 0

        status, output = await mbpoll_write(where, "holding", relay, 0)  # the relay alone
        assert status == 0, output
        assert {(lamp.relay, lamp.level) for lamp in lamps} == {(False, 30)}

        status, output = await mbpoll_write(where, "holding", dim, 130, 1)  # no such level
        assert status != 0
        assert "Illegal data value" in output
        assert {lamp.relay for lamp in lamps} == {False}

        silent = lamps[1]
        await simulator.world.apply(
            simulator.world.fault_event(
                f"lamp:{silent.lamp.id}", "lamp_offline", FaultEventKind.START
            )
        )
        status, output = await mbpoll_write(where, "holding", dim, 70, 1)
        assert status != 0  # the concentrator could not reach one of them...
        heard = [lamp for lamp in lamps if lamp is not silent]
        assert {(lamp.relay, lamp.level) for lamp in heard} == {(True, 70)}  # ...the rest did
        assert (silent.relay, silent.level) == (False, 30)
