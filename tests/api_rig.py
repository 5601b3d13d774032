"""Running the API in a test: a real uvicorn on a free loopback port, on a real store (SQLite
or PostgreSQL), with the session's Mosquitto and influxd; accounts made in the store and
logged in through the API like any client."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.security import passwords
from api.settings import ApiSettings
from streetlight.clock import Clock
from streetlight.contract import Topics
from streetlight.domain import Inventory
from streetlight.influx import InfluxClient
from streetlight.services import Postgres, ServiceState, free_port
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.users import Role, add_user
from tests.helpers import eventually

BACKENDS = ("sqlite", "postgresql")


def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of `backend` for one test."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def api_settings(
    state: ServiceState, topics: Topics, influx: InfluxClient, db_url: str, **extra: Any
) -> ApiSettings:
    return ApiSettings(
        mqtt_url=state.url_for("api"),
        mqtt_root=topics.root,
        influx_url=state.influx_url,
        influx_db=influx.database,
        db_url=db_url,
        api_development=True,
        **extra,
    )


async def store_with(db_url: str, inventory: Inventory | None) -> None:
    """Migrate the store, with `inventory` in it."""
    engine = await open_engine(db_url)
    try:
        if inventory is not None:
            async with sessions(engine)() as session, session.begin():
                await save_inventory(session, inventory, "test")
    finally:
        await engine.dispose()


@dataclass
class Api:
    """A running API and an HTTP client for it."""

    http: httpx.AsyncClient
    settings: ApiSettings
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    async def account(
        self, name: str, role: Role, maintainer: str | None = None, password: str | None = None
    ) -> str:
        """Make an account in the store; its password."""
        password = password or secrets.token_urlsafe(12)
        async with self.app.state.sessions() as session, session.begin():
            await add_user(session, name=name, role=role, password_hash=passwords.hash(password),
                           maintainer_id=maintainer, by="test",
                           at=self.app.state.clock.now())  # fmt: skip
        return password

    async def login(self, name: str, password: str) -> httpx.Response:
        return await self.http.post(
            "/api/v1/auth/token", data={"username": name, "password": password}
        )

    async def as_role(self, role: Role, maintainer: str | None = None) -> dict[str, str]:
        """Headers of a fresh account of `role`, logged in."""
        name = f"{role.value}-{uuid.uuid4().hex[:6]}"
        password = await self.account(name, role, maintainer)
        response = await self.login(name, password)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@asynccontextmanager
async def running_api(settings: ApiSettings, clock: Clock | None = None) -> AsyncIterator[Api]:
    """The API on a free loopback port until the block ends (on `clock`: the simulator's)."""
    app = create_app(settings, clock)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                            access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(), name="test-api")
    try:
        await eventually(lambda: server.started or serving.done(), within=30, what="the API")
        if serving.done():
            serving.result()  # it failed to start: say why
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            yield Api(http, settings, app)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, 30)
