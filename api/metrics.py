"""Prometheus metrics at `/metrics`: requests and their latency by route, how late the event
loop runs (work that holds it holds every request), the garbage collector's runs, and the
process's own."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streetlight.aio import first_of

logger = logging.getLogger(__name__)

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_PERIOD_S = 0.1
HELD_S = 0.25  # the loop held this long is said in the log


class _Measured:
    """ASGI middleware: count and time every request by method, route template and status
    (the router puts the matched route in the scope; a template keeps the labels few)."""

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.latency.labels(method, route).observe(time.perf_counter() - started)
            self.requests.labels(method, route, str(status)).inc()


class LoopLag:
    """Wakes every LAG_PERIOD_S and notes how late it woke: the time a request that came then
    waited for the loop."""

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            due = time.perf_counter() + LAG_PERIOD_S
            if not await first_of(asyncio.sleep(LAG_PERIOD_S), stop):
                return
            lag = max(0.0, time.perf_counter() - due)
            self.histogram.observe(lag)
            if lag > HELD_S:
                logger.warning("the event loop was held for %.0f ms", 1000 * lag)


def install(app: FastAPI) -> None:
    """Serve `/metrics`. Each app has its own registry, so several apps in one process (the
    tests) do not collide."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    requests = Counter("streetlight_api_requests", "HTTP requests", ["method", "route", "status"],
                       registry=registry)  # fmt: skip
    latency = Histogram("streetlight_api_request_seconds", "time to answer", ["method", "route"],
                        buckets=BUCKETS, registry=registry)  # fmt: skip
    app.add_middleware(_Measured, requests=requests, latency=latency)
    GCCollector(registry=registry)
    lag = Histogram("streetlight_api_loop_lag_seconds", "how late the event loop ran a timer",
                    buckets=BUCKETS, registry=registry)  # fmt: skip
    app.state.loop_lag = LoopLag(lag)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
