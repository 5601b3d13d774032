"""The KPI points on their way to InfluxDB: a bounded backlog that survives an outage.

Each round's points wait here, in order, until InfluxDB takes them; while it is away they are
tried again every `retry_s` (wall) and at every mark. The backlog is bounded in lines: when
full, the oldest rounds' `kpi`, `open_alarm` and `work_order` points are dropped first (a
later round says the same things more recently), counted in `dropped` and logged; a night's
summary (`kpi_night`, `switching`) is dropped only if nights alone fill it. A batch InfluxDB
refuses (HTTP 4xx, e.g. a field of another type) is not retried: counted in `refused` and
logged; an unknown database (404: not yet created by the gateway) waits like an outage.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from streetlight.backoff import LinkState
from streetlight.influx import InfluxClient, InfluxRequestError, InfluxUnavailableError

logger = logging.getLogger(__name__)

BATCH_LINES = 5000  # lines per request, as the contract's writers send them
NOT_FOUND = 404


@dataclass(slots=True, eq=False)
class Batch:
    policy: str  # the retention policy its points go to
    lines: list[str]
    night: bool  # a night's summary: kept before anything else


@dataclass(slots=True)
class OutboxStats:
    written: int = 0  # lines InfluxDB took
    dropped: int = 0  # lines dropped for room while InfluxDB was away
    refused: int = 0  # lines InfluxDB refused


class Outbox:
    def __init__(self, max_lines: int) -> None:
        self.max_lines = max_lines
        self.batches: deque[Batch] = deque()
        self.lines = 0
        self.stats = OutboxStats()
        self._link = LinkState(logger, "InfluxDB (KPI points)")
        self._writing: Batch | None = None  # never dropped while it is being written

    def add(self, policy: str, lines: list[str], *, night: bool = False) -> None:
        if not lines:
            return
        self.batches.append(Batch(policy, lines, night))
        self.lines += len(lines)
        while self.lines > self.max_lines:
            candidates = [b for b in self.batches if b is not self._writing]
            if not candidates:
                break
            victim = next((b for b in candidates if not b.night), candidates[0])
            self.batches.remove(victim)
            self.lines -= len(victim.lines)
            self.stats.dropped += len(victim.lines)
            logger.error(
                "KPI backlog full (%d lines): %d %s lines dropped (%d in all)",
                self.max_lines, len(victim.lines),
                "night summary" if victim.night else "oldest", self.stats.dropped,
            )  # fmt: skip

    async def flush(self, client: InfluxClient | None) -> bool:
        """Write what waits, oldest first; True when nothing is left."""
        if client is None:
            return not self.batches
        while self.batches:
            batch = self._writing = self.batches[0]
            try:
                if not await self._write(client, batch):
                    return False
            finally:
                self._writing = None
            self.batches.remove(batch)
        return True

    async def _write(self, client: InfluxClient, batch: Batch) -> bool:
        while batch.lines:
            chunk = batch.lines[:BATCH_LINES]
            try:
                await client.write_lines(chunk, retention_policy=batch.policy, retry=False)
            except InfluxUnavailableError as exc:
                self._link.failed(f"{exc}; {self.lines} lines kept")
                return False
            except InfluxRequestError as exc:
                if exc.status == NOT_FOUND:
                    self._link.failed(f"{exc}; {self.lines} lines kept")
                    return False
                self.stats.refused += len(chunk)
                logger.error("InfluxDB refused %d KPI lines: %s", len(chunk), exc)  # noqa: TRY400 - the reason is the message
            else:
                self.stats.written += len(chunk)
                self._link.ok()
            del batch.lines[: len(chunk)]
            self.lines -= len(chunk)
        return True
