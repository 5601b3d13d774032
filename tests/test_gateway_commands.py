"""The command path: canonical commands become Modbus writes or vendor commands, and every
command is answered on the ack topic with its outcome."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest_asyncio

from gateway.app import Gateway
from simulator.app import Simulator
from simulator.scenario import FaultEventKind
from streetlight.contract import (
    AckOutcome,
    Command,
    CommandAck,
    Target,
    TargetKind,
    Topics,
    decode,
    encode,
)
from streetlight.influx import InfluxClient
from streetlight.mqtt import make_client
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.gateway_rig import config_for, gateway_settings, running_gateway
from tests.helpers import Listener, eventually
from tests.simulation import MODBUS_A_SITE, MODBUS_B_SITE, MQTT_SITE, running


@dataclass
class Bench:
    simulator: Simulator
    gateway: Gateway
    acks: Listener
    controller: MqttUrl
    topics: Topics

    async def send(
        self, kind: TargetKind, target: str, *, on: bool, level: int | None = None, **extra: object
    ) -> CommandAck:
        now = self.simulator.world.clock.now()
        command = Command(
            id=f"c-{uuid.uuid4().hex[:8]}",
            target=Target(kind=kind, id=target),
            on=on,
            level_pct=level if on else None,
            issued_at=now,
            origin="controller",
            **extra,  # type: ignore[arg-type]
        )
        async with make_client(self.controller, identifier=f"controller-{command.id}") as client:
            await client.publish(self.topics.command(kind, target), encode(command), qos=1)

        def answered() -> list[CommandAck]:
            return [
                a
                for a in (decode(CommandAck, p) for _, p in self.acks.messages)
                if a.command_id == command.id
            ]

        await eventually(lambda: bool(answered()), within=15, what=f"the ack of {command.id}")
        return answered()[0]


@pytest_asyncio.fixture
async def bench(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> AsyncIterator[Bench]:
    settings = gateway_settings(
        service_state.url_for("gateway"), service_state.influx_url, influx.database, topics.root
    )
    async with (
        running(
            service_state,
            topics.root,
            sites=(MQTT_SITE, MODBUS_A_SITE, MODBUS_B_SITE),
            as_devices=True,
        ) as sim,
        Listener(MqttUrl.parse(service_state.mqtt_url), [f"{topics.root}/v1/ack/#"]) as acks,
        running_gateway(
            sim,
            settings,
            config_for(sim, tmp_path / "spool", commands={"timeout_s": 0.5, "attempts": 2}),
        ) as gateway,
    ):
        yield Bench(sim, gateway, acks, MqttUrl.parse(service_state.url_for("controller")), topics)


def _first_lamp(bench: Bench, site: str) -> str:
    return min(lamp for lamp in bench.simulator.world.lamps if lamp.startswith(site))


async def test_a_node_on_mqtt_is_dimmed_and_acknowledges(bench: Bench) -> None:
    lamp = _first_lamp(bench, MQTT_SITE)
    ack = await bench.send(TargetKind.LAMP, lamp, on=True, level=40)
    assert (ack.outcome, ack.attempts, ack.failed) == (AckOutcome.DONE, 1, [])
    state = bench.simulator.world.lamps[lamp]
    assert (state.relay, state.level) == (True, 40)


async def test_lamps_behind_both_concentrator_models_are_written(bench: Bench) -> None:
    for site in (MODBUS_A_SITE, MODBUS_B_SITE):
        lamp = _first_lamp(bench, site)
        ack = await bench.send(TargetKind.LAMP, lamp, on=True, level=30)
        assert ack.outcome is AckOutcome.DONE, ack
        assert (
            bench.simulator.world.lamps[lamp].relay,
            bench.simulator.world.lamps[lamp].level,
        ) == (True, 30)
        ack = await bench.send(TargetKind.LAMP, lamp, on=False)
        assert ack.outcome is AckOutcome.DONE
        assert bench.simulator.world.lamps[lamp].relay is False


async def test_a_circuit_command_switches_its_contactor(bench: Bench) -> None:
    cabinet = min(c for c in bench.simulator.world.cabinets if c.startswith(MODBUS_A_SITE))
    circuit = bench.simulator.world.inventory.cabinets[cabinet].circuit_ids[1]
    ack = await bench.send(TargetKind.CIRCUIT, circuit, on=False)
    assert ack.outcome is AckOutcome.DONE
    assert bench.simulator.world.cabinets[cabinet].contactors == [True, False]


async def test_a_group_command_reaches_every_lamp_of_a_site(bench: Bench) -> None:
    ack = await bench.send(TargetKind.GROUP, MQTT_SITE, on=True, level=70)
    assert (ack.outcome, ack.failed) == (AckOutcome.DONE, [])
    lamps = [s for i, s in bench.simulator.world.lamps.items() if i.startswith(MQTT_SITE)]
    assert {(s.relay, s.level) for s in lamps} == {(True, 70)}
    ack = await bench.send(TargetKind.GROUP, MODBUS_B_SITE, on=True, level=55)
    assert ack.outcome is AckOutcome.DONE
    lamps = [s for i, s in bench.simulator.world.lamps.items() if i.startswith(MODBUS_B_SITE)]
    assert {(s.relay, s.level) for s in lamps} == {(True, 55)}


async def test_silent_members_are_listed_and_the_group_times_out(bench: Bench) -> None:
    world = bench.simulator.world
    silent = sorted(i for i in world.lamps if i.startswith(MQTT_SITE))[:2]
    for lamp in silent:
        await world.apply(world.fault_event(f"lamp:{lamp}", "lamp_offline", FaultEventKind.START))
    ack = await bench.send(TargetKind.GROUP, MQTT_SITE, on=True, level=20)
    assert ack.outcome is AckOutcome.TIMEOUT
    assert ack.failed == silent
    assert ack.attempts == 2  # retried once, each silent node on its own topic
    modbus_lamp = _first_lamp(bench, MODBUS_A_SITE)
    await world.apply(
        world.fault_event(f"lamp:{modbus_lamp}", "lamp_offline", FaultEventKind.START)
    )
    ack = await bench.send(TargetKind.LAMP, modbus_lamp, on=True, level=20)
    assert (ack.outcome, ack.attempts) == (AckOutcome.TIMEOUT, 2)  # the concentrator: 0x0B


async def test_expired_and_unknown_commands(bench: Bench) -> None:
    lamp = _first_lamp(bench, MQTT_SITE)
    past = bench.simulator.world.clock.now() - timedelta(minutes=5)
    ack = await bench.send(TargetKind.LAMP, lamp, on=True, level=10, expires_at=past)
    assert ack.outcome is AckOutcome.EXPIRED
    assert bench.simulator.world.lamps[lamp].level == 100  # not carried out
    ack = await bench.send(TargetKind.LAMP, "NO-SUCH-LAMP", on=True, level=10)
    assert ack.outcome is AckOutcome.REJECTED
    assert ack.detail is not None
    assert "unknown lamp 'NO-SUCH-LAMP'" in ack.detail
