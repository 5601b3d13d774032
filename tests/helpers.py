"""Helpers the tests share."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from streetlight.domain import Inventory
from streetlight.inventory import load_inventory
from streetlight.mqtt import make_client
from streetlight.settings import MqttUrl
from tests.conftest import SAMPLE_INVENTORY

_sample: Inventory | None = None


def sample_district() -> Inventory:
    """The sample district (loaded once per test session)."""
    global _sample  # noqa: PLW0603 - a cache of an immutable value
    if _sample is None:
        _sample = load_inventory(SAMPLE_INVENTORY)
    return _sample


def subset(site_ids: Iterable[str], inventory: Inventory | None = None) -> Inventory:
    """The part of an inventory (default: the sample) on the given sites."""
    inv = inventory or sample_district()
    sites = {site_id: inv.sites[site_id] for site_id in site_ids}
    communities = {s.community_id: inv.communities[s.community_id] for s in sites.values()}
    cabinets = {k: c for k, c in inv.cabinets.items() if c.site_id in sites}
    circuits = {k: c for k, c in inv.circuits.items() if c.cabinet_id in cabinets}
    return Inventory(
        district=inv.district,
        subdistricts={
            c.subdistrict_id: inv.subdistricts[c.subdistrict_id] for c in communities.values()
        },
        communities=communities,
        maintainers={s.maintainer_id: inv.maintainers[s.maintainer_id] for s in sites.values()},
        sites=sites,
        cabinets=cabinets,
        circuits=circuits,
        lamps={k: lamp for k, lamp in inv.lamps.items() if lamp.circuit_id in circuits},
    )


async def eventually(condition: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    """Wait (wall time) until `condition()` holds; fail naming `what` if it never does."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


class Listener:
    """Collects the messages of some topic filters from a real broker, in the background.

    async with Listener(url, ["root/slc-a/+/report"]) as listener:
        ...
        await eventually(lambda: len(listener.messages) >= 10)
    """

    def __init__(self, url: MqttUrl, filters: list[str], identifier: str = "test-listener") -> None:
        self.url = url
        self.filters = filters
        self.identifier = identifier
        self.messages: list[tuple[str, bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._listen(), name="test-listener")
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({self._task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._task.done():
            self._task.result()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _listen(self) -> None:
        async with make_client(self.url, identifier=self.identifier) as client:
            await client.subscribe([(topic, 1) for topic in self.filters])
            self._ready.set()
            async for message in client.messages:
                self.messages.append((message.topic.value, bytes(message.payload)))

    def on(self, topic_part: str) -> list[dict[str, Any]]:
        """Decoded JSON payloads of the messages whose topic contains `topic_part`."""
        return [json.loads(p) for t, p in self.messages if topic_part in t and p]


@asynccontextmanager
async def running_role(
    name: str, run: Callable[[asyncio.Event], Awaitable[None]], ready: asyncio.Event
) -> AsyncIterator[None]:
    """`run(stop)` as a task until the block ends; the block starts once `ready` is set.
    A role that fails to start fails the test with its own error."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(run(stop))
    try:
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiting}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done():
            task.result()  # it failed to start: say why
        assert ready.is_set(), f"the {name} did not get ready within 20 s"
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
