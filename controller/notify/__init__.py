"""Crew notifications: tell maintainers' crews about alarms by webhook, WeCom, DingTalk or email.

The alarm manager hands every alarm event a crew should hear about to `Notifier.submit`.
`Notifier.run` gathers each maintainer's notices for `digest_window_s` (wall seconds), then
sends them to each of the maintainer's targets: one message per notice, or one digest when
more than `digest_threshold` came in the window (a dead cabinet must not flood a group chat
with a hundred lamp alarms). Child alarms suppressed under a root cause are never sent.

Each target has its own bounded queue and worker, so a dead mail server never holds up a group
robot. Transient failures (connection errors, timeouts, HTTP 5xx or 429, a robot's "busy" or
rate-limit errcode, an SMTP 4xx) are retried with capped, jittered backoff up to `attempts`;
permanent ones (HTTP 4xx, any other errcode, an SMTP 5xx) are not. Robot URLs carry their key
in the query string: logs name a target by host and path only.

Inside: the notification file (_config), notices and how messages read (_messages), sending
one message to one target (_send), and the errors (_errors).
The file format and the messages are documented in docs/contract.md, "Notifications".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from zoneinfo import ZoneInfo

import httpx

from controller.notify._config import NotifyConfig, NotifyTarget, load_notify_config
from controller.notify._errors import (
    DeliveryError,
    NotifyConfigError,
    NotifyError,
    RejectedError,
    TransientError,
)
from controller.notify._messages import Message, Notice
from controller.notify._send import send
from streetlight.backoff import Backoff, LinkState

logger = logging.getLogger(__name__)

MAX_WINDOW = 10_000  # notices one maintainer's window holds; more are dropped and counted
MAX_QUEUED = 1_000  # messages waiting for one target; more are dropped and counted
USER_AGENT = "streetlight-notify"

__all__ = [
    "DeliveryError",
    "Notice",
    "Notifier",
    "NotifyConfig",
    "NotifyConfigError",
    "NotifyError",
    "NotifyStats",
    "NotifyTarget",
    "RejectedError",
    "TransientError",
    "load_notify_config",
]


@dataclass
class NotifyStats:
    submitted: int = 0
    sent_messages: int = 0  # delivered, counted per target (digests included)
    digests: int = 0  # digest messages delivered, counted per target
    retried: int = 0  # attempts repeated after a transient failure
    failed: int = 0  # messages given up, counted per target
    dropped_children: int = 0
    unrouted: int = 0  # notices for a maintainer without targets
    overflowed: int = 0  # notices or messages dropped because a window or a queue was full


@dataclass(eq=False)
class _Route:
    """One target of one maintainer: its queue of messages and its link state."""

    maintainer: str
    target: NotifyTarget
    name: str
    link: LinkState
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED))
    busy: bool = False
    full_logged: bool = False


@dataclass
class _Window:
    due: float  # time.monotonic()
    notices: list[Notice] = field(default_factory=list)
    overflowed: int = 0


class Notifier:
    """Gathers notices per maintainer and delivers them to the maintainer's targets.

    Call `submit` from the event loop's thread; run `run` in a TaskGroup.
    """

    def __init__(self, config: NotifyConfig, *, tz: tzinfo | None = None) -> None:
        self.config = config
        self.tz = tz if tz is not None else ZoneInfo(config.timezone)
        self.stats = NotifyStats()
        self._routes: dict[str, list[_Route]] = {}
        for maintainer, targets in config.maintainers.items():
            for index, target in enumerate(targets):
                name = f"{maintainer}[{index}] {target.kind} {target.where}"
                route = _Route(maintainer, target, name, LinkState(logger, f"notify {name}"))
                self._routes.setdefault(maintainer, []).append(route)
                if target.password is not None and not target.starttls:
                    logger.warning("%s: the SMTP password goes out without STARTTLS", name)
        self._windows: dict[str, _Window] = {}
        self._unrouted: set[str] = set()
        self._wake = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._running = False

    # --- taking notices ------------------------------------------------------------------------

    def submit(self, notice: Notice) -> None:
        """Take a notice, to be sent when its maintainer's window closes; never blocks."""
        self.stats.submitted += 1
        if notice.parent is not None:
            self.stats.dropped_children += 1
            return
        if notice.maintainer not in self._routes:
            self.stats.unrouted += 1
            if notice.maintainer not in self._unrouted:
                self._unrouted.add(notice.maintainer)
                logger.warning("maintainer %s has no notification targets", notice.maintainer)
            return
        window = self._windows.get(notice.maintainer)
        if window is None:
            window = _Window(time.monotonic() + self.config.digest_window_s)
            self._windows[notice.maintainer] = window
            self._wake.set()
        if len(window.notices) >= MAX_WINDOW:
            window.overflowed += 1
            self.stats.overflowed += 1
            return
        window.notices.append(notice)

    def _close(self, maintainer: str) -> None:
        """Turn a maintainer's window into messages on each of its targets' queues."""
        window = self._windows.pop(maintainer)
        if window.overflowed:
            logger.warning(
                "%s: %d notices beyond %d in one window were dropped",
                maintainer,
                window.overflowed,
                MAX_WINDOW,
            )
        notices = tuple(window.notices)
        if len(notices) > self.config.digest_threshold:
            messages = [Message(maintainer, notices, digest=True)]
        else:
            messages = [Message(maintainer, (notice,), digest=False) for notice in notices]
        for route in self._routes[maintainer]:
            for message in messages:
                try:
                    route.queue.put_nowait(message)
                except asyncio.QueueFull:
                    self.stats.overflowed += 1
                    if not route.full_logged:
                        route.full_logged = True
                        logger.warning(
                            "%s: %d messages waiting, dropping more", route.name, MAX_QUEUED
                        )
                else:
                    route.full_logged = False

    # --- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Gather and send until `stop` is set; then send what is pending, for up to
        `shutdown_grace_s`, and return."""
        if self._running:
            raise RuntimeError("Notifier.run is already running")
        self._running = True
        try:
            async with self._client(), asyncio.TaskGroup() as tasks:
                workers = [
                    tasks.create_task(self._work(route), name=f"notify {route.name}")
                    for route in self._all_routes()
                ]
                tasks.create_task(self._wake_on(stop), name="notify stop")
                await self._gather(stop)
                await self._shut_down()
                for worker in workers:
                    worker.cancel()
        finally:
            self._running = False

    async def flush(self) -> None:
        """Send everything pending now; return once each message is delivered or given up."""
        for maintainer in list(self._windows):
            self._close(maintainer)
        if self._running:
            for route in self._all_routes():
                await route.queue.join()
            return
        async with self._client(), asyncio.TaskGroup() as tasks:
            for route in self._all_routes():
                if not route.queue.empty():
                    tasks.create_task(self._drain(route), name=f"notify {route.name}")

    def _all_routes(self) -> Iterable[_Route]:
        for routes in self._routes.values():
            yield from routes

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[None]:
        async with httpx.AsyncClient(headers={"user-agent": USER_AGENT}) as http:
            self._http = http
            try:
                yield
            finally:
                self._http = None

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _gather(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            for maintainer, window in list(self._windows.items()):
                if window.due <= now:
                    self._close(maintainer)
            due = min((window.due for window in self._windows.values()), default=None)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else max(0.0, due - now)):
                    await self._wake.wait()

    async def _shut_down(self) -> None:
        try:
            async with asyncio.timeout(self.config.shutdown_grace_s):
                await self.flush()
        except TimeoutError:
            left = sum(route.queue.qsize() + route.busy for route in self._all_routes())
            self.stats.failed += left
            if not left:
                return
            logger.warning(
                "stopping with %d messages undelivered after %.1f s",
                left,
                self.config.shutdown_grace_s,
            )

    async def _work(self, route: _Route) -> None:
        while True:
            message = await route.queue.get()
            try:
                await self._deliver(route, message)
            finally:
                route.queue.task_done()

    async def _drain(self, route: _Route) -> None:
        while not route.queue.empty():
            message = route.queue.get_nowait()
            try:
                await self._deliver(route, message)
            finally:
                route.queue.task_done()

    async def _deliver(self, route: _Route, message: Message) -> None:
        """Send one message to one target, retrying transient failures up to `attempts`."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_cap_s)
        route.busy = True
        try:
            for attempt in range(1, self.config.attempts + 1):
                try:
                    async with asyncio.timeout(route.target.timeout_s):
                        assert self._http is not None
                        await send(
                            self._http, route.target, message, self.tz, self.config.digest_lines
                        )
                except RejectedError as exc:
                    self._give_up(route, message, attempt, f"refused: {exc}")
                    return
                except (TransientError, TimeoutError) as exc:
                    reason = str(exc) or "timed out"
                    route.link.failed(reason)
                    if attempt == self.config.attempts:
                        self._give_up(route, message, attempt, reason)
                        return
                    self.stats.retried += 1
                    logger.debug("%s: attempt %d failed: %s", route.name, attempt, reason)
                    await asyncio.sleep(backoff.next_delay())
                else:
                    route.link.ok()
                    self.stats.sent_messages += 1
                    if message.digest:
                        self.stats.digests += 1
                    return
        finally:
            route.busy = False

    def _give_up(self, route: _Route, message: Message, attempts: int, reason: str) -> None:
        self.stats.failed += 1
        logger.warning(
            "%s: gave up on %s after %d attempt%s: %s",
            route.name,
            message.describe(),
            attempts,
            "" if attempts == 1 else "s",
            reason,
        )
