"""Where the alarm book's changes go: the store, the bus, InfluxDB, and whoever else listens.

The book calls `add` synchronously as it reads telemetry; `run` drains what gathered every
`flush_s` (wall) in order: one store transaction (nothing is published before it is stored),
then one retained AlarmEvent per change on the alarm topic, then the events as InfluxDB points
(measurement `alarm`, for Grafana annotations), then the listeners (ledger, notifier). If
InfluxDB is away, its points wait in memory (up to `INFLUX_BACKLOG`) and go with the next
flush; the store holds every alarm whatever happens to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from controller.alarms.book import Alarm
from streetlight.contract import AlarmEvent, Target, TargetKind, Topics, alarm_line, encode
from streetlight.domain import AlarmChange, Inventory
from streetlight.influx import InfluxClient, InfluxError
from streetlight.store import sessions
from streetlight.store.alarms import Transition, write_transitions

logger = logging.getLogger(__name__)

INFLUX_BACKLOG = 100_000
Publish = Callable[[str, bytes], Awaitable[None]]
Listener = Callable[[Sequence[Transition]], Awaitable[None]]


class AlarmOutlet:
    def __init__(
        self,
        inventory: Inventory,
        topics: Topics,
        engine: AsyncEngine,
        influx: InfluxClient | None,
        *,
        flush_s: float = 0.25,
    ) -> None:
        self.topics = topics
        self.engine = engine
        self.influx = influx
        self.flush_s = flush_s
        self.listeners: list[Listener] = []
        self._pending: list[Transition] = []
        self._influx_backlog: list[str] = []
        self._subdistrict = {
            site.id: inventory.communities[site.community_id].subdistrict_id
            for site in inventory.sites.values()
        }
        self._wake = asyncio.Event()
        self.written = 0
        self.influx_failures = 0

    def add(self, alarm: Alarm, change: AlarmChange, at: datetime, note: str) -> None:
        self._pending.append(alarm.transition(change, at, note))
        self._wake.set()

    async def run(self, publish: Publish) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_s)  # gather what comes together (an alarm storm)
            self._wake.clear()
            await self.flush(publish)

    async def flush(self, publish: Publish | None) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            async with sessions(self.engine)() as session, session.begin():
                await write_transitions(session, batch)
        except Exception:
            self._pending[:0] = batch  # kept for the next flush: the store is the record
            logger.exception("cannot write %d alarm changes to the store; will retry", len(batch))
            await asyncio.sleep(1.0)
            self._wake.set()
            return
        self.written += len(batch)
        events = [self.event(t) for t in batch]
        if publish is not None:
            for t, event in zip(batch, events, strict=True):
                kind, _, ident = t.asset.partition(":")
                topic = self.topics.alarm(TargetKind(kind), ident, t.type.value)
                await publish(topic, encode(event))
        await self._write_influx(batch, events)
        for listener in self.listeners:
            try:
                await listener(batch)
            except Exception:
                logger.exception("an alarm listener failed on %d changes", len(batch))

    def event(self, t: Transition) -> AlarmEvent:
        kind, _, ident = t.asset.partition(":")
        return AlarmEvent(
            id=f"al-{t.alarm_id}",
            type=t.type,
            asset=Target(kind=TargetKind(kind), id=ident),
            severity=t.severity,
            state=t.state,
            at=t.at,
            raised_at=t.raised_at,
            cleared_at=t.cleared_at,
            parent=f"al-{t.parent}" if t.parent is not None else None,
            detail=(f"{t.detail}; {t.note}" if t.note else t.detail)[:500] or None,
        )

    async def _write_influx(self, batch: Sequence[Transition], events: list[AlarmEvent]) -> None:
        if self.influx is None:
            return
        lines = self._influx_backlog
        lines.extend(
            alarm_line(event, self._subdistrict.get(t.site))
            for t, event in zip(batch, events, strict=True)
            if t.change in (AlarmChange.RAISED, AlarmChange.CLEARED, AlarmChange.SURFACED)
        )
        if len(lines) > INFLUX_BACKLOG:
            del lines[: len(lines) - INFLUX_BACKLOG]
        if not lines:
            return
        try:
            await self.influx.write_lines(lines, retry=False)
        except InfluxError as exc:
            self.influx_failures += 1
            if self.influx_failures == 1 or self.influx_failures % 100 == 0:
                logger.warning("alarm events not written to InfluxDB (kept): %s", exc)
            return
        lines.clear()
        self.influx_failures = 0
