"""Writers of the store as the controller, the CLI and the API write it, one per process, for
the contention test: `python -m tests.store_writers ROLE DB_URL COUNT`.

- controller: its alarm outlet, raising COUNT alarms and storing them a few at a time;
- cli: operators' overrides saved one transaction each (`streetlight controller override`);
- api: the same kind of change as the API saves it, with a read of the schedule before each.

Each prints `done <n>` when every write of its own is in; an error ends it non-zero.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from controller.alarms import AlarmBook, AlarmOutlet
from streetlight.contract import Topics
from streetlight.domain import AlarmType
from streetlight.schedule import Groups
from streetlight.schedule.calendars import GroupRef
from streetlight.store import open_engine, sessions
from streetlight.store.schedules import add_override, read_schedule
from tests.helpers import subset
from tests.simulation import MQTT_SITE

AT = datetime(2026, 12, 21, 12, 0, tzinfo=UTC)


async def _stored(outlet: AlarmOutlet) -> None:
    """Flush until the store has taken it all (it may be busy a moment with the others)."""
    for _ in range(600):
        if await outlet.flush(None):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the store stayed busy for 30 s")


async def _controller(url: str, count: int) -> int:
    inventory = subset((MQTT_SITE,))
    engine = await open_engine(url, migrate=False)
    try:
        outlet = AlarmOutlet(inventory, Topics("t"), engine, None)
        book = AlarmBook(inventory, on_change=outlet.add)
        lamps = sorted(inventory.lamps)
        for index in range(count):
            book.raise_now(
                AlarmType.COMMAND_FAILED, f"lamp:{lamps[index % len(lamps)]}", AT, str(index)
            )
            book.watches.clear()  # each raise a new alarm, as a storm of them would
            if index % 5 == 4:
                await _stored(outlet)
        await _stored(outlet)
        assert outlet.refused == outlet.dropped == 0, (outlet.refused, outlet.dropped)
        return outlet.written
    finally:
        await engine.dispose()


async def _operator(url: str, count: int, *, read_first: bool) -> int:
    inventory = subset((MQTT_SITE,))
    groups = Groups(inventory)
    engine = await open_engine(url, migrate=False)
    try:
        for index in range(count):
            async with sessions(engine)() as session, session.begin():
                if read_first:
                    await read_schedule(session)
                await add_override(
                    session, groups, group=GroupRef("site", MQTT_SITE), level=index % 100,
                    starts=AT, ends=AT + timedelta(minutes=10), reason=f"contention {index}",
                    by="api" if read_first else "cli", at=AT,
                )  # fmt: skip
        return count
    finally:
        await engine.dispose()


async def main(role: str, url: str, count: int) -> int:
    if role == "controller":
        return await _controller(url, count)
    return await _operator(url, count, read_first=role == "api")


if __name__ == "__main__":
    written = asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    print(f"done {written}", flush=True)  # the test reads it
