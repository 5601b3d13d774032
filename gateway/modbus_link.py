"""One Modbus TCP endpoint (host and port) and the requests that share it.

A `Coordinator` owns the endpoint's connection: one request at a time, a pause between
requests where the profile asks for one, reconnection with a capped, jittered backoff. A
device's exception reply (`ModbusDeviceError`) is kept apart from the link failing
(`ModbusLinkError`).

Reads and writes take turns when both are waiting (`Turns`). The poller's reads are a few
requests per cabinet per interval; a district switching queues a write per concentrator, and
a write per lamp with its retries where a broadcast was not heard by all. Served first come
first served, a poll would wait behind that whole burst, and detection would go blind just as
lamps are switched, when failures show. Taking turns, it waits one write per read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from streetlight.backoff import Backoff, LinkState
from streetlight.errors import StreetlightError
from streetlight.profiles import BIT_TABLES

logger = logging.getLogger(__name__)

# Modbus exception codes that mean "the device behind the gateway did not answer"
NO_ANSWER_CODES = frozenset({0x0A, 0x0B})


class ModbusLinkError(StreetlightError):
    """The endpoint could not be reached or did not answer."""


class ModbusDeviceError(StreetlightError):
    """The device answered with a Modbus exception."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Request:
    table: str
    address: int
    count: int


Kind = Literal["read", "write"]


class Turns:
    """One request at a time; when reads and writes are both waiting, they alternate.

    Within a kind, first come first served. Neither kind can hold the other off for more
    than one request."""

    def __init__(self) -> None:
        self._busy = False
        self._last: Kind = "write"
        self._waiting: dict[Kind, deque[asyncio.Future[None]]] = {
            "read": deque(),
            "write": deque(),
        }

    @asynccontextmanager
    async def turn(self, kind: Kind) -> AsyncIterator[None]:
        await self._acquire(kind)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, kind: Kind) -> None:
        if not self._busy:
            self._busy = True
            self._last = kind
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[kind].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the turn as it was cancelled: pass it on
            raise  # else `_release` skips it

    def _release(self) -> None:
        """Hand the turn to the next waiter, the other kind first; else free it."""
        other: Kind = "write" if self._last == "read" else "read"
        for kind in (other, self._last):
            queue = self._waiting[kind]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():  # a cancelled one is skipped
                    self._last = kind
                    waiter.set_result(None)
                    return
        self._busy = False


class Coordinator:
    """One Modbus TCP endpoint: a connection, turns for its requests, pacing and
    reconnection."""

    def __init__(self, host: str, port: int, *, timeout: float, pause_s: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.pause_s = pause_s
        self._client: AsyncModbusTcpClient | None = None
        self._turns = Turns()
        self._backoff = Backoff(initial=0.5, cap=30.0)
        self._retry_at = 0.0
        self.link = LinkState(logger, f"Modbus endpoint {host}:{port}")

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        loop = asyncio.get_running_loop()
        if loop.time() < self._retry_at:
            raise ModbusLinkError(f"{self.host}:{self.port}: waiting to reconnect")
        self.close()
        client = AsyncModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout, retries=0, reconnect_delay=0
        )
        try:
            async with asyncio.timeout(self.timeout + 1):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            ok = False
            logger.debug("connect to %s:%d: %s", self.host, self.port, exc)
        if not ok:
            client.close()
            self._retry_at = loop.time() + self._backoff.next_delay()
            raise ModbusLinkError(f"{self.host}:{self.port}: connection refused or timed out")
        self._backoff.reset()
        self._client = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def call(
        self, kind: Kind, operation: Callable[[AsyncModbusTcpClient], Awaitable[Any]]
    ) -> Any:
        """Run one request in its turn; raises ModbusLinkError or ModbusDeviceError."""
        async with self._turns.turn(kind):
            try:
                client = await self._connected()
                async with asyncio.timeout(self.timeout + 1):
                    response = await operation(client)
            except ModbusLinkError as exc:
                self.link.failed(str(exc))
                raise
            except (TimeoutError, OSError, ModbusException) as exc:
                self.close()  # a half-answered request leaves the stream unknown: start afresh
                reason = f"{self.host}:{self.port}: {type(exc).__name__}: {exc}".strip(": ")
                self.link.failed(reason)
                raise ModbusLinkError(reason) from exc
            finally:
                if self.pause_s:
                    await asyncio.sleep(self.pause_s)
            self.link.ok()
            if response.isError():
                code = int(getattr(response, "exception_code", 0))
                raise ModbusDeviceError(f"exception {code:#04x}", code)
            return response

    async def read(self, unit: int, request: Request) -> list[int] | list[bool]:
        readers = {
            "coil": "read_coils",
            "discrete": "read_discrete_inputs",
            "holding": "read_holding_registers",
            "input": "read_input_registers",
        }
        name = readers[request.table]

        async def operation(client: AsyncModbusTcpClient) -> Any:
            return await getattr(client, name)(request.address, count=request.count, device_id=unit)

        response = await self.call("read", operation)
        if request.table in BIT_TABLES:
            return list(response.bits[: request.count])
        registers: list[int] = list(response.registers)
        if len(registers) != request.count:
            raise ModbusDeviceError(
                f"asked for {request.count} registers at {request.address}, got {len(registers)}", 0
            )
        return registers

    async def write_registers(self, unit: int, address: int, values: list[int]) -> None:
        async def operation(client: AsyncModbusTcpClient) -> Any:
            return await client.write_registers(address, values, device_id=unit)

        await self.call("write", operation)

    async def write_coil(self, unit: int, address: int, value: bool) -> None:
        async def operation(client: AsyncModbusTcpClient) -> Any:
            return await client.write_coil(address, value, device_id=unit)

        await self.call("write", operation)
