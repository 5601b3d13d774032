"""The relational store: migrations match the models; the asset tree saves and reads back."""

from __future__ import annotations

import dataclasses
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, event, text

from streetlight.domain import Inventory
from streetlight.inventory import load_inventory
from streetlight.services import Postgres
from streetlight.store import open_engine, read_inventory, save_inventory, sessions, warm_pool
from streetlight.store.models import Base
from tests.conftest import SAMPLE_INVENTORY


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_create_exactly_the_models(tmp_path: Path) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            assert mode == "wal"
    finally:
        await engine.dispose()


async def test_migrations_from_empty_create_exactly_the_models_on_postgresql(
    postgres: Postgres,
) -> None:
    engine = await open_engine(postgres.create_database(f"t_{uuid.uuid4().hex[:12]}"))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_a_warmed_pool_holds_its_connections_open_on_postgresql(
    postgres: Postgres,
) -> None:
    """A service opens its connections at start: a burst of work later opens none (each new
    asyncpg connection holds the event loop while it builds its SSL context)."""
    engine = await open_engine(postgres.create_database(f"t_{uuid.uuid4().hex[:12]}"))
    try:
        pool = engine.sync_engine.pool
        assert pool.checkedin() < pool.size()  # type: ignore[attr-defined]
        await warm_pool(engine)
        assert pool.checkedin() == pool.size()  # type: ignore[attr-defined]
        opened = []
        event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))
        async with AsyncExitStack() as stack:
            for _ in range(pool.size()):  # type: ignore[attr-defined]
                await stack.enter_async_context(engine.connect())
        assert opened == []
    finally:
        await engine.dispose()


async def test_inventory_saves_and_reads_back(tmp_path: Path) -> None:
    inventory = load_inventory(SAMPLE_INVENTORY)
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    make_session = sessions(engine)
    try:
        async with make_session() as session, session.begin():
            report = await save_inventory(session, inventory, "sample")
        assert report.added["lamps"] == len(inventory.lamps)
        async with make_session() as session:
            assert await read_inventory(session) == inventory

        # saving it again changes nothing; a changed lamp is one update
        lamp = next(iter(inventory.lamps.values()))
        changed = dataclasses.replace(lamp, rated_power_w=lamp.rated_power_w + 10)
        edited = dataclasses.replace(inventory, lamps={**inventory.lamps, lamp.id: changed})
        async with make_session() as session, session.begin():
            again = await save_inventory(session, inventory, "sample")
            assert not any(again.added.values())
            assert not any(again.updated.values())
            report = await save_inventory(session, edited, "edited")
        assert report.updated == {**dict.fromkeys(report.updated, 0), "lamps": 1}
        async with make_session() as session:
            stored = await read_inventory(session)
        assert isinstance(stored, Inventory)
        assert stored.lamps[lamp.id].rated_power_w == lamp.rated_power_w + 10
    finally:
        await engine.dispose()


async def test_device_addresses_save_and_read_back(tmp_path: Path) -> None:
    inventory = load_inventory(SAMPLE_INVENTORY)
    lamp = next(iter(inventory.lamps.values()))
    cabinet = next(iter(inventory.cabinets.values()))
    addressed = dataclasses.replace(
        inventory,
        lamps={**inventory.lamps, lamp.id: dataclasses.replace(lamp, device_address="86997503")},
        cabinets={
            **inventory.cabinets,
            cabinet.id: dataclasses.replace(cabinet, device_address="urn:dev:mac:0024befffe80"),
        },
    )
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, addressed, "addressed")
        async with sessions(engine)() as session:
            assert await read_inventory(session) == addressed
    finally:
        await engine.dispose()


async def test_empty_store_has_no_inventory(tmp_path: Path) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        async with sessions(engine)() as session:
            assert await read_inventory(session) is None
    finally:
        await engine.dispose()
