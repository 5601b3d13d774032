"""Running the controller in a test, beside a simulator and a gateway, on the same manual clock,
with its schedule in a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from controller.app import Controller, ControllerConfig
from controller.calendars import Groups
from controller.schedule_file import load_schedule_file
from controller.store import save_schedule
from simulator.app import Simulator
from streetlight.settings import CommonSettings
from streetlight.store import open_engine, save_inventory, sessions
from tests.conftest import ROOT

SAMPLE_SCHEDULE = ROOT / "examples" / "xunyang" / "schedule.yaml"
TEST_CONFIG = ControllerConfig(tick_s=10, reload_s=0.2, grace_s=60, confirm_s=150, health_s=3600)


@asynccontextmanager
async def schedule_store(simulator: Simulator, directory: Path) -> AsyncIterator[AsyncEngine]:
    """A store holding the simulator's inventory and the sample schedule."""
    engine = await open_engine(f"sqlite:///{directory / 'store.db'}")
    inventory = simulator.world.inventory
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "test")
            schedule = load_schedule_file(SAMPLE_SCHEDULE)
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
) -> AsyncIterator[Controller]:
    controller = Controller(
        settings,
        simulator.world.inventory,
        engine=engine,
        clock=simulator.world.clock,
        config=config,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop), name="controller")
    try:
        ready = asyncio.create_task(controller.ready.wait())
        await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()
        assert controller.ready.is_set(), "the controller did not get ready within 20 s"
        yield controller
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
