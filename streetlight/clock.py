"""Time, injected: every process asks a clock, never `datetime.now()` directly.

- `SystemClock` is wall time.
- `ScaledClock` runs from a chosen start at `speed` x wall time, so the simulator and the
  controller can play a whole night in minutes.
- `ManualClock` moves only when a test calls `advance`, so logic tests never sleep.

All clocks return timezone-aware UTC datetimes. `sleep` takes seconds of the clock's own time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta


class Clock(ABC):
    """A source of the current time and of sleeps measured in that time."""

    @property
    @abstractmethod
    def speed(self) -> float:
        """Clock seconds per wall-clock second."""

    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""

    async def sleep_until(self, when: datetime) -> None:
        """Wait until the clock reads `when` (returns at once if it already does)."""
        remaining = (when - self.now()).total_seconds()
        if remaining > 0:
            await self.sleep(remaining)

    def wall_seconds(self, seconds: float) -> float:
        """How long `seconds` of clock time take on the wall."""
        return seconds / self.speed


class ScaledClock(Clock):
    """Clock time starts at `start` and runs at `speed` times wall time.

    Without an `anchor`, `start` is now (by the monotonic clock). With one, `start` was the
    clock's time at wall time `anchor` (seconds since the epoch): processes given the same
    start, speed and anchor agree on the simulated time.
    """

    def __init__(
        self, start: datetime | None = None, speed: float = 1.0, anchor: float | None = None
    ) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        if start is not None and start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._speed = speed
        self._anchor = time.monotonic()
        if anchor is not None:
            self._anchor -= time.time() - anchor  # wall time already past the anchor

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._anchor) * self._speed
        return self._start + timedelta(seconds=elapsed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)


class SystemClock(Clock):
    """Wall time."""

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def clock_from(start: datetime | None, speed: float, anchor: float | None) -> Clock:
    """The clock a process's settings ask for: wall time unless a start or speed is set."""
    if start is None and speed == 1.0:
        return SystemClock()
    return ScaledClock(start, speed, anchor)


class ManualClock(Clock):
    """A clock for tests: time stands still until `advance` moves it.

    Sleepers wake in deadline order as `advance` passes their deadlines. After each wake-up
    the event loop gets `settle_turns` turns before time moves on, so the woken code (and the
    tasks it starts) can run up to its next sleep: code that sleeps in a loop runs once per step.
    """

    def __init__(self, start: datetime, settle_turns: int = 20) -> None:
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._settle_turns = settle_turns
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def speed(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._sleepers, (deadline, next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline is passed, in order."""
        target = self._now + timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await self._settle()
        self._now = target
        await self._settle()

    async def _settle(self) -> None:
        for _ in range(self._settle_turns):
            await asyncio.sleep(0)
