"""What every lamp should be doing, evaluated in the API exactly as the controller does it.

The same Evaluator (streetlight.schedule) on the same schedule from the store, with each
cabinet's light sensor read through the same LuxBoard from the same cabinet reports on the bus;
it is read again when the bus says a change was saved, and every `reload_s` in case a notice
was lost. Every `tick_s` the expected state of every lamp goes into the live state.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from api.live import LiveState
from streetlight.aio import first_of
from streetlight.clock import Clock
from streetlight.contract import CabinetTelemetry
from streetlight.domain import Inventory
from streetlight.schedule import Evaluator, LuxBoard
from streetlight.store import sessions
from streetlight.store.schedules import read_evaluator

logger = logging.getLogger(__name__)


class Lighting:
    def __init__(
        self,
        inventory: Inventory | None,
        engine: AsyncEngine,
        clock: Clock,
        live: LiveState,
        *,
        tick_s: float = 5.0,
        reload_s: float = 5.0,
    ) -> None:
        self.inventory = inventory
        self.engine = engine
        self.clock = clock
        self.live = live
        self.tick_s, self.reload_s = tick_s, reload_s
        self.lux = LuxBoard()
        self.evaluator: Evaluator | None = None
        self._notified = asyncio.Event()
        self.last_evaluation_s = 0.0

    def notice(self) -> None:
        """A schedule change was saved: read the store now."""
        self._notified.set()

    def cabinet(self, reading: CabinetTelemetry) -> None:
        if reading.lux is not None:
            self.lux.reading(reading.cabinet, reading.lux, reading.ts)

    async def reload(self) -> bool:
        inventory = self.inventory
        if inventory is None:
            return False
        async with sessions(self.engine)() as session:
            evaluator = await read_evaluator(session, inventory, self.evaluator)
        if evaluator is None or inventory is not self.inventory:
            return False  # the same; or the assets changed meanwhile, and their reload builds
        self.evaluator = evaluator
        return True

    async def use_inventory(self, inventory: Inventory | None) -> None:
        """The store's assets changed: evaluate their new inventory from now on."""
        self.inventory, self.evaluator = inventory, None
        await self.reload()
        self.evaluate()

    def evaluate(self) -> None:
        now = self.clock.now()
        if self.evaluator is not None:
            started = time.perf_counter()
            expected = self.evaluator.evaluate(now, self.lux.dark)
            self.last_evaluation_s = time.perf_counter() - started
            self.live.set_expected(expected, now.timestamp())
        self.live.age(now.timestamp())

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every tick, and again at once when the schedule changed."""
        next_read = 0.0
        while not stop.is_set():
            if self._notified.is_set() or time.monotonic() >= next_read:
                self._notified.clear()
                next_read = time.monotonic() + self.reload_s
                try:
                    await self.reload()
                except Exception:
                    logger.exception("cannot read the schedule from the store; keeping the last")
            self.evaluate()
            waited = asyncio.ensure_future(first_of(self.clock.sleep(self.tick_s), self._notified))
            if not await first_of(waited, stop):
                return
