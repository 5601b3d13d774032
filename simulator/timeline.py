"""Everything that happens at a simulated time, in order: faults, weather, node reports.

One task walks the timeline in simulated time, so state changes and readings happen in the
same order on every run, however late the task wakes: that is what makes a run reproducible
from its seed. Background faults of a night are drawn at noon before it (and for the current
night at start), from the seed and the date alone. Faults injected at run time join in.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from astral import Observer

from simulator.background import random_faults_for_night
from simulator.world import DUE_TOLERANCE_S, World
from streetlight.aio import first_of
from streetlight.scenario import FaultEvent, Scenario

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeatherChange:
    """Daylight is multiplied by `lux_factor` from now on (1.0: clear again)."""

    lux_factor: float


@dataclass(frozen=True)
class _DrawNight:
    night: datetime


@dataclass(frozen=True, slots=True)
class Periodic:
    """Something that recurs, like a node's report: `run(at)` returns when it next falls due."""

    run: Callable[[float], float | None]


_Item = FaultEvent | WeatherChange | _DrawNight | Periodic


class Timeline:
    def __init__(self, world: World, scenario: Scenario) -> None:
        self.world = world
        self.scenario = scenario
        self._heap: list[tuple[float, int, _Item]] = []
        self._order = itertools.count()
        self._changed = asyncio.Event()
        inventory = world.inventory
        first = next(iter(inventory.cabinets.values()), None)
        self._observer = Observer(first.location.lat, first.location.lon) if first else None
        self._tz = inventory.district.tz
        for event in scenario.events:
            self.schedule(event.at, event)
        for spell in scenario.weather:
            self.schedule(spell.start, WeatherChange(spell.lux_factor))
            self.schedule(spell.end, WeatherChange(1.0))
        if scenario.random_kinds and self._observer is not None:
            local = world.clock.now().astimezone(self._tz)
            tonight = local.date() if local.hour >= 12 else local.date() - timedelta(days=1)
            self._draw(tonight)
            noon = datetime.combine(tonight + timedelta(days=1), time(12), self._tz)
            self.schedule(noon.timestamp(), _DrawNight(noon))

    def schedule(self, at: float, item: _Item) -> None:
        heapq.heappush(self._heap, (at, next(self._order), item))
        self._changed.set()

    def _draw(self, night: date) -> None:
        assert self._observer is not None
        world = self.world
        events = random_faults_for_night(
            self.scenario,
            world.inventory,
            seed=world.seed,
            night=night,
            where=self._observer,
            tz=self._tz,
        )
        for event in events:
            self.schedule(event.at, event)

    async def run(self) -> None:
        clock = self.world.clock
        while True:
            if not self._heap:
                self._changed.clear()
                await self._changed.wait()
                continue
            at = self._heap[0][0]
            if at > self.world.now + DUE_TOLERANCE_S:
                self._changed.clear()
                due = datetime.fromtimestamp(at, UTC)
                await first_of(clock.sleep_until(due), self._changed)  # or something sooner
                continue
            at, _, item = heapq.heappop(self._heap)
            await self._apply(at, item)

    async def _apply(self, at: float, item: _Item) -> None:
        if isinstance(item, Periodic):
            following = item.run(at)
            if following is not None:
                self.schedule(following, item)
        elif isinstance(item, FaultEvent):
            await self.world.apply(item)
        elif isinstance(item, WeatherChange):
            self.world.set_weather(item.lux_factor)
            logger.info("weather: daylight x %.3g", item.lux_factor)
        else:
            self._draw(item.night.date())
            next_noon = item.night + timedelta(days=1)
            self.schedule(next_noon.timestamp(), _DrawNight(next_noon))
