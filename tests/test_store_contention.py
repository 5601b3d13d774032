"""The store holds under contention: the controller, the CLI and the API writing one SQLite
file at once, each in a process of its own (WAL, a busy timeout, write transactions that take
the lock at their start); and a change the store refuses is logged with its rows, not retried.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controller.alarms import AlarmOutlet
from streetlight.contract import Topics
from streetlight.domain import AlarmChange, AlarmState, AlarmType, Severity
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.alarms import Transition
from streetlight.store.models import AlarmRow, OverrideRow
from tests.conftest import ROOT
from tests.helpers import subset
from tests.simulation import MQTT_SITE

COUNT = 60


async def test_three_processes_write_the_store_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = await open_engine(url)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, subset((MQTT_SITE,)), "test")
    finally:
        await engine.dispose()
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.store_writers",
            role,
            url,
            str(COUNT),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for role in ("controller", "cli", "api")
    ]
    results = [await asyncio.wait_for(w.communicate(), 120) for w in writers]
    for writer, (out, err) in zip(writers, results, strict=True):
        assert writer.returncode == 0, err.decode()[-3000:]
        assert out.decode().strip() == f"done {COUNT}"
        assert "database is locked" not in err.decode()
    engine = await open_engine(url, migrate=False)
    try:
        async with sessions(engine)() as session:
            alarms = await session.scalar(select(func.count()).select_from(AlarmRow))
            overrides = await session.scalar(select(func.count()).select_from(OverrideRow))
    finally:
        await engine.dispose()
    assert (alarms, overrides) == (COUNT, 2 * COUNT)


def _raised(alarm_id: int, parent: int | None = None) -> Transition:
    at = datetime(2026, 12, 21, 12, 0, tzinfo=UTC)
    return Transition(
        alarm_id=alarm_id, type=AlarmType.LAMP_OFFLINE, asset=f"lamp:{MQTT_SITE}-L001",
        severity=Severity.ORDINARY, site=MQTT_SITE, raised_at=at, detail="", at=at,
        change=AlarmChange.RAISED, state=AlarmState.RAISED, parent=parent, cleared_at=None,
        note="",
    )  # fmt: skip


async def test_a_change_that_breaks_a_constraint_is_refused_with_its_rows_and_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        outlet = AlarmOutlet(subset((MQTT_SITE,)), Topics("t"), engine, None)
        # al-2 names a parent the store has never had (a foreign key), al-1 raised twice
        batch = [_raised(1), _raised(2, parent=999), _raised(1), _raised(3)]
        outlet._pending.extend(batch)  # as the book's changes gather
        with caplog.at_level(logging.ERROR, logger="controller.alarms.outlet"):
            assert await outlet.flush(None)
        assert await outlet.flush(None)  # nothing left to try again
        async with sessions(engine)() as session:
            stored = sorted((await session.scalars(select(AlarmRow.id))).all())
    finally:
        await engine.dispose()
    assert stored == [1, 3]
    assert (outlet.written, outlet.refused) == (2, 2)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 2
    assert "al-2 raised lamp_offline" in refusals[0]
    assert "parent al-999" in refusals[0]
