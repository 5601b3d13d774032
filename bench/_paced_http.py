"""A paced HTTP/1.1 load, run as its own process so that it does not share a core's time with
the benchmark's other work, and cheap enough not to be what saturates.

httpx's client costs about as much CPU a request as the API does to answer it; on a machine
of two cores that load generator, not the server, was the bottleneck. This one keeps
`connections` keep-alive sockets, writes requests encoded before the run begins and reads
each answer by its Content-Length (uvicorn gives one to every answer that is not a stream),
on uvloop when it is installed.

Open loop: request i is due at `start + i / rate` whatever the answers before it did; it
waits for a free connection if every one is busy, and its latency counts from when it was
due, so a slow server cannot slow the load and hide its own latency.

    python -m bench._paced_http  < spec.json   # {"host", "port", "requests": [...], ...}

stdout: a line `started` when the paced window begins, then one JSON line of the figures
(latencies in seconds, statuses, the generator's own CPU seconds).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, cast

import orjson

WARM_UP = 100  # requests sent one by one before the window: connections open, caches warm


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request out, its answer's status back."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.answer: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport's subclasses, but behave as one
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(ConnectionError("an answer without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buffer[: end + 4 + length]
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc)

    async def call(self, request: bytes) -> int:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.answer


def _encode(host: str, port: int, headers: dict[str, str], path: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, rate = spec["host"], spec["port"], float(spec["rate"])
    requests = [_encode(host, port, spec["headers"], path) for path in spec["paths"]]
    total = int(rate * float(spec["seconds"]))
    loop = asyncio.get_running_loop()
    connections = [
        (await loop.create_connection(_Connection, host, port))[1]
        for _ in range(spec["connections"])
    ]
    for i in range(WARM_UP):
        await connections[i % len(connections)].call(requests[i % len(requests)])
    # as many as are due at once at most: the dispatcher never waits on a full queue
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=total)
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def worker(connection: _Connection) -> None:
        while True:
            due, request = await queue.get()
            try:
                status = await connection.call(request)
            except ConnectionError:
                status = 0
            latencies.append(time.perf_counter() - due)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            queue.task_done()

    print("started", flush=True)
    cpu = time.process_time()
    start = time.perf_counter() + 0.05
    async with asyncio.TaskGroup() as tasks:
        workers = [tasks.create_task(worker(c), name=f"load-{i}")
                   for i, c in enumerate(connections)]  # fmt: skip
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((due, requests[i % len(requests)]))
        await queue.join()
        elapsed = time.perf_counter() - start
        for task in workers:
            task.cancel()
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    return {
        "latencies": latencies,
        "statuses": statuses,
        "elapsed_s": elapsed,
        "cpu_s": time.process_time() - cpu,
    }


def main() -> int:
    spec = orjson.loads(sys.stdin.buffer.read())
    try:
        import uvloop  # noqa: PLC0415 - optional: the plain loop works, at more CPU
    except ImportError:
        figures = asyncio.run(run(spec))
    else:
        figures = uvloop.run(run(spec))
    sys.stdout.buffer.write(orjson.dumps(figures) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
