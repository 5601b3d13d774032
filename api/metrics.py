"""Prometheus metrics at `/metrics`: requests and their latency by route, and the process's own."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
