"""Clocks: simulated time runs at its speed; the manual clock wakes sleepers in order."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from streetlight.clock import ManualClock, ScaledClock

START = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)


async def test_manual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = ManualClock(START)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(sleeper("late", 120))
        tasks.create_task(sleeper("early", 30))
        await asyncio.sleep(0)
        await clock.advance(60)
        assert woke == [("early", START + timedelta(seconds=30))]
        await clock.advance(60)
    assert woke[1] == ("late", START + timedelta(seconds=120))
    assert clock.now() == START + timedelta(seconds=120)


async def test_manual_clock_runs_a_periodic_loop_once_per_period() -> None:
    clock = ManualClock(START)
    ticks: list[datetime] = []

    async def every_minute() -> None:
        while len(ticks) < 5:
            ticks.append(clock.now())
            await clock.sleep(60)

    task = asyncio.create_task(every_minute())
    await asyncio.sleep(0)
    await clock.advance(300)
    await task
    assert ticks == [START + timedelta(minutes=m) for m in range(5)]


async def test_scaled_clock_runs_at_its_speed() -> None:
    clock = ScaledClock(START, speed=600)
    wall = time.monotonic()
    await clock.sleep(60)  # one simulated minute is 0.1 s of wall time
    elapsed = time.monotonic() - wall
    assert 0.09 <= elapsed < 1.0
    assert clock.now() - START >= timedelta(seconds=60)
    assert clock.wall_seconds(600) == 1.0


def test_clocks_refuse_naive_starts_and_bad_speeds() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive datetime is the point
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(START, speed=0)
