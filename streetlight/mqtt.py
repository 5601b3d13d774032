"""Connecting to the bus: an aiomqtt client from an `MqttUrl`, with TLS and a last will, and
a loop that keeps a session connected until it is told to stop."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt

from streetlight.aio import first_of
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


def client_id(url: MqttUrl, identifier: str) -> str:
    """`identifier` as a client id of the URL's identity: "<identity>-<identifier>" (unless it
    already is one). The broker refuses an identity any client id not its own, so no identity
    can take another's connection or session (docs/contract.md, "Bus identities")."""
    user = url.username
    if not user or identifier == user or identifier.startswith(f"{user}-"):
        return identifier
    return f"{user}-{identifier}"


def make_client(
    url: MqttUrl,
    *,
    identifier: str,
    ca_file: Path | None = None,
    will: aiomqtt.Will | None = None,
    clean_session: bool = True,
    **options: Any,
) -> aiomqtt.Client:
    """An aiomqtt client for `url` (not yet connected: use it with ``async with``); its client
    id is `identifier` under the identity's name (`client_id`)."""
    return aiomqtt.Client(
        url.host,
        url.port,
        username=url.username,
        password=url.password,
        identifier=client_id(url, identifier),
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
FAREWELL_S = 10.0  # for a session's last words once it is told to stop


async def run_connected(
    connect: Callable[[], aiomqtt.Client],
    session: Session,
    *,
    stop: asyncio.Event,
    link: LinkState,
    backoff: Backoff | None = None,
    before_connect: Callable[[], Awaitable[None]] | None = None,
    farewell: Session | None = None,
) -> None:
    """Keep a session on the broker until `stop` is set.

    Each round connects a fresh client from `connect()` and runs `session(client)`. When the
    session returns, the client disconnects and a new round begins (after `before_connect`,
    if given, which may wait for a reason to connect). When the connection fails or breaks,
    the link's state is logged once and the round is retried after a capped, jittered
    backoff. When `stop` is set the session is cancelled, `farewell(client)` (if given) says
    what must be said before leaving (a last flush, a retained "stopped" status) within
    `FAREWELL_S`, and the client leaves the broker gracefully (a DISCONNECT, so no last will is
    sent).
    """
    backoff = backoff or Backoff(initial=0.5, cap=15.0)
    while not stop.is_set():
        if before_connect is not None and not await first_of(before_connect(), stop):
            return
        broken: BaseException | None = None
        try:
            async with connect() as client:
                link.ok()
                backoff.reset()
                if not await first_of(session(client), stop):
                    if farewell is not None:
                        async with asyncio.timeout(FAREWELL_S):
                            await farewell(client)
                    return
        except* (aiomqtt.MqttError, OSError) as group:  # also from the session's own tasks
            broken = group.exceptions[0]
        if broken is not None:
            link.failed(str(broken) or type(broken).__name__)
            if not await first_of(asyncio.sleep(backoff.next_delay()), stop):
                return
