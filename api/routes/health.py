"""`/health`: is each server the API stands on answering, and how fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


class Check(BaseModel):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class Health(BaseModel):
    ok: bool
    store: Check
    influxdb: Check
    broker: Check


async def _check(probe: Callable[[], Awaitable[object]]) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe()
    except TimeoutError:
        return Check(ok=False, error=f"no answer in {CHECK_TIMEOUT_S:g} s")
    except Exception as exc:  # noqa: BLE001 - whatever it is, the check reports it
        return Check(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
    return Check(ok=True, latency_ms=round(1000 * (time.perf_counter() - started), 2))


@router.get(
    "/health",
    summary="The store, InfluxDB and the broker, each with its latency",
    responses={503: {"model": Health, "description": "one of them does not answer"}},
)
async def health(request: Request, response: Response) -> Health:
    state = request.app.state

    async def store() -> None:
        async with state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    checks = await asyncio.gather(_check(store), _check(state.influx.ping), _check(state.bus.ping))
    result = Health(ok=all(c.ok for c in checks), store=checks[0], influxdb=checks[1],
                    broker=checks[2])  # fmt: skip
    if not result.ok:
        response.status_code = 503
    return result
