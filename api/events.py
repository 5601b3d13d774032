"""The event stream: every change of a lamp's or cabinet's state, and every alarm event.

Each subscriber (an open `GET /api/v1/events`) has a bounded queue. A subscriber that falls
so far behind that its queue fills is sent `resync` and its stream ends: the page fetches the
district's state again and reconnects, rather than the server holding an unbounded backlog.
A maintainer's stream carries only its own sites' alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from api.live import STATES, LiveState
from streetlight.contract import AlarmEvent

QUEUE = 512  # events a subscriber may be behind before it must resync


@dataclass(eq=False)
class Subscriber:
    sites: frozenset[str] | None  # None: every site's alarms
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    overflowed: bool = False

    def put(self, event: str, data: Any) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait((event, data))
        except asyncio.QueueFull:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()  # room for the last word
            self.queue.put_nowait(("resync", {"why": "the stream fell behind"}))


class Hub:
    def __init__(self, live: LiveState) -> None:
        self.live = live
        self.subscribers: set[Subscriber] = set()
        live.listeners.append(self._changed)

    @contextlib.asynccontextmanager
    async def subscribe(self, sites: frozenset[str] | None) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(sites)
        self.subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self.subscribers.discard(subscriber)

    def _changed(self, lamps: list[int], cabinets: list[int]) -> None:
        if not self.subscribers:
            return
        live = self.live
        data = {
            "lamps": {
                "id": [live.lamps[i].id for i in lamps],
                "state": [STATES[live.state[i]] for i in lamps],
                "level": [live.level[i] for i in lamps],
                "power_w": [live.power[i] for i in lamps],
            },
            "cabinets": {
                "id": [live.cabinets[i].id for i in cabinets],
                "state": [STATES[live.cabinet_state[i]] for i in cabinets],
            },
        }
        for subscriber in self.subscribers:
            subscriber.put("state", data)

    def resync(self, why: str) -> None:
        """Every stream ends with `resync`: what its page holds of the district is out of date
        (the assets changed), so it fetches the district again and reconnects."""
        for subscriber in self.subscribers:
            subscriber.put("resync", {"why": why})

    def alarm(self, event: AlarmEvent, site: str | None) -> None:
        data = event.model_dump(mode="json", exclude_none=True)
        for subscriber in self.subscribers:
            if subscriber.sites is None or site in subscriber.sites:
                subscriber.put("alarm", data)
