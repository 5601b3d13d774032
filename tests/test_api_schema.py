"""Schemathesis against the API's own OpenAPI document: for every route, generated requests
(valid and not) never get a server error, and every answer keeps to the schema the API
publishes (status code, content type, body).

The API runs in a thread of its own on a real uvicorn, on a SQLite store holding a part of
the sample district and its schedule; requests carry a fresh admin token each (minted with the
server's secret), so a generated logout or password change cannot lock the run out. The event
stream is left out: it never ends by design (tests/test_api_live.py covers it).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.security import issue_token
from api.settings import ApiSettings
from streetlight.schedule import Groups, load_schedule_file
from streetlight.services import ServiceState, free_port
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.schedules import save_schedule
from streetlight.store.users import Account, Role, add_user
from tests.conftest import ROOT
from tests.helpers import subset

EXAMPLES = 12  # per route: bounded, so the whole run stays within a couple of minutes
FUZZER = "fuzzer"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]  # fmt: skip


async def _prepare(db_url: str) -> None:
    inventory = subset(["PP-S04", "PP-S07"])
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session, session.begin():
            now = datetime.now(UTC)
            await save_inventory(session, inventory, "test")
            schedule = load_schedule_file(ROOT / "examples" / "xunyang" / "schedule.yaml")
            await save_schedule(session, schedule, Groups(inventory), by="test", at=now)
            await add_user(session, name=FUZZER, role=Role.ADMIN, password_hash=None,
                           maintainer_id=None, by="test", at=now)  # fmt: skip
    finally:
        await engine.dispose()


@pytest.fixture
def served(service_state: ServiceState, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The API in a thread: its base URL, and its secret."""
    directory = tmp_path
    db_url = f"sqlite:///{directory / 'store.db'}"
    asyncio.run(_prepare(db_url))
    database = f"test_{uuid.uuid4().hex[:12]}"
    httpx.post(f"{service_state.influx_url}/query", params={"q": f'CREATE DATABASE "{database}"'})
    secret = secrets.token_urlsafe(48)
    settings_ = ApiSettings(
        mqtt_url=service_state.url_for("api"), mqtt_root=f"test-{uuid.uuid4().hex[:10]}",
        influx_url=service_state.influx_url, influx_db=database, db_url=db_url,
        api_secret=secret,
    )  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings_), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False))  # fmt: skip
    thread = threading.Thread(target=server.run, name="schemathesis-api")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the API did not start"
    try:
        yield f"http://127.0.0.1:{port}", secret
    finally:
        server.should_exit = True
        thread.join(30)
        httpx.post(f"{service_state.influx_url}/query", params={"q": f'DROP DATABASE "{database}"'})


def test_every_route_keeps_its_own_schema_and_never_fails_inside(
    served: tuple[str, str],
) -> None:
    """Every operation, valid requests and invalid ones; the failures of all are listed."""
    base_url, secret = served
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json").exclude(
        path="/api/v1/events"
    )
    fuzzer = Account(0, FUZZER, Role.ADMIN, None, None, None, disabled=False)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema fails here
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            def exchange(case: Any) -> None:
                token = issue_token(fuzzer, secret, 15, datetime.now(UTC)).value
                case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=20,
                                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip

            try:
                exchange()
            except Unsatisfiable:
                continue  # no invalid request of this operation can be made (no parameters)
            except Exception as exc:  # noqa: BLE001 - every operation's failure is reported
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])
    assert operations >= 10, "the schema lost its routes"
    assert not failures, "\n\n".join(failures)
