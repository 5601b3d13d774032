"""Every fault the simulator plays, seen on the wire: in the MQTT reports or the registers.

Faults are injected through the control interface (MQTT), as an operator of the simulator
would; each test checks what an independent client then reads, and most check the repair.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from simulator.app import Simulator
from simulator.devices import LampState
from streetlight.contract import Topics
from streetlight.domain import STANDBY_W, lamp_power_w
from streetlight.mqtt import make_client
from streetlight.profiles import ModbusCabinetProfile, decode
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.helpers import Listener, eventually
from tests.simulation import (
    MODBUS_A_SITE,
    MQTT_SITE,
    clock_of,
    control,
    endpoint,
    mbpoll,
    profiles,
    running,
    sent_all,
    words,
)


@dataclass
class Rig:
    simulator: Simulator
    listener: Listener
    url: MqttUrl
    root: str
    truth: Path

    @property
    def lamp(self) -> LampState:
        """An MQTT lamp on phase A of circuit 1 of the back street's cabinet."""
        lamps = self.simulator.world.mqtt_lamps["slc-mqtt-a"]
        return min(
            (lamp for lamp in lamps if lamp.phase_index == 0 and lamp.circuit_index == 0),
            key=lambda lamp: lamp.lamp.id,
        )

    @property
    def cabinet_id(self) -> str:
        return self.lamp.cabinet.cabinet.id

    async def inject(self, target: str, kind: str, **extra: Any) -> None:
        reply = await control(
            self.url, self.root, {"op": "fault", "target": target, "kind": kind, **extra}
        )
        assert reply["ok"] is True, reply

    async def repair(self, target: str, kind: str) -> None:
        reply = await control(self.url, self.root, {"op": "repair", "target": target, "kind": kind})
        assert reply["ok"] is True, reply

    async def next_reports(self, intervals: int = 1) -> dict[str, list[dict[str, Any]]]:
        """Advance the clock by whole intervals; every report sent meanwhile, by lamp."""
        before = len(self.listener.messages)
        sent = self.simulator.world.stats.reports_sent
        for _ in range(intervals):
            await clock_of(self.simulator).advance(60)
        expected = await sent_all(self.simulator) - sent
        await eventually(lambda: len(self.listener.messages) - before >= expected, what="reports")
        reports: dict[str, list[dict[str, Any]]] = {}
        for topic, payload in self.listener.messages[before:]:
            if topic.endswith("/report"):
                reports.setdefault(topic.split("/")[-2], []).append(json.loads(payload)["data"])
        return reports

    async def command(self, lamp_id: str, sw: int, dim: int) -> None:
        async with make_client(self.url, identifier=f"test-cmd-{self.root}") as client:
            payload = json.dumps({"cmdId": "t", "sw": sw, "dim": dim})
            await client.publish(f"{self.root}/slc-a/{lamp_id}/cmd", payload, qos=1)
        await eventually(
            lambda: self.lamp.relay == bool(sw) or self.lamp.level == dim, what="command"
        )

    async def cabinet_registers(self) -> dict[str, Any]:
        """The cabinet's readings through mbpoll, decoded with cabinet-modbus-a."""
        profile = profiles()["cabinet-modbus-a"]
        assert isinstance(profile, ModbusCabinetProfile)
        where = endpoint(self.simulator, self.cabinet_id)
        circuits = len(self.simulator.world.cabinets[self.cabinet_id].circuit_ids)
        last = profile.circuits["current_a"].address_of(circuits - 1)
        raw = words(await mbpoll(where, "input", 0, last + 1))
        values: dict[str, Any] = {}
        for phase, name in enumerate("ABC"):
            for field, spec in profile.phases.items():
                start = spec.address_of(phase)
                values[f"{name}.{field}"] = decode(
                    spec, raw[start : start + spec.width], "big", "big"
                )
        for field, spec in {
            **profile.fields,
            **{f"c1.{k}": v for k, v in profile.circuits.items()},
        }.items():
            if spec.table == "input":
                values[field] = decode(
                    spec, raw[spec.address : spec.address + spec.width], "big", "big"
                )
        discrete = await mbpoll(where, "discrete", 0, 2)
        values["door_open"], values["supply_on"] = discrete[0] == "1", discrete[1] == "1"
        values["c1.contactor_on"] = (await mbpoll(where, "coil", 0, 1))[0] == "1"
        return values

    def truth_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.truth.read_text().splitlines()]


@pytest_asyncio.fixture
async def rig(service_state: ServiceState, topics: Topics, tmp_path: Path) -> AsyncIterator[Rig]:
    url = MqttUrl.parse(service_state.mqtt_url)
    truth = tmp_path / "truth.jsonl"
    async with (
        running(service_state, topics.root, sites=(MQTT_SITE,), truth=truth) as simulator,
        Listener(url, [f"{topics.root}/slc-a/#"]) as listener,
    ):
        yield Rig(simulator, listener, url, topics.root, truth)


def _full(lamp: LampState, level: int = 100) -> float:
    return lamp_power_w(lamp.rated * lamp.tolerance, True, level)


async def test_lamp_failure_reads_as_no_light_and_repairs(rig: Rig) -> None:
    lamp = rig.lamp
    await rig.inject(f"lamp:{lamp.lamp.id}", "lamp_failure")
    report = (await rig.next_reports())[lamp.lamp.id][-1]
    assert report["sw"] == 1
    assert report["P"] / 10 < 1.0
    assert report["alm"] & 1  # lamp_open
    await rig.repair(f"lamp:{lamp.lamp.id}", "lamp_failure")
    report = (await rig.next_reports())[lamp.lamp.id][-1]
    assert abs(report["P"] / 10 - _full(lamp)) < 0.02 * lamp.rated
    assert report["alm"] == 0
    assert [(t["kind"], t["event"]) for t in rig.truth_lines()] == [
        ("lamp_failure", "start"),
        ("lamp_failure", "end"),
    ]


async def test_low_and_high_power(rig: Rig) -> None:
    lamp = rig.lamp
    full = _full(lamp) - STANDBY_W
    await rig.inject(f"lamp:{lamp.lamp.id}", "low_power")
    low = (await rig.next_reports())[lamp.lamp.id][-1]["P"] / 10
    await rig.repair(f"lamp:{lamp.lamp.id}", "low_power")
    await rig.inject(f"lamp:{lamp.lamp.id}", "high_power")
    high = (await rig.next_reports())[lamp.lamp.id][-1]["P"] / 10
    assert abs(low - STANDBY_W - 0.6 * full) < 0.02 * full
    assert abs(high - STANDBY_W - 1.35 * full) < 0.02 * full


async def test_dimming_failure_keeps_the_level(rig: Rig) -> None:
    lamp = rig.lamp
    await rig.inject(f"lamp:{lamp.lamp.id}", "dimming_failure")
    await rig.command(lamp.lamp.id, 1, 30)
    report = (await rig.next_reports())[lamp.lamp.id][-1]
    assert report["dim"] == 100  # the driver did not follow the command
    assert abs(report["P"] / 10 - _full(lamp)) < 0.02 * lamp.rated


async def test_day_burning_lights_a_lamp_switched_off(rig: Rig) -> None:
    lamp = rig.lamp
    await rig.inject(f"lamp:{lamp.lamp.id}", "day_burning")
    await rig.command(lamp.lamp.id, 0, 0)
    report = (await rig.next_reports())[lamp.lamp.id][-1]
    assert report["sw"] == 0  # the node thinks the relay is open
    assert abs(report["P"] / 10 - _full(lamp)) < 0.02 * lamp.rated


async def test_cycling_lamp_goes_on_and_off(rig: Rig) -> None:
    lamp = rig.lamp
    await rig.inject(f"lamp:{lamp.lamp.id}", "cycling")
    reports = (await rig.next_reports(10))[lamp.lamp.id]
    powers = [r["P"] / 10 for r in reports]
    assert all(r["sw"] == 1 for r in reports)
    assert any(p < 1.0 for p in powers)
    assert any(p > 0.9 * lamp.rated for p in powers)
    # the node flags it once it has seen two cut-outs and restarts (480 s), not before
    cycling = [bool(r["alm"] & (1 << 7)) for r in reports]
    assert cycling == sorted(cycling)
    assert cycling[0] is False
    assert cycling[-1] is True


async def test_lamp_offline_stops_reporting_until_repaired(rig: Rig) -> None:
    lamp = rig.lamp
    await rig.inject(f"lamp:{lamp.lamp.id}", "lamp_offline")
    assert lamp.lamp.id not in await rig.next_reports(2)
    await rig.repair(f"lamp:{lamp.lamp.id}", "lamp_offline")
    assert len((await rig.next_reports())[lamp.lamp.id]) == 1


async def test_voltage_high_and_low_at_the_cabinet(rig: Rig) -> None:
    normal = await rig.cabinet_registers()
    cabinet = f"cabinet:{rig.cabinet_id}"
    await rig.inject(cabinet, "voltage_high")
    high = await rig.cabinet_registers()
    report_high = (await rig.next_reports())[rig.lamp.lamp.id][-1]
    await rig.repair(cabinet, "voltage_high")
    await rig.inject(cabinet, "voltage_low")
    low = await rig.cabinet_registers()
    report_low = (await rig.next_reports())[rig.lamp.lamp.id][-1]
    for phase in "ABC":
        assert abs(high[f"{phase}.voltage_v"] / normal[f"{phase}.voltage_v"] - 1.14) < 0.01
        assert abs(low[f"{phase}.voltage_v"] / normal[f"{phase}.voltage_v"] - 0.85) < 0.01
    assert report_high["U"] / 10 > 240
    assert report_low["U"] / 10 < 195
    assert report_low["alm"] & (1 << 5)  # undervoltage


async def test_over_temperature_heats_the_driver(rig: Rig) -> None:
    lamp = rig.lamp
    await rig.inject(f"lamp:{lamp.lamp.id}", "over_temperature")
    reports = (await rig.next_reports(60))[lamp.lamp.id]
    assert reports[0]["T"] / 10 < 60
    assert reports[-1]["T"] / 10 > 85
    assert reports[-1]["alm"] & (1 << 2)  # over_temperature
    assert reports[-1]["P"] < 0.7 * reports[0]["P"]  # the driver protects itself


async def test_supply_loss_darkens_the_cabinet_and_silences_its_nodes(rig: Rig) -> None:
    await rig.inject(f"cabinet:{rig.cabinet_id}", "supply_loss")
    registers = await rig.cabinet_registers()
    reports = await rig.next_reports(2)
    assert [registers[f"{p}.voltage_v"] for p in "ABC"] == [0, 0, 0]
    assert registers["supply_on"] is False
    assert not reports  # every node of the street lost supply
    status = rig.listener.on(f"/link/{rig.lamp.lamp.id}/status")
    assert status[-1]["online"] is False
    await rig.repair(f"cabinet:{rig.cabinet_id}", "supply_loss")
    await eventually(
        lambda: rig.listener.on(f"/link/{rig.lamp.lamp.id}/status")[-1]["online"] is True
    )
    assert rig.lamp.lamp.id in await rig.next_reports()
    assert rig.lamp.relay is True  # its last commanded state, kept across the outage


async def test_phase_loss_kills_one_phase(rig: Rig) -> None:
    await rig.inject(f"cabinet:{rig.cabinet_id}", "phase_loss", phase="B")
    registers = await rig.cabinet_registers()
    reports = await rig.next_reports()
    lamps = rig.simulator.world.mqtt_lamps["slc-mqtt-a"]
    assert registers["B.voltage_v"] == 0
    assert registers["A.voltage_v"] > 200
    assert registers["C.voltage_v"] > 200
    assert registers["supply_on"] is False
    assert {lamp_.lamp.id for lamp_ in lamps if lamp_.phase_index != 1} == set(reports)
    assert rig.truth_lines()[-1] == {**rig.truth_lines()[-1], "kind": "phase_loss", "phase": "B"}


async def test_circuit_dead_while_the_contactor_is_closed(rig: Rig) -> None:
    circuit = rig.lamp.lamp.circuit_id
    before = await rig.cabinet_registers()
    await rig.inject(f"circuit:{circuit}", "circuit_dead")
    after = await rig.cabinet_registers()
    reports = await rig.next_reports()
    lamps = rig.simulator.world.mqtt_lamps["slc-mqtt-a"]
    assert before["c1.current_a"] > 0.1
    assert after["c1.current_a"] == 0
    assert after["c1.contactor_on"] is True
    assert {lamp_.lamp.id for lamp_ in lamps if lamp_.lamp.circuit_id != circuit} == set(reports)


async def test_leakage_and_door_open(rig: Rig) -> None:
    cabinet = f"cabinet:{rig.cabinet_id}"
    normal = await rig.cabinet_registers()
    await rig.inject(cabinet, "leakage")
    await rig.inject(cabinet, "door_open")
    faulty = await rig.cabinet_registers()
    await rig.repair(cabinet, "door_open")
    closed = await rig.cabinet_registers()
    assert normal["leakage_ma"] < 10
    assert faulty["leakage_ma"] > 30
    assert (normal["door_open"], faulty["door_open"], closed["door_open"]) == (False, True, False)


async def test_lamp_offline_behind_a_concentrator_reads_offline(
    service_state: ServiceState, topics: Topics
) -> None:
    async with running(service_state, topics.root, sites=(MODBUS_A_SITE,)) as simulator:
        where = endpoint(simulator, min(simulator.world.modbus_lamps))
        lamp_id, slot = min(where.lamps.items())
        online = 1000 + (slot - 1) * 16 + 12  # slc-modbus-a: online at offset 12 of the slot
        reply = await control(
            MqttUrl.parse(service_state.mqtt_url),
            topics.root,
            {"op": "fault", "target": f"lamp:{lamp_id}", "kind": "lamp_offline"},
        )
        assert reply["ok"] is True
        assert words(await mbpoll(where, "holding", online, 1)) == [0]
        assert words(await mbpoll(where, "holding", online + 16, 1)) == [1]  # its neighbour


async def test_control_interface_names_bad_requests(rig: Rig) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"op": "fault", "target": "lamp:NOPE", "kind": "lamp_failure"}, "no lamp 'NOPE'"),
        (
            {"op": "fault", "target": f"lamp:{rig.lamp.lamp.id}", "kind": "meteor"},
            "unknown fault kind 'meteor'",
        ),
        (
            {"op": "fault", "target": f"lamp:{rig.lamp.lamp.id}", "kind": "leakage"},
            "leakage happens to a cabinet",
        ),
        ({"op": "weather", "lux_factor": 3}, "lux_factor must be"),
        ({"op": "explode"}, "unknown op 'explode'"),
    ]
    for request, reason in cases:
        reply = await control(rig.url, rig.root, request)
        assert reply["ok"] is False
        assert reason in str(reply["error"]), reply
    status = await control(rig.url, rig.root, {"op": "status"})
    assert status["ok"] is True
    assert status["lamps"] == len(rig.simulator.world.lamps)
