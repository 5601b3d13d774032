"""The command path: canonical commands become Modbus writes or vendor commands, and every
command is answered on the ack topic with its outcome."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from gateway.app import Gateway
from gateway.commands import register_writes
from gateway.groups import Members
from simulator.app import Simulator
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
from streetlight.profiles import ModbusLampProfile, Profile
from streetlight.scenario import FaultEventKind
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.helpers import Listener, eventually, running_role, sample_district
from tests.simulation import MODBUS_A_SITE, MODBUS_B_SITE, MQTT_SITE, profiles, running


@dataclass
class Bench:
    simulator: Simulator
    gateway: Gateway
    acks: Listener
    controller: MqttUrl
    topics: Topics

    def command(
        self, kind: TargetKind, target: str, *, on: bool, level: int | None = None, **extra: object
    ) -> Command:
        return Command(
            id=f"c-{uuid.uuid4().hex[:8]}",
            target=Target(kind=kind, id=target),
            on=on,
            level_pct=level if on else None,
            issued_at=self.simulator.world.clock.now(),
            origin="controller",
            **extra,  # type: ignore[arg-type]
        )

    async def publish(self, *commands: Command) -> None:
        """Publish commands in order, as fast as the broker takes them."""
        async with make_client(
            self.controller, identifier=f"controller-{commands[0].id}"
        ) as client:
            for command in commands:
                target = command.target
                await client.publish(
                    self.topics.command(target.kind, target.id), encode(command), qos=1
                )

    def answers(self) -> list[CommandAck]:
        """Every ack so far, in the order the broker delivered them."""
        return [decode(CommandAck, p) for _, p in self.acks.messages]

    async def answered(self, command: Command) -> CommandAck:
        def found() -> list[CommandAck]:
            return [a for a in self.answers() if a.command_id == command.id]

        await eventually(lambda: bool(found()), within=15, what=f"the ack of {command.id}")
        return found()[0]

    async def send(
        self, kind: TargetKind, target: str, *, on: bool, level: int | None = None, **extra: object
    ) -> CommandAck:
        command = self.command(kind, target, on=on, level=level, **extra)
        await self.publish(command)
        return await self.answered(command)


@asynccontextmanager
async def _bench(
    service_state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    tmp_path: Path,
    *,
    gateway_profiles: dict[str, Profile] | None = None,
    unlisted: str | None = None,
    **commands: Any,
) -> AsyncIterator[Bench]:
    """The simulator and a gateway; the gateway reads `gateway_profiles` where given (a
    profile that does not match the device), else the ones the simulator plays, and its
    endpoint map leaves out the lamp `unlisted`."""
    settings = role_settings(service_state, topics, influx, "gateway")
    async with (
        running(
            service_state,
            topics.root,
            sites=(MQTT_SITE, MODBUS_A_SITE, MODBUS_B_SITE),
            as_devices=True,
        ) as sim,
        Listener(MqttUrl.parse(service_state.mqtt_url), [f"{topics.root}/v1/ack/#"]) as acks,
    ):
        config = config_for(
            sim, tmp_path / "spool", commands={"timeout_s": 0.5, "attempts": 2, **commands}
        )
        if unlisted is not None:
            endpoints = [
                e.model_copy(update={"lamps": {k: v for k, v in e.lamps.items() if k != unlisted}})
                for e in config.modbus.endpoints
            ]
            modbus = config.modbus.model_copy(update={"endpoints": endpoints})
            config = config.model_copy(update={"modbus": modbus})
        if gateway_profiles is None:
            running_it = running_gateway(sim, settings, config)
        else:
            running_it = _gateway_with(sim, settings, config, gateway_profiles)
        async with running_it as gateway:
            controller = MqttUrl.parse(service_state.url_for("controller"))
            yield Bench(sim, gateway, acks, controller, topics)


@asynccontextmanager
async def _gateway_with(
    sim: Simulator, settings: Any, config: Any, gateway_profiles: dict[str, Profile]
) -> AsyncIterator[Gateway]:
    gateway = Gateway(
        config,
        config_dir=Path.cwd(),
        settings=settings,
        inventory=sim.world.inventory,
        profiles=gateway_profiles,
        clock=sim.world.clock,
    )
    async with running_role("gateway", gateway.run, gateway.ready):
        yield gateway


@pytest_asyncio.fixture
async def bench(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> AsyncIterator[Bench]:
    async with _bench(service_state, topics, influx, tmp_path) as bench:
        yield bench


@pytest_asyncio.fixture
async def narrow_bench(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> AsyncIterator[Bench]:
    """A gateway that carries out one command at a time and keeps one more waiting."""
    async with _bench(service_state, topics, influx, tmp_path, in_flight=1, queued=1) as bench:
        yield bench


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


async def test_a_lamps_level_and_relay_go_out_in_one_modbus_write(bench: Bench) -> None:
    """Both lamp models keep dim_pct and relay_on in adjacent holding registers (dim first):
    an on command is one write of both, which the concentrator applies as one command."""
    stats = bench.simulator.world.stats
    for site in (MODBUS_A_SITE, MODBUS_B_SITE):
        lamp = _first_lamp(bench, site)
        state = bench.simulator.world.lamps[lamp]
        for on, level in ((False, None), (True, 45), (True, 80)):
            writes = stats.modbus_writes
            ack = await bench.send(TargetKind.LAMP, lamp, on=on, level=level)
            assert (ack.outcome, ack.attempts) == (AckOutcome.DONE, 1), ack
            assert stats.modbus_writes - writes == 1, f"{lamp}: one request per command"
            assert state.relay is on
            if on:
                assert state.level == level


def test_fields_apart_or_in_reverse_order_are_written_one_request_each() -> None:
    profile = profiles()["slc-modbus-a"]
    assert isinstance(profile, ModbusLampProfile)
    dim, relay = profile.fields["dim_pct"], profile.fields["relay_on"]
    slot = 2  # the third: 1006 + 2 * 16
    assert register_writes(profile, slot, [(dim, 40), (relay, True)]) == [(1038, [40, 1])]
    assert register_writes(profile, slot, [(relay, False)]) == [(1039, [0])]
    # relay first: one request would switch it on before the level changes
    assert register_writes(profile, slot, [(relay, True), (dim, 40)]) == [
        (1039, [1]),
        (1038, [40]),
    ]
    apart = relay.model_copy(update={"address": 1008})
    assert register_writes(profile, slot, [(dim, 40), (apart, True)]) == [
        (1038, [40]),
        (1040, [1]),
    ]
    coil = relay.model_copy(update={"table": "coil"})
    assert len(register_writes(profile, slot, [(dim, 40), (coil, True)])) == 2


def test_group_members_are_every_lamp_under_the_node() -> None:
    inventory = sample_district()
    members = Members(inventory)
    places = {lamp: inventory.place(lamp) for lamp in inventory.lamps}
    levels = {
        "cabinet_id": sorted(inventory.cabinets)[:5],
        "site_id": sorted(inventory.sites)[:5],
        "community_id": sorted(inventory.communities),
        "subdistrict_id": sorted(inventory.subdistricts),
    }
    for level, nodes in levels.items():
        for node in nodes:
            expected = [lamp for lamp, place in places.items() if getattr(place, level) == node]
            assert members.of(node) == expected, node
    lamp = min(inventory.lamps)
    circuit = inventory.lamps[lamp].circuit_id
    assert members.of(lamp) == [lamp]
    assert members.of(circuit) == list(inventory.lamps_on_circuit(circuit))
    assert members.of(inventory.district.id) == list(inventory.lamps)
    assert members.of("NO-SUCH-NODE") is None


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


async def test_a_full_queue_refuses_commands_and_acks_keep_flowing(narrow_bench: Bench) -> None:
    """One command in flight (a silent node: it waits out its timeouts), one taken from the
    queue waiting for its slot, one queued: the rest are refused at once, and the nodes'
    acknowledgements of the commands carried out later still get through."""
    bench = narrow_bench
    world = bench.simulator.world
    silent, *lamps = sorted(i for i in world.lamps if i.startswith(MQTT_SITE))[:6]
    await world.apply(world.fault_event(f"lamp:{silent}", "lamp_offline", FaultEventKind.START))
    first = bench.command(TargetKind.LAMP, silent, on=True, level=20)
    await bench.publish(first)
    await eventually(lambda: bench.gateway.health.commands >= 1, what="the first command taken")
    later = [bench.command(TargetKind.LAMP, lamp, on=True, level=35) for lamp in lamps]
    await bench.publish(*later)
    acks = {ack.command_id: ack for ack in [await bench.answered(c) for c in later]}
    assert (await bench.answered(first)).outcome is AckOutcome.TIMEOUT
    refused = [c for c in later if acks[c.id].outcome is AckOutcome.REJECTED]
    carried_out = [c for c in later if c not in refused]
    # the first of them is queued; at most one more waits (when the gateway read them apart)
    assert 3 <= len(refused) <= 4
    assert later[0] in carried_out
    for command in refused:
        assert (acks[command.id].detail or "").startswith("command_overflow"), acks[command.id]
    for command in carried_out:
        assert acks[command.id].outcome is AckOutcome.DONE, acks[command.id]
        state = world.lamps[command.target.id]
        assert (state.relay, state.level) == (True, 35)
    # refused at once: before the silent node's command gave up
    order = [ack.command_id for ack in bench.answers()]
    assert all(order.index(c.id) < order.index(first.id) for c in refused)
    assert bench.gateway.health.errors["command_overflow"] == len(refused)


# --- broadcast writes to whole concentrators --------------------------------------------------


def _concentrators(bench: Bench, site: str) -> dict[str, list[str]]:
    """Each cabinet of the site with lamps on its concentrator -> those lamps."""
    world = bench.simulator.world
    return {
        cabinet: [lamp.lamp.id for lamp in lamps]
        for cabinet, lamps in sorted(world.modbus_lamps.items())
        if cabinet.startswith(site)
    }


def _levels(bench: Bench, lamps: list[str]) -> set[tuple[bool, int]]:
    """What the lamps' nodes report: relay and dim level, as a poll would read them."""
    world = bench.simulator.world
    return {
        (reading.relay_on, reading.dim_pct)
        for reading in (world.lamps[lamp].reading(world.now) for lamp in lamps)
    }


@pytest.mark.parametrize("site", [MODBUS_A_SITE, MODBUS_B_SITE])
async def test_a_command_for_a_whole_concentrator_is_one_broadcast_write(
    bench: Bench, site: str
) -> None:
    stats = bench.simulator.world.stats
    (first, first_lamps), (_, other_lamps) = _concentrators(bench, site).items()
    writes = stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, first, on=True, level=35)  # the cabinet's lamps
    assert (ack.outcome, ack.attempts, ack.failed) == (AckOutcome.DONE, 1, [])
    assert stats.modbus_writes - writes == 1, "one request for the whole concentrator"
    assert _levels(bench, first_lamps) == {(True, 35)}
    assert _levels(bench, other_lamps) == {(True, 100)}  # the other cabinet's: untouched

    writes = stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, site, on=True, level=60)
    assert (ack.outcome, ack.failed) == (AckOutcome.DONE, [])
    assert stats.modbus_writes - writes == 2, "one request per concentrator of the site"
    assert _levels(bench, first_lamps + other_lamps) == {(True, 60)}

    writes = stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, site, on=False)
    assert (ack.outcome, ack.failed) == (AckOutcome.DONE, [])
    assert stats.modbus_writes - writes == 2
    assert {on for on, _ in _levels(bench, first_lamps + other_lamps)} == {False}


async def test_a_command_for_part_of_a_concentrator_writes_each_lamp(bench: Bench) -> None:
    world = bench.simulator.world
    cabinet, lamps = next(iter(_concentrators(bench, MODBUS_A_SITE).items()))
    circuit = world.inventory.cabinets[cabinet].circuit_ids[0]
    on_circuit = list(world.inventory.lamps_on_circuit(circuit))
    assert 1 < len(on_circuit) < len(lamps)
    writes = world.stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, circuit, on=True, level=25)
    assert (ack.outcome, ack.failed) == (AckOutcome.DONE, [])
    assert world.stats.modbus_writes - writes == len(on_circuit), "one request per lamp"
    assert _levels(bench, on_circuit) == {(True, 25)}
    assert _levels(bench, [lamp for lamp in lamps if lamp not in on_circuit]) == {(True, 100)}


async def test_faulty_lamps_misbehave_under_a_broadcast_as_under_their_own_write(
    bench: Bench,
) -> None:
    """A relay stuck closed (day_burning) keeps its lamp lit when the broadcast switches off; a
    stuck driver (dimming_failure) keeps its level."""
    world = bench.simulator.world
    cabinet, lamps = next(iter(_concentrators(bench, MODBUS_B_SITE).items()))
    welded, stuck, *others = (world.lamps[lamp] for lamp in lamps)
    for lamp, kind in ((welded, "day_burning"), (stuck, "dimming_failure")):
        await world.apply(world.fault_event(f"lamp:{lamp.lamp.id}", kind, FaultEventKind.START))

    writes = world.stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, cabinet, on=True, level=30)
    assert (ack.outcome, ack.failed) == (AckOutcome.DONE, [])  # the nodes took it, as one by one
    assert world.stats.modbus_writes - writes == 1
    assert _levels(bench, [lamp.lamp.id for lamp in others]) == {(True, 30)}
    assert stuck.reading(world.now).dim_pct == 100  # the driver did not follow
    assert stuck.power(world.now) > 0.9 * stuck.rated

    writes = world.stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, cabinet, on=False)
    assert ack.outcome is AckOutcome.DONE
    assert world.stats.modbus_writes - writes == 1
    assert all(lamp.power(world.now) < 0.1 * lamp.rated for lamp in others)
    assert welded.reading(world.now).relay_on is False  # the node thinks it switched off...
    assert welded.power(world.now) > 0.9 * welded.rated  # ...but the lamp is still lit


async def test_a_lamp_that_missed_a_broadcast_is_found_lamp_by_lamp(bench: Bench) -> None:
    """The concentrator answers 0x0B when some lamp did not hear the broadcast: the gateway
    then writes each lamp, so the ack lists exactly the lamps a lamp-by-lamp command would."""
    world = bench.simulator.world
    cabinet, lamps = next(iter(_concentrators(bench, MODBUS_A_SITE).items()))
    silent = lamps[3]
    await world.apply(world.fault_event(f"lamp:{silent}", "lamp_offline", FaultEventKind.START))
    writes = world.stats.modbus_writes
    ack = await bench.send(TargetKind.GROUP, cabinet, on=True, level=45)
    assert (ack.outcome, ack.attempts, ack.failed) == (AckOutcome.TIMEOUT, 2, [silent])
    # the broadcast, each lamp once, the silent one again
    assert world.stats.modbus_writes - writes == 1 + len(lamps) + 1
    assert _levels(bench, [lamp for lamp in lamps if lamp != silent]) == {(True, 45)}
    assert world.lamps[silent].level == 100


async def test_a_refused_broadcast_fails_every_lamp_of_the_concentrator(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    """A gateway whose profile puts the broadcast where the concentrator has none (a
    firmware without it): the device refuses the write, and the ack says which lamps failed."""
    lamp_profile = profiles()["slc-modbus-a"]
    assert isinstance(lamp_profile, ModbusLampProfile)
    assert lamp_profile.broadcast is not None
    moved = {
        name: spec.model_copy(update={"address": spec.address + 50})  # reserved registers
        for name, spec in lamp_profile.broadcast.items()
    }
    wrong = {**profiles(), "slc-modbus-a": lamp_profile.model_copy(update={"broadcast": moved})}
    async with _bench(service_state, topics, influx, tmp_path, gateway_profiles=wrong) as bench:
        world = bench.simulator.world
        (cabinet, lamps), (_, other_lamps) = _concentrators(bench, MODBUS_A_SITE).items()
        writes, refused = world.stats.modbus_writes, world.stats.modbus_refused
        ack = await bench.send(TargetKind.GROUP, MODBUS_A_SITE, on=True, level=20)
        assert ack.outcome is AckOutcome.DEVICE_ERROR
        assert ack.failed == sorted(lamps + other_lamps)
        assert world.stats.modbus_writes - writes == 2  # one per concentrator, not retried
        assert world.stats.modbus_refused - refused == 2
        assert _levels(bench, lamps + other_lamps) == {(True, 100)}
        circuit = world.inventory.cabinets[cabinet].circuit_ids[0]
        ack = await bench.send(TargetKind.GROUP, circuit, on=True, level=20)
        assert ack.outcome is AckOutcome.DONE  # lamp by lamp: those registers are right


async def test_no_broadcast_where_the_endpoint_map_misses_a_lamp_of_the_concentrator(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    """A broadcast would reach a lamp the gateway was not told about: lamp by lamp instead."""
    unlisted = f"{MODBUS_B_SITE}-L003"
    async with _bench(service_state, topics, influx, tmp_path, unlisted=unlisted) as bench:
        world = bench.simulator.world
        cabinet = world.lamps[unlisted].cabinet.cabinet.id
        lamps = _concentrators(bench, MODBUS_B_SITE)[cabinet]
        writes = world.stats.modbus_writes
        ack = await bench.send(TargetKind.GROUP, cabinet, on=True, level=15)
        assert ack.failed == [unlisted]  # the gateway has no slot to write it to
        assert world.stats.modbus_writes - writes == len(lamps) - 1
        assert _levels(bench, [lamp for lamp in lamps if lamp != unlisted]) == {(True, 15)}
        assert (world.lamps[unlisted].relay, world.lamps[unlisted].level) == (True, 100)
