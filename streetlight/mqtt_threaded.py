"""An MQTT client on its own network thread, for paths that carry tens of thousands of messages
a second (DESIGN.md section 5: aiomqtt's message iterator tops out near 15k/s).

paho-mqtt runs its network loop in a thread; received messages gather in a bounded buffer that
asyncio takes in batches. When the buffer is full the network thread waits, the socket stops
being read, and the broker holds the backlog (TCP backpressure): nothing is dropped here.

With `manual_ack`, a QoS 1 message is acknowledged only when the application calls `ack(mid)`,
after it has made the message's data safe: a crash before that and the broker delivers it again.
Each message carries the number of the connection it came on (`session`); an acknowledgement
for a message of an earlier connection is not sent, as the broker delivers such a message
again (and may have given its message id to another).

`on_published(mid)` is called on the event loop when the broker has acknowledged a QoS 1
message this client published.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from streetlight.backoff import LinkState
from streetlight.mqtt import client_id, tls_context
from streetlight.settings import MqttUrl

logger = logging.getLogger(__name__)


RECV_CHUNK = 65_536
_PUBACK = struct.Struct("!BBH")  # MQTT 3.1.1 PUBACK: type, remaining length 2, message id


class _ChunkedReadClient(paho.Client):
    """paho's client, reading the socket in chunks and handing messages straight over.

    paho 2.2 reads a packet with at least three `recv` calls (type, length, body) and one
    `select` per packet, and matches every message against its topic-callback tree; at tens
    of thousands of QoS 1 messages a second that is most of the gateway's network thread
    (measured with py-spy under bench/gateway_ingest.py). Here `recv` fills a 64 KiB buffer
    that paho's packet reader takes its bytes from, `loop_read` goes on while the buffer
    holds more, and messages go to `on_message` directly (this client never uses
    `message_callback_add`). `acknowledge` queues the PUBACKs of many messages as one write
    (paho's `ack` queues a packet, wakes the network thread with a byte on its socket pair,
    and that thread writes each 4-byte packet with a `send` of its own: two system calls per
    report on the ingest path). These override internals of paho-mqtt 2.2 (pinned in
    constraints.txt); tests/test_mqtt_threaded.py fails if the overrides stop being used.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._chunk = b""
        self._chunk_at = 0
        self._chunk_socket: object = None
        self.socket_reads = 0  # recv calls on the socket, for the test that guards the above

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._chunk_socket is not self._sock:  # a new connection: nothing carried over
            self._chunk, self._chunk_at, self._chunk_socket = b"", 0, self._sock
        if self._chunk_at >= len(self._chunk):
            self.socket_reads += 1
            chunk = super()._sock_recv(RECV_CHUNK)  # raises BlockingIOError when none waits
            if not chunk:
                return chunk  # the connection closed
            self._chunk, self._chunk_at = chunk, 0
        start = self._chunk_at
        self._chunk_at = min(start + bufsize, len(self._chunk))
        return self._chunk[start : self._chunk_at]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == paho.MQTT_ERR_SUCCESS and self._chunk_at < len(self._chunk):
            rc = super().loop_read(max_packets)
        return rc

    def acknowledge(self, mids: Sequence[int]) -> None:
        """PUBACKs for QoS 1 messages received with manual acknowledgement, as one packet of
        paho's queue: one wake-up of the network thread, one write on the socket."""
        if mids and self._manual_ack:  # else paho has acknowledged them itself
            packets = b"".join([_PUBACK.pack(paho.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(paho.PUBACK, packets, 0, 1)

    @property
    def unsent(self) -> int:
        """Packets queued for the socket and not yet written (acknowledgements among them)."""
        return len(self._out_packet)

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)


@dataclass(frozen=True, slots=True)
class Received:
    mid: int
    topic: str
    payload: bytes
    qos: int
    session: int = 0  # the connection it came on (ThreadedClient.session)


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class ThreadedClient:
    def __init__(
        self,
        url: MqttUrl,
        *,
        identifier: str,
        subscriptions: Sequence[tuple[str, int]] = (),
        ca_file: Path | None = None,
        clean_session: bool = True,
        manual_ack: bool = False,
        will: Will | None = None,
        max_buffered: int = 50_000,
        max_inflight: int = 1000,
    ) -> None:
        self.url = url
        self.subscriptions = list(subscriptions)
        self._max_buffered = max_buffered
        self._buffer: list[Received] = []
        self._room = threading.Condition()
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._connected = threading.Event()  # CONNACK received: publishing may go on
        self._subscribed = threading.Event()  # SUBACK received too: messages will come
        self._subscribe_mid: int | None = None
        self._stopping = False
        self.session = 0  # connections made so far: the number of the current one
        self.on_published: Callable[[int], None] | None = None
        self._link = LinkState(logger, f"MQTT broker at {url} (as {identifier})")
        client = _ChunkedReadClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id(url, identifier),
            clean_session=clean_session,
            manual_ack=manual_ack,
        )
        if url.username:
            client.username_pw_set(url.username, url.password)
        if url.tls:
            client.tls_set_context(tls_context(ca_file))
        if will is not None:
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)  # unbounded inside paho: callers bound what they send
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._client = client

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (and keep reconnecting); returns at once."""
        self._client.connect_async(self.url.host, self.url.port, keepalive=30)
        self._client.loop_start()

    async def wait_connected(self, within: float) -> bool:
        """Whether the broker took the connection and the subscriptions within `within` s.

        Waiting for the SUBACK matters on a first connection: until the broker has the
        subscription, what devices publish is not kept for this client's session."""
        return await asyncio.to_thread(self._subscribed.wait, within)

    async def stop(self, flush_s: float = 3.0) -> None:
        """Disconnect cleanly (no last will) and stop the network thread; the acknowledgements
        already given go out first (for `flush_s` at most: on a loaded machine the network
        thread may take over a second to write them, and an acknowledgement lost here is a
        message the broker sends again)."""
        self._stopping = True
        with self._room:
            self._room.notify_all()
        deadline = time.monotonic() + flush_s
        while time.monotonic() < deadline:  # polled: paho tells no event when its queue empties
            if not self._client.unsent or not self._connected.is_set():
                break
            await asyncio.sleep(0.02)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- receiving ---------------------------------------------------------------------------

    async def received(self) -> list[Received]:
        """Every message received since the last call; waits for at least one."""
        while True:
            await self._ready.wait()
            with self._room:
                batch, self._buffer = self._buffer, []
                self._ready.clear()
                self._room.notify_all()
            if batch:
                return batch

    def ack(self, mid: int, session: int | None = None) -> None:
        """Acknowledge a QoS 1 message taken with manual acknowledgement; not if it came on an
        earlier connection (`session`): the broker sends that one again."""
        self.ack_all([(mid, self.session if session is None else session)])

    def ack_all(self, receipts: Iterable[tuple[int, int]]) -> None:
        """Acknowledge QoS 1 messages, each (message id, the connection it came on), in one
        write; those of an earlier connection are left out, as for `ack`."""
        session = self.session
        self._client.acknowledge([mid for mid, came_on in receipts if came_on == session])

    # --- sending -----------------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo | None:
        """Queue a message; None when the broker is away (the caller keeps the message)."""
        if not self._connected.is_set():
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            return None
        return info

    # --- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            self._loop.call_soon_threadsafe(self._link.failed, f"refused: {reason}")
            return
        self.session += 1
        if self.subscriptions:
            _rc, self._subscribe_mid = client.subscribe(self.subscriptions)
        else:
            self._subscribed.set()
        self._connected.set()
        self._loop.call_soon_threadsafe(self._link.ok)

    def _on_connect_fail(self, _client: paho.Client, _userdata: object) -> None:
        self._loop.call_soon_threadsafe(self._link.failed, "cannot connect")

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._stopping:
            self._loop.call_soon_threadsafe(self._link.failed, f"disconnected: {reason}")

    def _on_subscribe(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        _properties: object,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [
            topic for (topic, _qos), reason in zip(self.subscriptions, reasons, strict=False)
            if reason.is_failure
        ]  # fmt: skip
        if refused:
            self._loop.call_soon_threadsafe(
                self._link.failed, f"subscription refused for {', '.join(refused)}"
            )
        self._subscribed.set()

    def _on_publish(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        _reason: ReasonCode,
        _properties: object,
    ) -> None:
        callback = self.on_published
        if callback is not None:
            self._loop.call_soon_threadsafe(callback, mid)

    def _on_message(
        self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # a broker lets none through; never let it stop the thread
            topic = message._topic.decode("utf-8", "replace")
        item = Received(message.mid, topic, bytes(message.payload), message.qos, self.session)
        with self._room:
            while len(self._buffer) >= self._max_buffered and not self._stopping:
                self._room.wait(0.5)  # the asyncio side is behind: let the broker hold the rest
            was_empty = not self._buffer
            self._buffer.append(item)
        if was_empty:
            self._loop.call_soon_threadsafe(self._ready.set)
