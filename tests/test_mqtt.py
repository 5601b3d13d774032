"""The bus helpers against a real Mosquitto: connect, publish, and the last will."""

from __future__ import annotations

import asyncio
import sys
import textwrap

from streetlight.contract import DeviceStatus, TargetKind, Topics, decode
from streetlight.mqtt import make_client
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl

CLIENT = textwrap.dedent(
    """
    import asyncio, sys
    from streetlight.contract import DeviceStatus, Target, TargetKind, Topics, encode
    from streetlight.mqtt import make_client, offline_will
    from streetlight.settings import MqttUrl

    async def main():
        topics = Topics(sys.argv[2])
        will = offline_will(topics, TargetKind.GATEWAY, "gw-test")
        async with make_client(MqttUrl.parse(sys.argv[1]), identifier="gw-test", will=will) as c:
            online = DeviceStatus(device=Target(kind=TargetKind.GATEWAY, id="gw-test"), online=True)
            topic = topics.status(TargetKind.GATEWAY, "gw-test")
            await c.publish(topic, encode(online), qos=1, retain=True)
            print("online", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_last_will_marks_a_vanished_process_offline(
    service_state: ServiceState, topics: Topics
) -> None:
    url = MqttUrl.parse(service_state.mqtt_url)
    status_topic = topics.status(TargetKind.GATEWAY, "gw-test")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        service_state.mqtt_url,
        topics.root,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.strip() == b"online"
        async with make_client(url, identifier="watcher") as watcher:
            await watcher.subscribe(status_topic, qos=1)
            statuses = []
            async with asyncio.timeout(20):
                async for message in watcher.messages:
                    status = decode(DeviceStatus, message.payload)
                    statuses.append(status.online)
                    if statuses == [True]:
                        process.kill()  # no DISCONNECT: the broker must send the will
                    if not status.online:
                        break
            assert statuses == [True, False]
            assert status.reason == "connection lost"
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
