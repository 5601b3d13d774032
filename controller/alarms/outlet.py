"""Where the alarm book's changes go: the store, the bus, InfluxDB, and whoever else listens.

The book calls `add` synchronously as it reads telemetry; `run` drains what gathered every
`flush_s` (wall) in order: one store transaction (nothing is published before it is stored),
then one retained AlarmEvent per change on the alarm topic, then the events as InfluxDB points
(measurement `alarm`, for Grafana annotations), then the listeners (ledger, notifier). If
InfluxDB is away, its points wait in memory (up to `INFLUX_BACKLOG`, the oldest dropped beyond)
and go with the next flush; the store holds every alarm whatever happens to them.

The store's failures are told apart. A transient one (`TRANSIENT`: the database locked or
unreachable, a timeout) keeps the changes for the next flush, with capped, jittered backoff
(0.5 s doubling to 30 s). A change the store refuses (a broken constraint: a foreign key, a
unique id) is not retried: the batch is written again change by change, each refused one is
logged with the rows it named and counted in `refused`, and the rest are stored. Any other
error drops the batch, logged with its changes. Changes wait in memory up to `PENDING_MAX`;
beyond, new changes are dropped and counted in `dropped` (the alarm book keeps its state).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from controller.alarms.book import Alarm
from streetlight.backoff import Backoff
from streetlight.contract import AlarmEvent, Target, TargetKind, Topics, alarm_line, encode
from streetlight.domain import AlarmChange, Inventory
from streetlight.influx import InfluxClient, InfluxError
from streetlight.store import sessions
from streetlight.store.alarms import Transition, write_transitions

logger = logging.getLogger(__name__)

INFLUX_BACKLOG = 100_000
PENDING_MAX = 100_000  # changes waiting for the store, at most
# the store's failures that a later try may not meet: locked, unreachable, too slow
TRANSIENT: tuple[type[Exception], ...] = (OperationalError, InterfaceError, TimeoutError, OSError)
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
        self._backoff = Backoff(initial=0.5, cap=30.0)
        self.written = 0
        self.refused = 0  # changes the store refused (a broken constraint): logged, not retried
        self.dropped = 0  # changes dropped: more than PENDING_MAX waiting, or an unknown error
        self.store_failures = 0
        self.influx_failures = 0

    def add(self, alarm: Alarm, change: AlarmChange, at: datetime, note: str) -> None:
        if len(self._pending) >= PENDING_MAX:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.error(
                    "%d alarm changes wait for the store: %d dropped so far (al-%d %s %s)",
                    len(self._pending), self.dropped, alarm.id, change.value, alarm.type.value,
                )  # fmt: skip
            return
        self._pending.append(alarm.transition(change, at, note))
        self._wake.set()

    async def run(self, publish: Publish) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.flush_s)  # gather what comes together (an alarm storm)
            self._wake.clear()
            if not await self.flush(publish):
                await asyncio.sleep(self._backoff.next_delay())
                self._wake.set()

    async def flush(self, publish: Publish | None) -> bool:
        """Store, publish and hand on what gathered; False if the store failed for now (the
        changes wait for the next flush)."""
        batch, self._pending = self._pending, []
        if not batch:
            return True
        try:
            await self._store(batch)
        except TRANSIENT as exc:
            self._pending[:0] = batch  # kept for the next flush: the store is the record
            self._store_failed(len(batch), exc)
            return False
        except IntegrityError:
            batch = await self._store_each(batch)
        except Exception:
            self.dropped += len(batch)
            logger.exception("the store failed on %d alarm changes; dropped: %s", len(batch),
                             _rows(batch))  # fmt: skip
            return True  # given up on: nothing to try again
        if self.store_failures:
            logger.info("alarm changes stored again after %d failures", self.store_failures)
        self.store_failures = 0
        self._backoff.reset()
        if batch:
            await self._deliver(batch, publish)
        return True

    def _store_failed(self, count: int, exc: BaseException) -> None:
        self.store_failures += 1
        if self.store_failures == 1 or self.store_failures % 20 == 0:
            logger.warning(
                "cannot write %d alarm changes to the store (%s); kept for the next try",
                count, _reason(exc),
            )  # fmt: skip

    async def _deliver(self, batch: Sequence[Transition], publish: Publish | None) -> None:
        """Stored changes to the bus, InfluxDB and the listeners."""
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

    async def _store(self, batch: Sequence[Transition]) -> None:
        async with sessions(self.engine)() as session, session.begin():
            await write_transitions(session, batch)

    async def _store_each(self, batch: Sequence[Transition]) -> list[Transition]:
        """The batch broke a constraint: each change alone, in order; those the store refuses
        are logged with their rows and left out. The ones stored, returned."""
        stored: list[Transition] = []
        for index, t in enumerate(batch):
            try:
                await self._store((t,))
            except TRANSIENT as exc:
                self._pending[:0] = batch[index:]  # the rest waits for the next flush
                self._store_failed(len(batch) - index, exc)
                break
            except IntegrityError as exc:
                self.refused += 1
                logger.error("the store refused %s: %s", _rows((t,)), _reason(exc))  # noqa: TRY400 - the reason is the message
            else:
                stored.append(t)
        return stored

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


def _rows(batch: Sequence[Transition]) -> str:
    """The rows a batch of changes names, for a log line: al-12 raised lamp:X (parent al-3)."""
    shown = [
        f"al-{t.alarm_id} {t.change.value} {t.type.value} {t.asset}"
        + (f" (parent al-{t.parent})" if t.parent is not None else "")
        for t in batch[:20]
    ]
    more = f" and {len(batch) - 20} more" if len(batch) > 20 else ""
    return ", ".join(shown) + more


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
