"""The alarm table in memory, for the alarm list: as fresh as the store within a second.

The alarm list is what the console's queue, crews' phones and the dashboards' links ask most
after a lamp's state, and one worker cannot give each page a store query of its own at 500
requests a second (5.5 ms of CPU a page on SQLite, whose driver hands every query to a thread
and back; 4 ms on PostgreSQL). So the API holds every alarm as the list shows it (its columns,
its work order, its JSON, encoded once) and answers a page from memory. The store stays the
record: an alarm's detail and every step still read and write it.

Following the store: whatever changes an alarm as the list shows it adds a row to one of two
logs with increasing ids, `alarm_transitions` (raised, cleared, suppressed, surfaced,
acknowledged, closed, a note) and `work_orders` (the order an alarm opened, for good).
`sync()` reads the rows after the highest id it has seen, then those alarms again. It runs every
`sync_s`, at once when the bus tells of an alarm, and after an API step before the step
answers, so the caller's next list holds it. PostgreSQL hands out ids before a commit, so a row
may commit after one with a higher id: the ids skipped are asked for again for `GAP_S`.

A page walks the alarms by id from its cursor and stops at the page's end, starting from the
smallest list that holds every match (the open alarms, a site's, an asset's, the sites of a
subdistrict or a maintainer); bench/api_load.py measures pages of varied filters and the memory
an alarm takes.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from heapq import merge

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from streetlight.aio import first_of
from streetlight.domain import AlarmState, AlarmType, Severity
from streetlight.domain.workorders import order_label
from streetlight.store.alarms import (
    CHANGE_LOGS,
    OPEN_STATES,
    AlarmLine,
    AlarmQuery,
    alarm_lines,
    changes_after,
    last_change,
    site_subdistricts,
)
from streetlight.store.times import from_store, maybe_from_store

logger = logging.getLogger(__name__)

GAP_S = 60.0  # a transaction open longer than this has failed, not yet to commit
GAP_MAX = 10_000  # more ids skipped at once are no open transactions (a sequence's jump)
LOOKBACK = 1_000  # at start, the last ids of each log, so that gaps among them are followed
SYNC_TIMEOUT_S = 10.0
QUIET_S = 0.05  # at least this between two syncs of the loop

_TYPES = frozenset(t.value for t in AlarmType)
_SEVERITIES = frozenset(s.value for s in Severity)
_STATES = frozenset(s.value for s in AlarmState)


def listed(line: AlarmLine) -> dict[str, object]:
    """An alarm as the list and its detail show it (orjson writes UTC as Z, as pydantic does)."""
    if line.type not in _TYPES or line.severity not in _SEVERITIES or line.state not in _STATES:
        raise ValueError(f"alarm al-{line.id} holds a type, severity or state of no enum")
    return {
        "id": f"al-{line.id}",
        "type": line.type,
        "asset": f"{line.asset_kind}:{line.asset_id}",
        "severity": line.severity,
        "state": line.state,
        "site": line.site_id,
        "parent": None if line.parent_id is None else f"al-{line.parent_id}",
        "raised_at": from_store(line.raised_at),
        "cleared_at": maybe_from_store(line.cleared_at),
        "detail": line.detail,
        "work_order": None if line.work_order is None else order_label(line.work_order),
    }


@dataclass(frozen=True, slots=True)
class _Alarm:
    """What a filter looks at, and the alarm's JSON. An alarm's site, asset and raised time
    never change (the controller writes them once); its state, parent, clearing and work
    order do, and each change is a new `_Alarm`."""

    id: int
    type: str
    severity: str
    state: str
    site: str
    asset: str  # kind:id
    root: bool  # no parent
    raised_at: datetime  # aware
    json: bytes


def _insert(ids: list[int], ident: int) -> None:
    if not ids or ids[-1] < ident:
        ids.append(ident)  # the usual case: a new alarm has the highest id
    else:
        bisect.insort(ids, ident)


def _remove(ids: list[int], ident: int) -> None:
    k = bisect.bisect_left(ids, ident)
    if k < len(ids) and ids[k] == ident:
        del ids[k]


class _Log:
    """How far one change log has been read: its highest id, and the ids skipped below it
    that an open transaction may still commit (each with when it was first missed)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.high = 0
        self.gaps: dict[int, float] = {}

    async def start(self, session: AsyncSession, now: float) -> None:
        self.high = max(0, await last_change(session, self.name) - LOOKBACK)
        await self.read(session, now)

    async def read(self, session: AsyncSession, now: float) -> set[int]:
        """The alarms of the rows added since the last read."""
        rows = await changes_after(session, self.name, self.high, self.gaps)
        seen = {row_id for row_id, _alarm in rows}
        for row_id in seen:
            self.gaps.pop(row_id, None)
        top = max(seen, default=self.high)
        if top - self.high <= GAP_MAX:
            for row_id in range(self.high + 1, top):
                if row_id not in seen:
                    self.gaps[row_id] = now
        self.high = max(self.high, top)
        for row_id, missed in list(self.gaps.items()):
            if now - missed > GAP_S:
                del self.gaps[row_id]
        return {alarm for _row, alarm in rows}


class AlarmIndex:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sync_s: float) -> None:
        self._sessions = sessions
        self.sync_s = sync_s
        self._alarms: dict[int, _Alarm] = {}
        self._ids: list[int] = []  # every alarm, by id
        self._open: list[int] = []  # raised or acknowledged, by id
        self._of_site: dict[str, list[int]] = {}
        self._of_asset: dict[str, list[int]] = {}
        self._of_subdistrict: dict[str, list[int]] = {}
        self._subdistrict_of: dict[str, str] = {}  # site -> its subdistrict
        self._by_raised: list[tuple[float, int]] = []  # (raised at, epoch s; id), in order
        self._logs = tuple(_Log(name) for name in CHANGE_LOGS)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.syncs = 0
        self.unlisted = 0  # alarms the store holds with a type, severity or state of no enum

    def __len__(self) -> int:
        return len(self._alarms)

    # --- following the store -------------------------------------------------------------

    async def load(self) -> None:
        """Every alarm of the store, and where each change log stands."""
        async with self._lock:
            async with self._sessions() as session:
                now = time.monotonic()
                for log in self._logs:
                    await log.start(session, now)
                subdistricts = await site_subdistricts(session)
                lines = await alarm_lines(session, None)
            self._use_subdistricts(subdistricts)
            for line in lines:
                self._put(line)

    async def sync(self) -> int:
        """Read again the alarms changed since the last sync; how many."""
        async with self._lock:
            async with self._sessions() as session:
                now = time.monotonic()
                changed: set[int] = set()
                for log in self._logs:
                    changed |= await log.read(session, now)
                lines = await alarm_lines(session, changed) if changed else []
            for line in lines:
                self._put(line)
            self.syncs += 1
            return len(lines)

    async def catch_up(self) -> bool:
        """`sync()` after a write of the API's own: False (said) if the store could not be read
        again; the write stands, and the next tick catches up."""
        try:
            async with asyncio.timeout(SYNC_TIMEOUT_S):
                await self.sync()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            logger.warning("the alarm list will show the step at its next sync: %s", exc)
            return False
        return True

    async def reload_sites(self) -> None:
        """The sites of each subdistrict again (the assets changed)."""
        async with self._sessions() as session:
            self._use_subdistricts(await site_subdistricts(session))

    def changed(self) -> None:
        """The bus told of an alarm: sync now."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Sync every `sync_s`, or at once when woken. A store that cannot be read is said once
        and tried again at the next tick; the list meanwhile answers what it last read."""
        failing = False
        while not stop.is_set():
            with suppress(TimeoutError):
                if not await first_of(asyncio.wait_for(self._wake.wait(), self.sync_s), stop):
                    return
            self._wake.clear()
            try:
                async with asyncio.timeout(SYNC_TIMEOUT_S):
                    await self.sync()
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                if not failing:
                    logger.warning("the alarm list cannot follow the store: %s", exc)
                failing = True
            else:
                if failing:
                    logger.info("the alarm list follows the store again")
                failing = False
            # a storm of alarm events is read in batches, not a sync for each
            if not await first_of(asyncio.sleep(QUIET_S), stop):
                return

    def _use_subdistricts(self, subdistricts: dict[str, str]) -> None:
        self._subdistrict_of = subdistricts
        of_subdistrict: dict[str, list[int]] = {}
        for ident in self._ids:
            subdistrict = subdistricts.get(self._alarms[ident].site)
            if subdistrict is not None:
                of_subdistrict.setdefault(subdistrict, []).append(ident)
        self._of_subdistrict = of_subdistrict

    def _put(self, line: AlarmLine) -> None:
        try:
            # orjson's bytes keep the 4 KiB it wrote them in; a copy holds only the JSON
            encoded = bytes(memoryview(orjson.dumps(listed(line), option=orjson.OPT_UTC_Z)))
        except ValueError as exc:
            self.unlisted += 1
            logger.warning("%s: left out of the alarm list", exc)
            return
        word = sys.intern  # a type, severity, state or site is one of few: held once
        alarm = _Alarm(line.id, word(line.type), word(line.severity), word(line.state),
                       word(line.site_id), f"{line.asset_kind}:{line.asset_id}",
                       line.parent_id is None, from_store(line.raised_at), encoded)  # fmt: skip
        old = self._alarms.get(line.id)
        self._alarms[line.id] = alarm
        if old is None:
            self._add(alarm)
        was_open = old is not None and old.state in OPEN_STATES
        if was_open != (alarm.state in OPEN_STATES):
            (_remove if was_open else _insert)(self._open, alarm.id)

    def _add(self, alarm: _Alarm) -> None:
        """A new alarm into the lists of its site, subdistrict, asset and raised time."""
        _insert(self._ids, alarm.id)
        _insert(self._of_site.setdefault(alarm.site, []), alarm.id)
        _insert(self._of_asset.setdefault(alarm.asset, []), alarm.id)
        subdistrict = self._subdistrict_of.get(alarm.site)
        if subdistrict is not None:
            _insert(self._of_subdistrict.setdefault(subdistrict, []), alarm.id)
        bisect.insort(self._by_raised, (alarm.raised_at.timestamp(), alarm.id))

    # --- answering -----------------------------------------------------------------------

    def page(
        self, query: AlarmQuery, *, after: int | None, limit: int, newest_first: bool = False
    ) -> tuple[list[bytes], int | None]:
        """Up to `limit` alarms `query` lets through, by id after the alarm `after` (newest
        first: before it), as JSON; and the id to go on after (None: there are no more)."""
        sites = self._sites(query)
        ids = self._candidates(query, sites)
        if newest_first:
            end = len(ids) if after is None else bisect.bisect_left(ids, after)
            walk: Iterable[int] = range(end - 1, -1, -1)
        else:
            walk = range(0 if after is None else bisect.bisect_right(ids, after), len(ids))
        admits = self._admits(query, sites)
        alarms = self._alarms
        found: list[_Alarm] = []
        for k in walk:
            alarm = alarms[ids[k]]
            if admits(alarm):
                if len(found) == limit:
                    return [a.json for a in found], found[-1].id
                found.append(alarm)
        return [a.json for a in found], None

    def _sites(self, query: AlarmQuery) -> frozenset[str] | None:
        """The sites a query keeps to (None: any)."""
        sites = query.sites
        if query.site is not None:
            sites = frozenset({query.site}) if sites is None else sites & {query.site}
        return sites

    def _candidates(self, query: AlarmQuery, sites: frozenset[str] | None) -> list[int]:
        """The shortest list of ids (in order) that holds every alarm the query lets through:
        every alarm, the open ones, a subdistrict's, an asset's, the sites', or those raised
        in the query's window."""
        options = [self._ids]
        if query.states is not None and query.states <= OPEN_STATES:
            options.append(self._open)
        if query.subdistrict is not None:
            options.append(self._of_subdistrict.get(query.subdistrict, []))
        if query.asset is not None:
            options.append(self._of_asset.get(":".join(query.asset), []))
        shortest = min(options, key=len)
        if sites is not None:
            lists = [self._of_site.get(site, []) for site in sites]
            if sum(map(len, lists)) < len(shortest):
                shortest = lists[0] if len(lists) == 1 else list(merge(*lists))
        if query.raised_since is not None or query.raised_until is not None:
            window = self._raised_between(query.raised_since, query.raised_until)
            if len(window) < len(shortest):
                shortest = sorted(ident for _at, ident in window)
        return shortest

    def _raised_between(
        self, since: datetime | None, until: datetime | None
    ) -> list[tuple[float, int]]:
        """The alarms raised in [since, until), by raised time (a second wider each way: the
        filter itself compares the times exactly)."""
        first = (
            0 if since is None else bisect.bisect_left(self._by_raised, (since.timestamp() - 1,))
        )
        end = len(self._by_raised) if until is None else bisect.bisect_left(
            self._by_raised, (until.timestamp() + 1,))  # fmt: skip
        return self._by_raised[first:end]

    def _admits(self, query: AlarmQuery, sites: frozenset[str] | None) -> Callable[[_Alarm], bool]:
        states, kind, severity = query.states, query.type, query.severity
        asset = query.asset and ":".join(query.asset)
        since, until, roots = query.raised_since, query.raised_until, query.roots_only

        subdistrict = query.subdistrict
        subdistrict_of = self._subdistrict_of

        def admits(alarm: _Alarm) -> bool:
            return (
                (states is None or alarm.state in states)
                and (kind is None or alarm.type == kind)
                and (severity is None or alarm.severity == severity)
                and (sites is None or alarm.site in sites)
                and (subdistrict is None or subdistrict_of.get(alarm.site) == subdistrict)
                and (asset is None or alarm.asset == asset)
                and (since is None or alarm.raised_at >= since)
                and (until is None or alarm.raised_at < until)
                and (not roots or alarm.root)
            )

        return admits
