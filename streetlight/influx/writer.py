"""Batched, concurrent writes: lines gather into batches by size and by age.

    async with BatchWriter(client, batch_size=5000, flush_interval=1.0) as writer:
        await writer.write(line)            # or writer.write_points([...])

A batch is sent when it holds `batch_size` lines or when its oldest line is `flush_interval`
seconds old. At most `max_pending` sealed batches wait to be sent; when they are all taken,
`write` blocks (backpressure) rather than grow without bound, or, with `when_full="fail"`, the
new batch goes to `on_failure` at once (the gateway spools it: a slow server never holds up
its caller). `max_in_flight` batches are sent at once, so encoding the next batch overlaps the
server's work on the previous one.

A batch of which the server stored some lines and dropped others (a 1.x partial write) counts
the stored ones in `stats.lines_written` and the dropped ones in `stats.lines_refused`; it is
not handed to `on_failure`, as sending it again would not change the answer.

A batch that still fails after the client's bounded retries goes to `on_failure` (the gateway
spools it to disk); without a handler it is logged and counted in `stats.lines_failed`. While
`hold()` is true (the server is known to be away, or older data waits in a spool), batches go
to `on_failure` without a try, so they keep their order behind what waits.

A line may carry a receipt (say, the MQTT message it came from); once its batch is written
or handed to `on_failure`, `on_done` gets the batch's receipts, so the source can be told the
data is safe (the gateway acknowledges the messages then). Receipts are done in the order
their batches were sealed, even when a later batch is written first: a receipt is never done
while a line written before it may still be lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from streetlight.influx.client import (
    InfluxClient,
    InfluxError,
    InfluxPartialWriteError,
    InfluxUnavailableError,
)
from streetlight.influx.line_protocol import Point

logger = logging.getLogger(__name__)

FailureHandler = Callable[[list[str], InfluxError], Awaitable[None]]


class WriterFullError(InfluxUnavailableError):
    """Every place for a pending batch was taken (`when_full="fail"`): the server is slower
    than the writer's caller, not necessarily away."""


DoneHandler = Callable[[list[object]], None]


@dataclass
class WriterStats:
    lines_written: int = 0
    batches_written: int = 0
    lines_failed: int = 0
    batches_failed: int = 0
    lines_refused: int = 0  # dropped by the server from a write it otherwise stored
    batches_overflowed: int = 0  # handed to on_failure because every pending place was taken


class BatchWriter:
    """Buffers line-protocol lines and writes them to one InfluxDB database in batches."""

    def __init__(
        self,
        client: InfluxClient,
        *,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        max_pending: int = 8,
        max_in_flight: int = 2,
        on_failure: FailureHandler | None = None,
        on_done: DoneHandler | None = None,
        hold: Callable[[], bool] | None = None,
        database: str | None = None,
        when_full: Literal["wait", "fail"] = "wait",
    ) -> None:
        if when_full == "fail" and on_failure is None:
            raise ValueError('when_full="fail" needs an on_failure handler to take the batch')
        if batch_size < 1 or flush_interval <= 0 or max_pending < 1 or max_in_flight < 1:
            raise ValueError("batch_size, flush_interval, max_pending, max_in_flight must be > 0")
        self._client = client
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_in_flight = max_in_flight
        self._on_failure = on_failure
        self._on_done = on_done
        self._hold = hold
        self._database = database
        self._when_full = when_full
        self._buffer: list[str] = []
        self._receipts: list[object] = []
        self._buffer_since = 0.0
        self._batches: asyncio.Queue[tuple[int, list[str], list[object]] | None] = asyncio.Queue(
            maxsize=max_pending
        )
        self._sealed = 0  # batches sealed so far; each batch's number is its order
        self._released = 0  # batches whose receipts have gone to on_done, in order
        self._finished: dict[int, list[object]] = {}  # receipts of batches done out of order
        self._tasks: asyncio.TaskGroup | None = None
        self._senders: list[asyncio.Task[None]] = []
        self.drain_timeout: float | None = None  # on close, the longest to wait for the server
        self._closing = False
        self._closed = asyncio.Event()
        self._unsent = 0  # lines in sealed batches not yet written or handed to on_failure
        self.stats = WriterStats()

    async def __aenter__(self) -> BatchWriter:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._tasks.create_task(self._age_flusher(), name="influx-writer-age-flusher")
        self._senders = [
            self._tasks.create_task(self._sender(), name=f"influx-writer-sender-{index}")
            for index in range(self._max_in_flight)
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Send what is buffered; within `drain_timeout` seconds, if one is set: what the server
        has not taken by then is left unsent (its receipts are never done) and logged."""
        self._closing = True
        self._closed.set()
        assert self._tasks is not None
        try:
            async with asyncio.timeout(self.drain_timeout):
                await self._seal()
                for _ in range(self._max_in_flight):
                    await self._batches.put(None)
                await asyncio.wait(self._senders)
        except TimeoutError:
            logger.warning(
                "InfluxDB took no more within %.0f s of closing: %d lines left unsent",
                self.drain_timeout,
                self.buffered,
            )
            for task in self._senders:
                task.cancel()
        finally:
            await self._tasks.__aexit__(None, None, None)
            self._tasks = None

    async def write(self, line: str, receipt: object | None = None) -> None:
        """Add one encoded line; may wait while the pending batches are full."""
        if not self._buffer:
            self._buffer_since = time.monotonic()
        self._buffer.append(line)
        if receipt is not None:
            self._receipts.append(receipt)
        if len(self._buffer) >= self._batch_size:
            await self._seal()

    async def write_many(self, lines: Sequence[str], receipts: Sequence[object] = ()) -> None:
        """Add several lines at once; `receipts` are done when the last of the lines is."""
        if not lines:
            return
        if not self._buffer:
            self._buffer_since = time.monotonic()
        start = 0
        while start < len(lines):
            room = self._batch_size - len(self._buffer)
            self._buffer.extend(lines[start : start + room])
            start += room
            if start >= len(lines):
                self._receipts.extend(receipts)
            if len(self._buffer) >= self._batch_size:
                await self._seal()
                self._buffer_since = time.monotonic()

    async def write_lines(self, lines: Iterable[str]) -> None:
        await self.write_many(list(lines))

    async def write_points(self, points: Iterable[Point]) -> None:
        for point in points:
            await self.write(point.to_line())

    async def flush(self) -> None:
        """Send what is buffered and wait until every batch so far has been handled."""
        await self._seal()
        await self._batches.join()

    @property
    def buffered(self) -> int:
        """Lines not yet handed to a sender."""
        return len(self._buffer) + self._unsent

    async def _seal(self) -> None:
        if not self._buffer:
            return
        if self._tasks is None and not self._closing:
            raise RuntimeError("BatchWriter is used outside its 'async with' block")
        batch, self._buffer = self._buffer, []
        receipts, self._receipts = self._receipts, []
        number, self._sealed = self._sealed, self._sealed + 1
        if self._when_full == "fail" and self._batches.full() and not self._closing:
            assert self._on_failure is not None
            self.stats.batches_overflowed += 1
            await self._on_failure(batch, WriterFullError("every pending batch's place is taken"))
            self._release(number, receipts)
            return
        self._unsent += len(batch)
        await self._batches.put((number, batch, receipts))

    async def _age_flusher(self) -> None:
        while not self._closed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval / 4):
                    await self._closed.wait()
            if self._buffer and time.monotonic() - self._buffer_since >= self._flush_interval:
                await self._seal()

    async def _sender(self) -> None:
        while True:
            item = await self._batches.get()
            try:
                if item is None:
                    return
                number, batch, receipts = item
                await self._send(batch)
                self._unsent -= len(batch)
                self._release(number, receipts)
            finally:
                self._batches.task_done()

    def _release(self, number: int, receipts: list[object]) -> None:
        """Receipts of batch `number` and of any later ones that were only waiting for it."""
        self._finished[number] = receipts
        while self._released in self._finished:
            ready = self._finished.pop(self._released)
            self._released += 1
            if self._on_done is not None and ready:
                self._on_done(ready)

    async def _send(self, batch: list[str]) -> None:
        try:
            if self._hold is not None and self._hold():
                raise InfluxUnavailableError("writes held: the server is away or a spool drains")
            await self._client.write_lines(batch, database=self._database)
        except InfluxPartialWriteError as exc:
            dropped = min(exc.dropped, len(batch))
            self.stats.lines_written += len(batch) - dropped
            self.stats.lines_refused += dropped
            self.stats.batches_written += 1
            logger.error("InfluxDB dropped %d of %d points: %s", dropped, len(batch), exc)  # noqa: TRY400 - the reason is in the message
        except InfluxError as exc:
            self.stats.batches_failed += 1
            if self._on_failure is not None:
                await self._on_failure(batch, exc)
            else:
                self.stats.lines_failed += len(batch)
                logger.error("dropped a batch of %d lines: %s", len(batch), exc)  # noqa: TRY400 - the reason is in the message; a traceback adds nothing
        else:
            self.stats.lines_written += len(batch)
            self.stats.batches_written += 1
