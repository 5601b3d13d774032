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
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from api.live import LampRef, LiveState
from streetlight.aio import first_of
from streetlight.clock import Clock
from streetlight.contract import CabinetTelemetry
from streetlight.domain import Inventory
from streetlight.schedule import Evaluator, Expected, Key, LuxBoard
from streetlight.store import sessions
from streetlight.store.schedules import read_evaluator

logger = logging.getLogger(__name__)

SLICE_S = 0.003  # the longest the evaluation holds the event loop at a time
AGE_ROWS = 10_000  # lamps looked at for silence between two turns of the event loop


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
        # what the live state last took: for which evaluator and lamps, each evaluation's
        # rows and result, and the lamps overridden
        self._basis: tuple[Evaluator, list[LampRef]] | None = None
        self._rows: dict[Key, list[int]] = {}
        self._applied: dict[Key, Expected] = {}
        self._overridden: dict[str, Expected] = {}

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
        await self.evaluate()

    async def evaluate(self) -> None:
        """Every lamp's expected state into the live state. The evaluation goes in slices of
        at most SLICE_S, handing the event loop back between them (a district's worth at once
        held requests for a tenth of a second); its result goes in whole, and only for the
        lamps whose evaluation changed since the last tick."""
        now = self.clock.now()
        evaluator = self.evaluator
        if evaluator is not None:
            started = time.perf_counter()
            shared: dict[Key, Expected] = {}
            until = time.perf_counter() + SLICE_S
            for key in evaluator.shared_keys:
                shared[key] = evaluator.evaluate_key(key, now, self.lux.dark)
                if time.perf_counter() > until:
                    await asyncio.sleep(0)
                    until = time.perf_counter() + SLICE_S
            overridden = evaluator.overridden(now)
            self.last_evaluation_s = time.perf_counter() - started
            if evaluator is self.evaluator:  # not replaced meanwhile (use_inventory)
                self._apply(evaluator, shared, overridden, now.timestamp())
        await self._age(now.timestamp())

    def _apply(
        self,
        evaluator: Evaluator,
        shared: dict[Key, Expected],
        overridden: dict[str, Expected],
        now: float,
    ) -> None:
        live = self.live
        if self._basis != (evaluator, live.lamps):  # a new schedule or new lamps: every row
            row = live.row
            self._rows = {
                key: [i for lamp in lamps if (i := row.get(lamp)) is not None]
                for key, lamps in evaluator.members().items()
            }
            self._basis, self._applied, self._overridden = (evaluator, live.lamps), {}, {}
        updates: list[tuple[Sequence[int], Expected]] = [
            (self._rows[key], value)
            for key, value in shared.items()
            if self._applied.get(key) != value
        ]
        # lamps an override let go of take their evaluation's again; overridden lamps last
        released = self._overridden.keys() - overridden.keys()
        updates.extend(
            ([i], shared[evaluator.key_of(lamp)])
            for lamp in released
            if (i := live.row.get(lamp)) is not None
        )
        updates.extend(
            ([i], value)
            for lamp, value in overridden.items()
            if (i := live.row.get(lamp)) is not None
        )
        live.set_expected(updates, now)
        self._applied, self._overridden = shared, overridden

    async def _age(self, now: float) -> None:
        for start in range(0, len(self.live.lamps), AGE_ROWS):
            self.live.age(now, range(start, min(start + AGE_ROWS, len(self.live.lamps))))
            await asyncio.sleep(0)

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
            await self.evaluate()
            waited = asyncio.ensure_future(first_of(self.clock.sleep(self.tick_s), self._notified))
            if not await first_of(waited, stop):
                return
