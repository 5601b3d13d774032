"""Connecting to the bus: an aiomqtt client from an `MqttUrl`, with TLS and a last will."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiomqtt

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
