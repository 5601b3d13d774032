"""Opening the relational store: an async engine for SQLite (WAL) or PostgreSQL, migrated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from streetlight.errors import StreetlightError
from streetlight.settings import CommonSettings

MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(StreetlightError):
    """The relational store cannot be opened or migrated."""


def async_url(url: str) -> URL:
    """The async driver's URL for a SQLAlchemy URL: sqlite -> aiosqlite, postgresql -> asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    shown = parsed.render_as_string(hide_password=True)
    raise StoreError(f"database URL {shown}: unsupported backend {backend!r}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def open_engine(url: str, *, migrate: bool = True) -> AsyncEngine:
    """An engine for `url`, with the schema brought up to date (Alembic) unless told not to."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite" and target.database not in (None, "", ":memory:"):
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(target)
    if target.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if migrate:
        try:
            async with asyncio.timeout(60), engine.begin() as connection:
                await connection.run_sync(_upgrade)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            await engine.dispose()
            where = target.render_as_string(hide_password=True)
            raise StoreError(f"cannot open the store at {where}: {exc}") from exc
    return engine


async def warm_pool(engine: AsyncEngine) -> None:
    """Open the pool's connections now (held together, so the pool keeps each), rather
    than one by one as bursts of work first need them later. asyncpg builds an SSL context
    for each new connection (sslmode "prefer"), which holds the event loop for 50-100 ms: in
    a service, a stall of every request in flight (seen in bench/api_load.py on PostgreSQL)."""
    size = getattr(engine.sync_engine.pool, "size", None)
    if size is None:
        return  # a pool of one shared connection (SQLite in memory)
    async with AsyncExitStack() as stack:
        for _ in range(size()):
            await stack.enter_async_context(engine.connect())


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def open_store(
    settings: CommonSettings, *, migrate: bool = True
) -> AsyncIterator[AsyncEngine]:
    """The store at `settings.db_url` (migrated unless told not to), closed when the block ends."""
    engine = await open_engine(settings.db_url, migrate=migrate)
    try:
        yield engine
    finally:
        await engine.dispose()
