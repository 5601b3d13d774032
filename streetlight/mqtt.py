"""Connecting to the bus: an aiomqtt client from an `MqttUrl`, with TLS and a last will, and
a loop that keeps a session connected until it is told to stop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt

from streetlight.backoff import Backoff, LinkState
from streetlight.contract import DeviceStatus, Target, TargetKind, Topics, encode
from streetlight.settings import MqttUrl


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client TLS context that verifies the broker against `ca_file` (or the system CAs)."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def offline_will(topics: Topics, kind: TargetKind, identity: str) -> aiomqtt.Will:
    """The retained 'offline' status the broker publishes if this client vanishes."""
    payload = DeviceStatus(
        device=Target(kind=kind, id=identity), online=False, reason="connection lost"
    )
    return aiomqtt.Will(topics.status(kind, identity), encode(payload), qos=1, retain=True)


def make_client(
    url: MqttUrl,
    *,
    identifier: str,
    ca_file: Path | None = None,
    will: aiomqtt.Will | None = None,
    clean_session: bool = True,
    **options: Any,
) -> aiomqtt.Client:
    """An aiomqtt client for `url` (not yet connected: use it with ``async with``)."""
    return aiomqtt.Client(
        url.host,
        url.port,
        username=url.username,
        password=url.password,
        identifier=identifier,
        tls_context=tls_context(ca_file) if url.tls else None,
        will=will,
        clean_session=clean_session,
        **options,
    )


async def publish(
    client: aiomqtt.Client, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
) -> None:
    """Publish and wait for the broker's acknowledgement (QoS 1), honouring cancellation.

    aiomqtt waits with `asyncio.wait_for`, which in Python 3.11 can swallow a cancellation
    that arrives together with the acknowledgement; a loop that publishes would then never
    stop. This re-raises it.
    """
    await client.publish(topic, payload, qos=qos, retain=retain)
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


Session = Callable[[aiomqtt.Client], Awaitable[None]]


async def run_connected(
    connect: Callable[[], aiomqtt.Client],
    session: Session,
    *,
    stop: asyncio.Event,
    link: LinkState,
    backoff: Backoff | None = None,
    before_connect: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Keep a session on the broker until `stop` is set.

    Each round connects a fresh client from `connect()` and runs `session(client)`. When the
    session returns, the client disconnects and a new round begins (after `before_connect`,
    if given, which may wait for a reason to connect). When the connection fails or breaks,
    the link's state is logged once and the round is retried after a capped, jittered
    backoff. When `stop` is set the session is cancelled and the client leaves the broker
    gracefully (a DISCONNECT, so no last will is sent).
    """
    backoff = backoff or Backoff(initial=0.5, cap=15.0)
    while not stop.is_set():
        if before_connect is not None and not await _first(before_connect(), stop):
            return
        broken: BaseException | None = None
        try:
            async with connect() as client:
                link.ok()
                backoff.reset()
                if not await _first(session(client), stop):
                    return
        except* (aiomqtt.MqttError, OSError) as group:  # also from the session's own tasks
            broken = group.exceptions[0]
        if broken is not None:
            link.failed(str(broken) or type(broken).__name__)
            if not await _first(asyncio.sleep(backoff.next_delay()), stop):
                return


async def _first(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run `work` unless `stop` comes first; True if the work finished (its error is raised)."""
    work_task = asyncio.ensure_future(work)
    stop_task = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work_task, stop_task):
            task.cancel()
        results = await asyncio.gather(work_task, stop_task, return_exceptions=True)
    if work_task.cancelled():
        return False
    if isinstance(results[0], BaseException):
        raise results[0]
    return True
