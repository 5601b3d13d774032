"""A short event between two polls is found: cabinet controllers latch the door and leakage
events (a bit cleared when read: model A) or count them (model B), the gateway reads them as
events since the previous poll, and detection raises on them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from controller.alarms import AlarmBook, Detector
from controller.schedule import Dispatcher
from simulator.app import Simulator
from streetlight.clock import ManualClock
from streetlight.contract import CabinetTelemetry, PhaseReading, Topics, decode
from streetlight.contract.payloads import TelemetryBatch
from streetlight.domain import AlarmType, Phase
from streetlight.influx import InfluxClient
from streetlight.scenario import FaultEventKind
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.helpers import Listener, eventually, subset
from tests.simulation import MODBUS_A_SITE, MODBUS_B_SITE, NIGHT, clock_of, running


async def _flash(sim: Simulator, target: str, kind: str) -> None:
    """A fault that starts and ends between two polls."""
    world = sim.world
    await world.apply(world.fault_event(target, kind, FaultEventKind.START))
    await world.apply(world.fault_event(target, kind, FaultEventKind.END))


async def test_a_door_and_a_leakage_between_two_polls_reach_the_bus_as_events(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    settings = role_settings(service_state, topics, influx, "gateway")
    bus = f"{topics.root}/v1/telemetry/#"
    async with (
        running(service_state, topics.root, sites=(MODBUS_A_SITE, MODBUS_B_SITE)) as sim,
        Listener(MqttUrl.parse(service_state.mqtt_url), [bus]) as seen,
        running_gateway(sim, settings, config_for(sim, tmp_path / "spool",
                                                  mqtt={"profiles": []})),
    ):  # fmt: skip
        clock = clock_of(sim)
        cabinets = {sim.world.inventory.cabinets[c].site_id: c for c in sorted(sim.world.cabinets)}
        latched, counted = cabinets[MODBUS_A_SITE], cabinets[MODBUS_B_SITE]

        def reports() -> dict[str, list[CabinetTelemetry]]:
            found: dict[str, list[CabinetTelemetry]] = {}
            for _, payload in seen.messages:
                for report in decode(TelemetryBatch, payload).cabinets:
                    found.setdefault(report.cabinet, []).append(report)
            return found

        await clock.advance(60)  # every cabinet polled: the counters' first values
        await eventually(
            lambda: all(len(reports().get(c, [])) >= 1 for c in (latched, counted)),
            what="a poll of each cabinet",
        )
        for cabinet in (latched, counted):
            await _flash(sim, f"cabinet:{cabinet}", "door_open")
            await _flash(sim, f"cabinet:{cabinet}", "leakage")
        await clock.advance(60)
        await eventually(
            lambda: all(len(reports().get(c, [])) >= 2 for c in (latched, counted)),
            what="two polls of each cabinet",
        )
        await clock.advance(60)  # a third poll: the events were told once
        await eventually(lambda: all(len(reports()[c]) >= 3 for c in (latched, counted)))
    for cabinet in (latched, counted):
        first, second, third = reports()[cabinet][:3]
        assert (first.door_events, first.leakage_events) == (0, 0), cabinet
        assert second.door_open is False  # shut again by the time of the poll
        assert (second.door_events, second.leakage_events) == (1, 1), cabinet
        assert (third.door_events, third.leakage_events) == (0, 0), cabinet


def test_detection_raises_door_open_and_leakage_on_events_and_clears_after() -> None:
    inventory = subset((MODBUS_A_SITE,))
    clock = ManualClock(NIGHT)
    book = AlarmBook(inventory)
    detector = Detector(inventory, book, Dispatcher(inventory, Topics("t"), clock))
    cabinet = min(inventory.cabinets)
    phases = [PhaseReading(phase=p, voltage_v=225.0, current_a=1.0, power_w=200.0) for p in Phase]

    def report(minutes: int, *, door: int = 0, leakage: int = 0) -> None:
        detector.cabinet(
            CabinetTelemetry(
                cabinet=cabinet, ts=NIGHT + timedelta(minutes=minutes), phases=phases,
                circuits=[], leakage_ma=3.0, door_open=False, door_events=door,
                leakage_events=leakage,
            )
        )  # fmt: skip

    def open_types() -> set[AlarmType]:
        return {alarm.type for alarm in book.open_alarms()}

    report(0)
    report(1, door=1, leakage=2)
    assert open_types() == {AlarmType.DOOR_OPEN, AlarmType.LEAKAGE}
    door = next(a for a in book.open_alarms() if a.type is AlarmType.DOOR_OPEN)
    assert "between" in door.detail or "since the previous poll" in door.detail
    report(2)
    assert open_types() == {AlarmType.LEAKAGE}  # a door shut: cleared by one report
    report(3)
    assert open_types() == set()
