"""An async client for InfluxDB's v1 HTTP API: `/ping`, `/write` (line protocol), `/query`.

The v1 API is the one every InfluxDB line serves: 1.x natively, 2.x and 3.x through their
compatibility endpoints (DESIGN.md section 5). Authentication is a token (``Authorization:
Token ...``, for 2.x/3.x) or a user name and password (HTTP basic, for 1.x).

Errors are kept apart: `InfluxUnavailableError` is transient (connection refused, timeout,
5xx, 429) and is retried a bounded number of times with backoff; `InfluxRequestError` is the
server refusing the request (bad points, unknown database, bad credentials) and is not. A
write of which InfluxDB stored some points and dropped others (1.x: HTTP 400 `partial write:
... dropped=N`, or lines it could not parse) is an `InfluxPartialWriteError` that says how
many it dropped, so a writer counts what was stored and what was refused as they were.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from streetlight.backoff import Backoff, LinkState
from streetlight.errors import StreetlightError
from streetlight.settings import CommonSettings

logger = logging.getLogger(__name__)


class InfluxError(StreetlightError):
    """Base class of InfluxDB errors."""


class InfluxUnavailableError(InfluxError):
    """InfluxDB could not be reached or was overloaded; trying again later may succeed."""


class InfluxRequestError(InfluxError):
    """InfluxDB refused the request; the message carries its reason. Retrying will not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class InfluxPartialWriteError(InfluxRequestError):
    """InfluxDB stored the points of a write but `dropped` of them (out of its retention, of a
    conflicting field type, or lines it could not parse)."""

    def __init__(self, message: str, status: int, dropped: int) -> None:
        super().__init__(message, status)
        self.dropped = dropped


_DROPPED = re.compile(r"\bdropped=(\d+)")
_UNPARSABLE = "unable to parse"


def dropped_points(message: str) -> int | None:
    """How many points a 1.x "partial write" answer says were dropped; None if it is not one.

    InfluxDB 1.x answers `partial write: <reason> dropped=N` for points it refused among others
    it stored, and `partial write: unable to parse '<line>': ... dropped=0` (one "unable to
    parse" per line) when it stored the lines it could parse: those lines count as dropped."""
    if "partial write" not in message:
        return None
    match = _DROPPED.search(message)
    dropped = int(match.group(1)) if match else 0
    return dropped + message.count(_UNPARSABLE)


_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_EXCEPTIONS = (
    httpx.TransportError,  # connect, read and write errors and timeouts, protocol errors
    TimeoutError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a transient failure is retried, and how long to wait in between."""

    attempts: int = 4
    initial_delay: float = 0.2
    max_delay: float = 5.0

    def backoff(self) -> Backoff:
        return Backoff(initial=self.initial_delay, cap=self.max_delay)


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a query result."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """Each value row as a dict of column -> value, with the series' tags added."""
        return [{**self.tags, **dict(zip(self.columns, row, strict=True))} for row in self.values]


class InfluxClient:
    """One InfluxDB server and database. Use as an async context manager."""

    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        compress: bool = True,
        retry: RetryPolicy | None = None,
    ) -> None:
        if token and username:
            raise ValueError("give an InfluxDB token or a user name, not both")
        headers = {"User-Agent": "streetlight"}
        self.auth_header: str | None = None
        if token:
            self.auth_header = f"Token {token}"
        elif username:
            credentials = f"{username}:{password or ''}".encode()
            self.auth_header = "Basic " + base64.b64encode(credentials).decode()
        if self.auth_header:
            headers["Authorization"] = self.auth_header
        self.url = url.rstrip("/")
        self.database = database
        self.timeout = timeout
        self.compress = compress
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        self._link = LinkState(logger, f"InfluxDB at {self.url}")

    @classmethod
    def from_settings(cls, settings: CommonSettings, **options: Any) -> InfluxClient:
        if settings.influx_gzip == "auto":
            options.setdefault("compress", not _is_loopback(settings.influx_url))
        else:
            options.setdefault("compress", settings.influx_gzip == "on")
        return cls(
            settings.influx_url,
            settings.influx_db,
            token=settings.influx_token.get_secret_value() if settings.influx_token else None,
            username=settings.influx_user,
            password=(
                settings.influx_password.get_secret_value() if settings.influx_password else None
            ),
            **options,
        )

    async def __aenter__(self) -> InfluxClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> str:
        """The server's version; raises InfluxUnavailableError when it does not answer."""
        response = await self._request("GET", "/ping", retry=False)
        return str(response.headers.get("X-Influxdb-Version", "unknown"))

    async def write_lines(
        self,
        lines: Sequence[str],
        *,
        database: str | None = None,
        retention_policy: str | None = None,
        retry: bool = True,
    ) -> None:
        """Write line-protocol lines (timestamps in ns) in one request."""
        body = "\n".join(lines).encode()
        await self.write_body(
            body, database=database, retention_policy=retention_policy, retry=retry
        )

    async def write_body(
        self,
        body: bytes,
        *,
        database: str | None = None,
        retention_policy: str | None = None,
        retry: bool = True,
    ) -> None:
        """Write a prepared line-protocol body (uncompressed; compressed here if enabled)."""
        params = {"db": database or self.database, "precision": "ns"}
        if retention_policy:
            params["rp"] = retention_policy
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        await self._request(
            "POST", "/write", params=params, content=body, headers=headers, retry=retry
        )

    async def query(
        self, statement: str, *, database: str | None = None, epoch: str = "ns"
    ) -> list[Series]:
        """Run an InfluxQL read and return every series of every statement's result."""
        params = {"db": database or self.database, "q": statement, "epoch": epoch}
        response = await self._request("GET", "/query", params=params)
        return _series_of(statement, response.json())

    async def execute(self, statement: str, *, database: str | None = None) -> None:
        """Run an InfluxQL statement that changes something (CREATE, DROP, ALTER)."""
        params = {"q": statement}
        if database:
            params["db"] = database
        response = await self._request("POST", "/query", params=params)
        _series_of(statement, response.json())  # raises on a statement error

    async def _request(
        self, method: str, path: str, *, retry: bool = True, **kwargs: Any
    ) -> httpx.Response:
        attempts = self.retry.attempts if retry else 1
        backoff = self.retry.backoff()
        while True:
            try:
                response = await self._send(method, path, **kwargs)
            except InfluxUnavailableError as exc:
                self._link.failed(str(exc))
                if backoff.attempts + 1 >= attempts:
                    raise
                await asyncio.sleep(backoff.next_delay())
                continue
            self._link.ok()
            return response

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.request(method, path, **kwargs)
        except _TRANSIENT_EXCEPTIONS as exc:
            reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            raise InfluxUnavailableError(f"InfluxDB at {self.url}: {reason}") from exc
        if response.status_code < 300:
            return response
        message = _error_text(response)
        if response.status_code in _TRANSIENT_STATUS:
            raise InfluxUnavailableError(
                f"InfluxDB at {self.url}: HTTP {response.status_code}: {message[:300]}"
            )
        dropped = dropped_points(message) if path == "/write" else None
        if dropped is not None:
            raise InfluxPartialWriteError(
                f"InfluxDB at {self.url} stored part of a write: {message[:300]}",
                response.status_code,
                dropped,
            )
        raise InfluxRequestError(
            f"InfluxDB at {self.url} refused {method} {path}: HTTP {response.status_code}: "
            f"{message[:300]}",
            response.status_code,
        )


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_text(response: httpx.Response) -> str:
    """The server's reason, whole (a partial write's count of dropped points is at its end)."""
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason_phrase
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return str(payload["error"])
    return str(payload)[:300]


def _series_of(statement: str, payload: Any) -> list[Series]:
    if not isinstance(payload, dict):
        raise InfluxRequestError(f"unexpected answer to {statement!r}: {payload!r}"[:300], 200)
    if isinstance(payload.get("error"), str):
        raise InfluxRequestError(f"{statement!r}: {payload['error']}", 200)
    series: list[Series] = []
    for result in payload.get("results", []):
        if "error" in result:
            raise InfluxRequestError(f"{statement!r}: {result['error']}", 200)
        series.extend(
            Series(
                name=item.get("name", ""),
                tags=item.get("tags") or {},
                columns=item["columns"],
                values=item.get("values") or [],
            )
            for item in result.get("series", [])
        )
    return series


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes (measurement, tag key, field key, database)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes (tag values in WHERE clauses)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
