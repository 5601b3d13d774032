"""Fixtures: real servers for the session, a fresh database and topic root per test.

The session starts its own Mosquitto and influxd on free loopback ports (the same helper as
`streetlight services`). Each test gets its own InfluxDB database and its own MQTT topic root,
so tests never see each other's data. Tests that stop or restart a server start their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from streetlight.contract import Topics
from streetlight.influx import InfluxClient, InfluxError, RetryPolicy, quote_ident
from streetlight.profiles import MqttLampProfile, load_profiles
from streetlight.services import BrokerAuth, LocalServices, Postgres, ServiceState

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_INVENTORY = ROOT / "examples" / "xunyang" / "inventory.geojson"
EXAMPLE_PROFILES = ROOT / "examples" / "profiles"
FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.05, max_delay=0.1)


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """The session's servers; the broker closed to all but the project's identities, for any
    topic root (each test has its own); the device classes of the project's profiles and of the
    example vendor profiles."""
    classes = {
        profile_id: profile
        for directory in (ROOT / "profiles", EXAMPLE_PROFILES)
        for profile_id, profile in load_profiles(directory).items()
        if isinstance(profile, MqttLampProfile)
    }
    auth = BrokerAuth(bus_root="+", field_root="+", device_classes=classes)
    local = LocalServices(tmp_path_factory.mktemp("servers"), auth=auth)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The session's PostgreSQL server (Debian's package, installed when missing), started by
    the first test that asks for it; each test makes a database of its own."""
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def service_state(servers: LocalServices) -> ServiceState:
    return servers.state()


@pytest.fixture
def influx_db() -> str:
    """A database name of this test's own."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def influx(servers: LocalServices, influx_db: str) -> AsyncIterator[InfluxClient]:
    """A client on a fresh database, dropped after the test."""
    async with InfluxClient(servers.influxd.url(), influx_db, retry=FAST_RETRY) as client:
        await client.execute(f"CREATE DATABASE {quote_ident(influx_db)}")
        yield client
        with contextlib.suppress(InfluxError):  # a test that stopped the server left nothing
            await client.execute(f"DROP DATABASE {quote_ident(influx_db)}")


@pytest.fixture
def topics() -> Topics:
    """A topic root of this test's own."""
    return Topics(root=f"test-{uuid.uuid4().hex[:10]}")


@pytest_asyncio.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running behind it."""
    yield
    current = asyncio.current_task()
    deadline = time.monotonic() + 1.0
    while True:
        leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not leftover or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    for task in leftover:
        task.cancel()
    assert not leftover, f"tasks left running: {[t.get_name() for t in leftover]}"


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    """Fail a test that leaves threads running behind it.

    The event loop's default executor threads (``asyncio_N``) are left out: the loop shuts its
    executor down when pytest-asyncio closes it, after this check.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while True:
        leftover = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith("asyncio_")
        ]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leftover, f"threads left running: {[t.name for t in leftover]}"
