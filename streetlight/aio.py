"""Small asyncio helpers every process shares."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def first_of(work: Awaitable[object], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` is set first; True if the work finished (its error is raised),
    False if `stop` came first (the work is then cancelled and waited for)."""
    work_task = asyncio.ensure_future(work)
    stop_task = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work_task, stop_task):
            task.cancel()
        results = await asyncio.gather(work_task, stop_task, return_exceptions=True)
    if work_task.cancelled():
        return False
    if isinstance(results[0], BaseException):
        raise results[0]
    return True
