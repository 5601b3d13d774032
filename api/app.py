"""The HTTP service: `create_app(settings)` builds it; the lifespan opens what it stands on.

Everything lives under `/api/v1` (OpenAPI at `/api/v1/openapi.json`, pages at `/api/v1/docs`),
except `/health` and `/metrics`, which load balancers and Prometheus expect at the root. The
lifespan opens the store (migrated), the InfluxDB client and the bus session, and closes them
in turn; a store that cannot be opened stops the start with a message that names it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api import console, errors, heap, metrics
from api.alarm_index import AlarmIndex
from api.bus import Bus
from api.events import Hub
from api.lighting import Lighting
from api.limits import BodyLimit
from api.live import LiveState, load_assets
from api.reload import AssetReload
from api.routes import (
    acceptance,
    alarms,
    assets,
    audit,
    auth,
    health,
    history,
    lighting,
    projects,
    reports,
    state,
    survey,
    users,
    workorders,
)
from api.security import Recognised
from api.settings import ApiSettings
from streetlight.clock import Clock
from streetlight.influx import InfluxClient
from streetlight.store import open_store, read_inventory, sessions, warm_pool

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"


def create_app(settings: ApiSettings, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` (default: the settings' clock) is what "now" is for the district."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.settings = settings
        state.clock = clock or settings.clock()
        if settings.api_secret is not None:
            state.secret = settings.api_secret.get_secret_value()
        else:  # development only (the settings refuse it elsewhere): tokens die with us
            state.secret = secrets.token_urlsafe(48)
            logger.warning("no STREETLIGHT_API_SECRET: development secret, made up for this run")
        state.login_limiter = auth.limiter(settings)
        state.recognised = Recognised(settings.api_auth_cache_s)
        async with open_store(settings) as engine, InfluxClient.from_settings(settings) as influx:
            state.engine = engine
            state.sessions = sessions(engine)
            state.influx = influx
            with heap.loading():
                state.alarm_index = AlarmIndex(state.sessions, settings.api_alarm_sync_s)
                await state.alarm_index.load()
                state.live, state.lighting, state.hub, state.bus = await _live(
                    settings, engine, state.clock, state.alarm_index
                )
                state.reload_assets = AssetReload(
                    engine, state.live, state.lighting, state.hub, state.clock,
                    alarms=state.alarm_index,
                )  # fmt: skip
                # the evaluator (its groups) and its first evaluation's rows are long-lived too
                await state.lighting.reload()
                await state.lighting.evaluate()
                await warm_pool(engine)
                # the OpenAPI document, built once now: built at its first request, it held
                # every request for 1.5 s (FastAPI caches it)
                app.openapi()
            logger.info("long-lived heap settled in %.2f s", heap.settle())
            stop = asyncio.Event()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(state.bus.run(stop), name="api-bus")
                tasks.create_task(state.alarm_index.run(stop), name="api-alarm-index")
                tasks.create_task(state.loop_lag.run(stop), name="api-loop-lag")
                tasks.create_task(state.lighting.run(stop), name="api-lighting")
                try:
                    yield
                finally:
                    stop.set()

    app = FastAPI(
        title="Streetlight",
        summary="Street lighting of a district: assets, lighting, live state, alarms, ledger",
        version="1",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=f"{PREFIX}/redoc",
        responses=errors.ERROR_RESPONSES,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks cost a fraction of a millisecond a request even
        # with no exporter; /metrics (prometheus-client) is this service's telemetry
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    metrics.install(app)
    _include_routes(app)
    console.install(app, settings)  # last: its mount under /console/ takes no API route
    return app


def _include_routes(app: FastAPI) -> None:
    """Every router. A request is matched against the routes in the order they are
    included, at several microseconds each: the busiest reads (a lamp's state, the alarm
    list) come first."""
    app.include_router(state.router, prefix=PREFIX)
    app.include_router(alarms.router, prefix=PREFIX)
    app.include_router(health.router)
    app.include_router(auth.router, prefix=PREFIX)
    app.include_router(users.router, prefix=PREFIX)
    app.include_router(audit.router, prefix=PREFIX)
    app.include_router(assets.router, prefix=PREFIX)
    app.include_router(lighting.router, prefix=PREFIX)
    app.include_router(workorders.router, prefix=PREFIX)
    app.include_router(history.router, prefix=PREFIX)
    app.include_router(projects.router, prefix=PREFIX)
    app.include_router(survey.router, prefix=PREFIX)
    app.include_router(acceptance.router, prefix=PREFIX)
    app.include_router(reports.router, prefix=PREFIX)


async def _live(
    settings: ApiSettings, engine: AsyncEngine, clock: Clock, alarms: AlarmIndex
) -> tuple[LiveState, Lighting, Hub, Bus]:
    """The live state of the store's assets, fed by the bus and the schedule."""
    async with sessions(engine)() as session:
        lamps, cabinets = await load_assets(session)
        inventory = await read_inventory(session)
    live = LiveState(lamps, cabinets, stale_s=settings.api_stale_s)
    lighting = Lighting(inventory, engine, clock, live)
    hub = Hub(live)
    bus = Bus(settings, settings.api_id, live=live, lighting=lighting, hub=hub, clock=clock,
              site_of=live.site_of, alarm_changed=alarms.changed)  # fmt: skip
    return live, lighting, hub, bus
