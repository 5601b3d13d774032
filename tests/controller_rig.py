"""Running the controller in a test, beside a simulator and a gateway, on the same manual clock,
with its schedule in a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from controller.app import Controller, ControllerConfig
from controller.notify import Notifier
from simulator.app import Simulator
from streetlight.contract import Topics
from streetlight.domain import Level, agrees
from streetlight.influx import InfluxClient
from streetlight.scenario import Scenario
from streetlight.schedule import Groups, Schedule, load_schedule_file
from streetlight.services import ServiceState
from streetlight.settings import CommonSettings
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.schedules import save_schedule
from tests.conftest import ROOT
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.helpers import running_role
from tests.simulation import MODBUS_A_SITE, MQTT_SITE, SHANGHAI, clock_of, running

SAMPLE_SCHEDULE = ROOT / "examples" / "xunyang" / "schedule.yaml"
# at about 150x a reading reaches the controller some 50 simulated seconds after it was taken,
# so a new alarm is held longer before crews hear of it (a root seen late may adopt it)
TEST_CONFIG = ControllerConfig(
    tick_s=10, reload_s=0.2, grace_s=60, confirm_s=150, health_s=3600, notify_hold_s=300
)
SITES = (MQTT_SITE, MODBUS_A_SITE)
STEP_S = 30


@asynccontextmanager
async def schedule_store(
    simulator: Simulator, directory: Path, schedule: Schedule | None = None
) -> AsyncIterator[AsyncEngine]:
    """A store holding the simulator's inventory and a schedule (the sample's by default)."""
    engine = await open_engine(f"sqlite:///{directory / 'store.db'}")
    inventory = simulator.world.inventory
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "test")
            schedule = schedule or load_schedule_file(SAMPLE_SCHEDULE)
            await save_schedule(
                session, schedule, Groups(inventory), by="test", at=simulator.world.clock.now()
            )
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def running_controller(
    simulator: Simulator,
    settings: CommonSettings,
    engine: AsyncEngine,
    config: ControllerConfig = TEST_CONFIG,
    notifier: Notifier | None = None,
) -> AsyncIterator[Controller]:
    controller = Controller(
        settings,
        simulator.world.inventory,
        engine=engine,
        clock=simulator.world.clock,
        config=config,
        notifier=notifier,
    )
    async with running_role("controller", controller.run, controller.ready):
        yield controller


@dataclass
class District:
    """Simulator, gateway and controller on one clock, with the controller's store."""

    sim: Simulator
    engine: AsyncEngine
    controller: Controller


@asynccontextmanager
async def running_district(
    state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    directory: Path,
    *,
    start: datetime,
    scenario: Scenario | None = None,
    sites: tuple[str, ...] = SITES,
    notifier: Notifier | None = None,
    config: ControllerConfig = TEST_CONFIG,
) -> AsyncIterator[District]:
    async with (
        running(state, topics.root, sites=sites, start=start, as_devices=True,
                scenario=scenario) as sim,
        schedule_store(sim, directory) as engine,
        running_gateway(sim, role_settings(state, topics, influx, "gateway"),
                        config_for(sim, directory / "spool")),
        running_controller(sim, role_settings(state, topics, influx, "controller"),
                           engine, config, notifier=notifier) as controller,
    ):  # fmt: skip
        yield District(sim, engine, controller)


async def run_until(sim: Simulator, until: datetime, *, every: float = STEP_S) -> None:
    clock = clock_of(sim)
    while clock.now() < until:
        await clock.advance(every)
        # about 150x: commands live 5 simulated minutes, which must be enough for their trip
        await asyncio.sleep(every / 150)


def confirmed(controller: Controller, level: Level) -> int:
    """The lamps the controller told `level` whose telemetry has since confirmed it (no command
    on its way to them, and their last report at that level)."""
    dispatcher = controller.dispatcher
    return sum(
        1
        for lamp in controller.inventory.lamps
        if dispatcher.asserted.get(lamp, ...) == level
        and not dispatcher.pending(lamp)
        and (reading := dispatcher.reported.get(lamp)) is not None
        and agrees(level, reading)
    )


def local(hour: int, minute: int, day: int = 21) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)
