"""The threaded MQTT client of the ingest path, against a real Mosquitto.

It overrides parts of paho-mqtt to read the socket in chunks; these tests fail if a paho
upgrade stops using the overrides or if they corrupt, lose or reorder messages."""

from __future__ import annotations

from streetlight.contract import Topics
from streetlight.mqtt import make_client
from streetlight.mqtt_threaded import Received, ThreadedClient
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl

MESSAGES = 2000


async def _take(client: ThreadedClient, count: int) -> list[Received]:
    taken: list[Received] = []
    while len(taken) < count:
        taken.extend(await client.received())
    return taken


async def test_a_backlog_arrives_intact_and_in_order_with_few_socket_reads(
    service_state: ServiceState, topics: Topics
) -> None:
    """A backlog queued at the broker for a persistent session, as after a gateway restart."""
    url = MqttUrl.parse(service_state.mqtt_url)
    topic = f"{topics.root}/burst"

    def connect() -> ThreadedClient:
        return ThreadedClient(
            url, identifier=f"{topics.root}-in", subscriptions=[(topic, 1)], clean_session=False
        )

    first = connect()
    first.start()
    assert await first.wait_connected(10)
    await first.stop()
    payloads = [f"report {i} ".encode() * (1 + i % 7) for i in range(MESSAGES)]
    async with make_client(url, identifier=f"{topics.root}-out") as sender:
        for payload in payloads:
            await sender.publish(topic, payload, qos=1)
    client = connect()
    client.start()
    try:
        assert await client.wait_connected(10)
        received = await _take(client, MESSAGES)
    finally:
        await client.stop()
    assert [m.payload for m in received] == payloads
    assert {m.topic for m in received} == {topic}
    assert all(m.qos == 1 for m in received)
    reads = client._client.socket_reads
    assert 0 < reads < MESSAGES / 5, f"{reads} socket reads for {MESSAGES} messages"


async def test_manual_acks_and_a_persistent_session_survive_a_reconnect(
    service_state: ServiceState, topics: Topics
) -> None:
    """Unacknowledged messages come again on the next connection; acknowledged ones do not,
    whether acknowledged one by one or together."""
    url = MqttUrl.parse(service_state.mqtt_url)
    topic = f"{topics.root}/session"
    identifier = f"{topics.root}-session"

    def connect() -> ThreadedClient:
        return ThreadedClient(
            url,
            identifier=identifier,
            subscriptions=[(topic, 1)],
            clean_session=False,
            manual_ack=True,
        )

    first = connect()
    first.start()
    try:
        assert await first.wait_connected(10)
        async with make_client(url, identifier=f"{topics.root}-out") as sender:
            for i in range(10):
                await sender.publish(topic, f"{i}".encode(), qos=1)
        received = await _take(first, 10)
        first.ack(received[0].mid)
        # several at once, as the gateway acknowledges a batch: one write of their PUBACKs
        first.ack_all([(m.mid, m.session) for m in received[1:4]])
    finally:
        await first.stop()

    second = connect()
    second.start()
    try:
        assert await second.wait_connected(10)
        again = await _take(second, 6)
        for message in again:
            second.ack(message.mid)
    finally:
        await second.stop()
    assert [m.payload for m in received] == [f"{i}".encode() for i in range(10)]
    assert [m.payload for m in again] == [f"{i}".encode() for i in range(4, 10)]
