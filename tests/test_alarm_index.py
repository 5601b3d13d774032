"""The alarm list held in memory (api.alarm_index) against the store it follows, on SQLite and
PostgreSQL: every filter, cursor and order gives the pages the store's own query gives; the
changes the controller, the ledger and operators write are followed; and on PostgreSQL a change
whose transaction commits after a later one's is not lost.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.alarm_index import AlarmIndex, listed
from streetlight.domain import SEVERITY, AlarmChange, AlarmState, AlarmType
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.alarms import (
    OPEN_STATES,
    AlarmQuery,
    Transition,
    comment_alarm,
    find_alarms,
    operator_step,
    write_transitions,
)
from streetlight.store.workorders import open_order
from tests.api_rig import BACKENDS, store_url
from tests.helpers import eventually, subset

SITES = ["PP-S04", "PP-S07", "PP-S09", "GT-S01"]
T0 = datetime(2026, 11, 1, 18, tzinfo=UTC)
ALARMS = 400
STATE_SETS = [None, OPEN_STATES, frozenset({"closed"}), frozenset({"cleared"}),
              frozenset({"raised"}), frozenset({"acknowledged"})]  # fmt: skip


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_engine(store_url(request.param, tmp_path, request))
    try:
        yield engine
    finally:
        await engine.dispose()


def _raise(ident: int, asset: str, site: str, minutes: int, parent: int | None) -> Transition:
    kind = {"lamp": AlarmType.LAMP_FAILURE, "circuit": AlarmType.CIRCUIT_DEAD,
            "cabinet": AlarmType.DOOR_OPEN}[asset.partition(":")[0]]  # fmt: skip
    at = T0 + timedelta(minutes=minutes)
    return Transition(ident, kind, asset, SEVERITY[kind], site, at, f"{kind} seen",
                      AlarmChange.RAISED, at, AlarmState.RAISED, parent, None, "")  # fmt: skip


async def _stock(engine: AsyncEngine, seed: int) -> None:
    """ALARMS alarms on the sites' lamps, circuits and cabinets, some linked under a root,
    cleared, acknowledged, closed, with work orders: as the controller and operators leave
    them."""
    rng = random.Random(seed)
    inventory = subset(SITES)
    assets = ([(f"lamp:{lamp}", inventory.place(lamp).site_id) for lamp in inventory.lamps]
              + [(f"circuit:{c}", inventory.cabinets[k.cabinet_id].site_id)
                 for c, k in inventory.circuits.items()]
              + [(f"cabinet:{c}", k.site_id) for c, k in inventory.cabinets.items()])  # fmt: skip
    async with sessions(engine)() as session, session.begin():
        await save_inventory(session, inventory, "test")
    for ident in range(1, ALARMS + 1):
        asset, site = rng.choice(assets)
        parent = rng.randrange(1, ident) if ident > 1 and rng.random() < 0.2 else None
        raised = _raise(ident, asset, site, rng.randrange(0, 60 * 24 * 30), parent)
        async with sessions(engine)() as session, session.begin():
            await write_transitions(session, [raised])
            fate = rng.random()
            later = raised.at + timedelta(hours=2)
            if fate < 0.6:
                cleared = replace(raised, change=AlarmChange.CLEARED, at=later,
                                  state=AlarmState.CLEARED, cleared_at=later)  # fmt: skip
                await write_transitions(session, [cleared])
                if fate < 0.4:
                    await operator_step(session, ident, AlarmState.CLOSED, by="crew", at=later,
                                        note="")  # fmt: skip
            elif fate < 0.8:
                await operator_step(session, ident, AlarmState.ACKNOWLEDGED, by="op", at=later,
                                    note="seen")  # fmt: skip
            if rng.random() < 0.3:
                await open_order(session, alarm_id=ident, maintainer="XY-LDS",
                                 severity=raised.severity, opened_at=later,
                                 deadline=later + timedelta(days=1))  # fmt: skip


def _query(rng: random.Random) -> AlarmQuery:
    """A query of a few filters at random, as the console and crews combine them."""
    since = T0 + timedelta(days=rng.randrange(0, 30)) if rng.random() < 0.2 else None
    sites = frozenset(rng.sample(SITES, 2)) if rng.random() < 0.15 else None
    return AlarmQuery(
        states=rng.choice(STATE_SETS),
        type=rng.choice([None, None, *[t.value for t in (AlarmType.LAMP_FAILURE,
                                                         AlarmType.DOOR_OPEN)]]),
        severity=rng.choice([None, None, "emergency", "ordinary"]),
        site=rng.choice([None, None, None, *SITES]),
        sites=sites,
        subdistrict=rng.choice([None, None, None, "GT", "PP", "nowhere"]),
        raised_since=since,
        raised_until=since + timedelta(days=rng.randrange(1, 10)) if since else None,
        roots_only=rng.random() < 0.2,
    )  # fmt: skip


async def _store_pages(
    engine: AsyncEngine, query: AlarmQuery, limit: int, newest_first: bool
) -> list[list[dict[str, object]]]:
    pages: list[list[dict[str, object]]] = []
    after = None
    while True:
        async with sessions(engine)() as session:
            lines = await find_alarms(session, query, after=after, limit=limit + 1,
                                      newest_first=newest_first)  # fmt: skip
        shown = lines[:limit]
        pages.append([orjson.loads(orjson.dumps(listed(line), option=orjson.OPT_UTC_Z))
                      for line in shown])  # fmt: skip
        if len(lines) <= limit:
            return pages
        after = shown[-1].id


def _index_pages(
    index: AlarmIndex, query: AlarmQuery, limit: int, newest_first: bool
) -> list[list[dict[str, object]]]:
    pages: list[list[dict[str, object]]] = []
    after = None
    while True:
        items, after = index.page(query, after=after, limit=limit, newest_first=newest_first)
        pages.append([orjson.loads(item) for item in items])
        if after is None:
            return pages


async def _same_as_store(engine: AsyncEngine, index: AlarmIndex, query: AlarmQuery) -> None:
    for limit, newest_first in ((7, False), (50, True)):
        expected = await _store_pages(engine, query, limit, newest_first)
        assert _index_pages(index, query, limit, newest_first) == expected, (query, limit)


async def test_pages_are_the_stores_for_every_filter_cursor_and_order(engine: AsyncEngine) -> None:
    await _stock(engine, seed=1)
    index = AlarmIndex(sessions(engine), sync_s=1.0)
    await index.load()
    assert len(index) == ALARMS
    rng = random.Random(2)
    queries = [AlarmQuery(), AlarmQuery(states=OPEN_STATES),
               AlarmQuery(asset=("cabinet", "PP-S04-K1")),
               AlarmQuery(subdistrict="GT", states=OPEN_STATES)]  # fmt: skip
    queries += [_query(rng) for _ in range(60)]
    matched = 0
    for query in queries:
        await _same_as_store(engine, index, query)
        items, _after = index.page(query, after=None, limit=1)
        matched += bool(items)
    assert matched > len(queries) // 2, "the queries should mostly find something"


async def test_what_the_controller_ledger_and_operators_write_is_followed(
    engine: AsyncEngine,
) -> None:
    await _stock(engine, seed=3)
    index = AlarmIndex(sessions(engine), sync_s=1.0)
    await index.load()
    async with sessions(engine)() as session, session.begin():
        new = _raise(ALARMS + 1, "lamp:PP-S04-L001", "PP-S04", 5, None)
        child = _raise(ALARMS + 2, "lamp:PP-S04-L002", "PP-S04", 6, ALARMS + 1)
        await write_transitions(session, [new, child])
    async with sessions(engine)() as session, session.begin():
        raised = next(alarm for alarm in range(1, ALARMS + 1)
                      if _state(index, alarm) == AlarmState.RAISED.value)  # fmt: skip
        await operator_step(session, raised, AlarmState.ACKNOWLEDGED, by="op", at=T0, note="")
        cleared = replace(child, change=AlarmChange.CLEARED, state=AlarmState.CLEARED,
                          cleared_at=T0)  # fmt: skip
        await write_transitions(session, [cleared])
        await open_order(session, alarm_id=ALARMS + 1, maintainer="XY-LDS",
                         severity=new.severity, opened_at=T0,
                         deadline=T0 + timedelta(days=1))  # fmt: skip
    assert await index.sync() >= 3
    for query in (AlarmQuery(), AlarmQuery(states=OPEN_STATES), AlarmQuery(site="PP-S04")):
        await _same_as_store(engine, index, query)
    items, _ = index.page(AlarmQuery(asset=("lamp", "PP-S04-L001")), after=ALARMS, limit=5)
    assert [orjson.loads(item)["work_order"] for item in items] != [None]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_a_change_committed_after_a_later_one_is_not_lost(engine: AsyncEngine) -> None:
    """PostgreSQL numbers a row when it is inserted, and the transaction may commit after
    another's with a higher number: the sync that read the higher one must still come back
    for the lower. (SQLite writes one transaction at a time: the order cannot invert.)"""
    await _stock(engine, seed=4)
    index = AlarmIndex(sessions(engine), sync_s=1.0)
    await index.load()
    raised = [alarm for alarm in range(1, ALARMS + 1)
              if _state(index, alarm) == AlarmState.RAISED.value][:2]  # fmt: skip
    slow, quick = raised
    async with sessions(engine)() as first:
        async with first.begin():
            await operator_step(first, slow, AlarmState.ACKNOWLEDGED, by="op", at=T0, note="")
            await first.flush()  # its transition holds the lower id now, uncommitted
            async with sessions(engine)() as second, second.begin():
                await operator_step(second, quick, AlarmState.ACKNOWLEDGED, by="op", at=T0,
                                    note="")  # fmt: skip
            await index.sync()
            assert _state(index, quick) == AlarmState.ACKNOWLEDGED.value
            assert _state(index, slow) == AlarmState.RAISED.value
        await index.sync()
    assert _state(index, slow) == AlarmState.ACKNOWLEDGED.value
    async with sessions(engine)() as session, session.begin():
        await comment_alarm(session, slow, by="op", at=T0, note="the list still follows")
    await index.sync()
    await _same_as_store(engine, index, AlarmQuery())


def _state(index: AlarmIndex, alarm: int) -> str:
    items, _ = index.page(AlarmQuery(), after=alarm - 1, limit=1)
    state: str = orjson.loads(items[0])["state"]
    return state


async def test_the_running_index_follows_a_change_no_bus_told_of(engine: AsyncEngine) -> None:
    """`streetlight alarms close` writes the store and tells no bus: the index's own ticks
    find it; `changed()` (an alarm's bus event) makes it look at once."""
    await _stock(engine, seed=5)
    index = AlarmIndex(sessions(engine), sync_s=0.3)
    await index.load()
    raised = next(alarm for alarm in range(1, ALARMS + 1)
                  if _state(index, alarm) == AlarmState.RAISED.value)  # fmt: skip
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(index.run(stop), name="alarm-index")
        async with sessions(engine)() as session, session.begin():
            await operator_step(session, raised, AlarmState.ACKNOWLEDGED, by="cli", at=T0,
                                note="")  # fmt: skip
        await eventually(lambda: _state(index, raised) == AlarmState.ACKNOWLEDGED.value,
                         within=5, what="the acknowledgement in the list")  # fmt: skip
        index.sync_s = 3600.0  # from its next wait on, only news wakes it
        await asyncio.sleep(1.0)
        syncs = index.syncs
        index.changed()
        await eventually(lambda: index.syncs > syncs, within=5, what="a sync on the news")
        stop.set()
