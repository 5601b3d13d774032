"""What every lamp should be doing, evaluated in the API exactly as the controller does it.

The same Evaluator (streetlight.schedule) on the same schedule from the store, with each
cabinet's light sensor read through the same LuxBoard from the same cabinet reports on the bus;
it is read again when the bus says a change was saved, and every `reload_s` in case a notice
was lost. Every `tick_s` the expected state of every lamp goes into the live state.

Evaluating 100,000 lamps takes a good tenth of a second of CPU, and putting the answer in the
live state as much again: done in one piece on the event loop, every request arriving
meanwhile waited for it (the p99 of a lamp's state at 500 requests/s was that pause). The
evaluation runs in a worker thread instead (one at a time; the light sensors' board, which
the bus feeds on the loop, behind a lock), and its answer goes into the live state in slices
with the loop's other work between them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from api.live import LiveState
from streetlight.aio import first_of
from streetlight.clock import Clock
from streetlight.contract import CabinetTelemetry
from streetlight.domain import Inventory
from streetlight.schedule import Evaluator, Expected, LuxBoard, LuxRule
from streetlight.store import sessions
from streetlight.store.schedules import read_evaluator

logger = logging.getLogger(__name__)

SLICE = 5000  # lamps put in the live state between two turns of the loop (a few ms)


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
        self._lux_lock = threading.Lock()  # the bus writes on the loop, evaluations read
        self.evaluator: Evaluator | None = None
        self._notified = asyncio.Event()
        self._evaluating = asyncio.Lock()  # one evaluation (and reload) at a time
        self.last_evaluation_s = 0.0

    def notice(self) -> None:
        """A schedule change was saved: read the store now."""
        self._notified.set()

    def cabinet(self, reading: CabinetTelemetry) -> None:
        if reading.lux is not None:
            with self._lux_lock:
                self.lux.reading(reading.cabinet, reading.lux, reading.ts)

    def _dark(self, cabinet: str, rule: LuxRule) -> tuple[bool | None, datetime | None]:
        with self._lux_lock:
            return self.lux.dark(cabinet, rule)

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
        async with self._evaluating:
            self.inventory, self.evaluator = inventory, None
            await self.reload()
            await self._evaluate()

    async def evaluate(self) -> None:
        async with self._evaluating:
            await self._evaluate()

    async def _evaluate(self) -> None:
        now = self.clock.now()
        evaluator = self.evaluator
        if evaluator is not None:
            started = time.perf_counter()
            expected = await asyncio.to_thread(evaluator.evaluate, now, self._dark)
            self.last_evaluation_s = time.perf_counter() - started
            await self._set_expected(expected, now.timestamp())
        self.live.age(now.timestamp())

    async def _set_expected(self, expected: dict[str, Expected], now: float) -> None:
        """Into the live state in slices (each lamp's state whole), the loop free between."""
        lamps = list(expected.items())
        for first in range(0, len(lamps), SLICE):
            self.live.set_expected(dict(lamps[first : first + SLICE]), now)
            await asyncio.sleep(0)

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every tick, and again at once when the schedule changed."""
        next_read = 0.0
        while not stop.is_set():
            if self._notified.is_set() or time.monotonic() >= next_read:
                self._notified.clear()
                next_read = time.monotonic() + self.reload_s
                try:
                    async with self._evaluating:
                        await self.reload()
                except Exception:
                    logger.exception("cannot read the schedule from the store; keeping the last")
            await self.evaluate()
            waited = asyncio.ensure_future(first_of(self.clock.sleep(self.tick_s), self._notified))
            if not await first_of(waited, stop):
                return
