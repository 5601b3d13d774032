"""The bus is not open: identities, the generated ACL, and TLS with a certificate of our own."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import uuid
from pathlib import Path

import aiomqtt
import pytest

from streetlight.mqtt import make_client
from streetlight.services import Mosquitto, ServiceState, TlsFiles, broker_auth, find_program
from streetlight.settings import MqttUrl
from tests.conftest import ROOT
from tests.helpers import Listener, eventually


def _url(state: ServiceState, identity: str) -> MqttUrl:
    return MqttUrl.parse(state.url_for(identity))


# a topic each identity may publish on, sent after the probe: once it arrives, so has the
# probe if the broker let it through (a client's messages arrive in order)
SENTINEL = {
    "slc-mqtt-a": "{root}/slc-a/SENTINEL/report",
    "gateway": "{root}/v1/telemetry/lamp/SENTINEL",
    "controller": "{root}/v1/command/lamp/SENTINEL",
    "api": "{root}/v1/status/api/SENTINEL",
    "operator": "{root}/v1/schedule/operator/SENTINEL",
}


async def _delivered(state: ServiceState, publisher: str, topic: str) -> bool:
    """Does a message `publisher` sends on `topic` reach a subscriber? (MQTT 3.1.1 has no
    refusal of a publish: the broker acknowledges it and drops it.)"""
    sentinel = SENTINEL[publisher].format(root=topic.split("/", maxsplit=1)[0])
    watcher = f"watch-{uuid.uuid4().hex[:6]}"
    async with Listener(_url(state, "admin"), ["#"], identifier=watcher) as seen:
        async with make_client(
            _url(state, publisher), identifier=f"pub-{uuid.uuid4().hex[:6]}"
        ) as client:
            await client.publish(topic, b"probe", qos=1)
            await client.publish(sentinel, b"sentinel", qos=1)
        await eventually(lambda: any(t == sentinel for t, _ in seen.messages), what="the sentinel")
        return any(t == topic for t, _ in seen.messages)


async def test_anonymous_and_wrong_passwords_are_refused(service_state: ServiceState) -> None:
    url = _url(service_state, "admin")
    for username, password in ((None, None), ("admin", "wrong"), ("nobody", "x")):
        client = aiomqtt.Client(
            url.host, url.port, username=username, password=password,
            identifier=f"{username}-intruder",
        )  # fmt: skip
        with pytest.raises(aiomqtt.MqttError, match=r"Not authorized|not authorised|Bad user"):
            async with client:
                pass


async def test_a_device_publishes_its_own_reports_and_nothing_on_the_bus(
    service_state: ServiceState,
) -> None:
    root = f"sec{uuid.uuid4().hex[:6]}"
    assert await _delivered(service_state, "slc-mqtt-a", f"{root}/slc-a/L1/report")
    assert not await _delivered(service_state, "slc-mqtt-a", f"{root}/v1/telemetry/lamp/L1")
    assert not await _delivered(service_state, "slc-mqtt-a", f"{root}/v1/command/lamp/L1")
    assert not await _delivered(
        service_state, "slc-mqtt-a", f"{root}/slc-a/L1/cmd"
    )  # not theirs to give


async def test_a_device_reads_its_commands_and_not_the_bus(service_state: ServiceState) -> None:
    root = f"sec{uuid.uuid4().hex[:6]}"
    device = _url(service_state, "slc-mqtt-a")
    async with Listener(
        device, [f"{root}/slc-a/L1/cmd", f"{root}/v1/#"], identifier="node-L1"
    ) as node:
        async with make_client(_url(service_state, "gateway"), identifier="gw-probe") as gateway:
            await gateway.publish(
                f"{root}/slc-a/L1/cmd", b'{"cmdId": "1", "sw": 1, "dim": 5}', qos=1
            )
            await gateway.publish(f"{root}/v1/telemetry/lamp/L1", b"{}", qos=1)
        async with make_client(
            _url(service_state, "controller"), identifier="ctl-probe"
        ) as controller:
            await controller.publish(f"{root}/v1/command/lamp/L1", b"{}", qos=1)
        await eventually(lambda: bool(node.messages), what="the node's own command")
        await asyncio.sleep(0.5)  # time for anything else to arrive, if it could
    assert [t for t, _ in node.messages] == [f"{root}/slc-a/L1/cmd"]


async def test_roles_keep_to_their_channels(service_state: ServiceState) -> None:
    root = f"sec{uuid.uuid4().hex[:6]}"
    assert await _delivered(service_state, "gateway", f"{root}/v1/telemetry/lamp/L1")
    assert not await _delivered(service_state, "gateway", f"{root}/v1/command/lamp/L1")
    assert await _delivered(service_state, "controller", f"{root}/v1/command/lamp/L1")
    assert not await _delivered(service_state, "controller", f"{root}/v1/telemetry/lamp/L1")
    assert not await _delivered(service_state, "controller", f"{root}/slc-a/L1/cmd")
    assert not await _delivered(service_state, "api", f"{root}/v1/command/lamp/L1")
    # operators' acknowledgements and closures restate an alarm's retained event
    assert await _delivered(service_state, "api", f"{root}/v1/alarm/lamp/L1/lamp_failure")
    assert not await _delivered(service_state, "gateway", f"{root}/v1/alarm/lamp/L1/lamp_failure")
    # saved schedules are announced by the API and by operators' commands, by no one else
    assert await _delivered(service_state, "api", f"{root}/v1/schedule/api/api-1")
    assert await _delivered(service_state, "operator", f"{root}/v1/schedule/operator/cli")
    assert not await _delivered(service_state, "operator", f"{root}/v1/command/lamp/L1")
    assert not await _delivered(service_state, "operator", f"{root}/v1/schedule/api/api-1")
    assert not await _delivered(service_state, "gateway", f"{root}/v1/schedule/operator/cli")
    assert not await _delivered(service_state, "controller", f"{root}/v1/schedule/operator/cli")


# --- client ids -------------------------------------------------------------------------------


def _as(state: ServiceState, identity: str, client_id: str, *, clean: bool) -> aiomqtt.Client:
    """A client of `identity` that asks for exactly `client_id` (no prefix of its own)."""
    url = _url(state, identity)
    return aiomqtt.Client(
        url.host, url.port, username=url.username, password=url.password,
        identifier=client_id, clean_session=clean,
    )  # fmt: skip


@pytest.mark.parametrize("intruder", ["slc-mqtt-a", "controller", "api", "operator", "admin"])
async def test_no_identity_connects_as_the_gateways_client(
    service_state: ServiceState, intruder: str
) -> None:
    """A takeover: another identity asks for the gateway's client id while the gateway is
    connected. Refused at once; the gateway's connection stays (it still receives)."""
    root = f"sec{uuid.uuid4().hex[:6]}"
    gateway_id = f"gateway-gw-{root}"
    async with _as(service_state, "gateway", gateway_id, clean=False) as gateway:
        await gateway.subscribe(f"{root}/v1/command/#", qos=1)
        with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
            async with _as(service_state, intruder, gateway_id, clean=True):
                pass
        async with make_client(_url(service_state, "controller"), identifier=root) as controller:
            await controller.publish(f"{root}/v1/command/lamp/L1", b"still here", qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(gateway.messages))
    assert message.payload == b"still here"


async def test_no_identity_wipes_the_gateways_session_while_it_is_away(
    service_state: ServiceState,
) -> None:
    """A session wipe: while the gateway is away, a device identity connects with its client
    id and a clean session. Refused; the reports queued for the gateway wait for it."""
    root = f"sec{uuid.uuid4().hex[:6]}"
    gateway_id = f"gateway-gw-{root}"
    report = f"{root}/slc-a/L1/report"
    async with _as(service_state, "gateway", gateway_id, clean=False) as gateway:
        await gateway.subscribe(report, qos=1)
    async with make_client(_url(service_state, "slc-mqtt-a"), identifier=root) as node:
        await node.publish(report, b"queued", qos=1)
    with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
        async with _as(service_state, "slc-mqtt-a", gateway_id, clean=True):
            pass
    async with _as(service_state, "gateway", gateway_id, clean=False) as gateway:
        async with asyncio.timeout(10):
            message = await anext(aiter(gateway.messages))
    assert message.payload == b"queued"


async def test_an_identity_uses_client_ids_under_its_own_name(service_state: ServiceState) -> None:
    cases = [("slc-mqtt-a", True), ("slc-mqtt-a-node-7", True), ("slc-mqtt-ab", False),
             ("node-7", False), ("gateway", False)]  # fmt: skip
    for client_id, accepted in cases:
        if accepted:
            async with _as(service_state, "slc-mqtt-a", client_id, clean=True):
                pass
        else:
            with pytest.raises(aiomqtt.MqttError, match=r"[Nn]ot authori[sz]ed"):
                async with _as(service_state, "slc-mqtt-a", client_id, clean=True):
                    pass


# --- TLS -------------------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    """A CA of the test's own, and a server certificate it signs for 127.0.0.1."""
    d = tmp_path
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))  # fmt: skip
    (d / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(d / "san.ext"), "-out", str(d / "server.pem"))  # fmt: skip
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other",
             "-keyout", str(d / "other.key"), "-out", str(d / "other.pem"))  # fmt: skip
    files = {name: d / f"{name}.pem" for name in ("ca", "server", "other")}
    return {**files, "key": d / "server.key"}


# paho leaves the socket of a refused TLS handshake for the garbage collector to close
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_tls_with_a_certificate_the_test_made(
    certificates: dict[str, Path], tmp_path: Path
) -> None:
    programs = [find_program("mosquitto"), find_program("mosquitto_passwd")]
    assert programs[0] is not None
    assert programs[1] is not None
    broker = Mosquitto(
        programs[0],
        tmp_path / "broker",
        auth=broker_auth("+", "+", ROOT / "profiles"),
        passwd_program=programs[1],
        tls=TlsFiles(certfile=certificates["server"], keyfile=certificates["key"]),
    )
    await asyncio.to_thread(broker.start)
    try:
        url = MqttUrl.parse(broker.tls_url("admin"))
        assert url.tls
        async with make_client(url, identifier="tls-ok", ca_file=certificates["ca"]) as client:
            await client.publish("tls/check", json.dumps({"ok": True}), qos=1)
        with pytest.raises(
            aiomqtt.MqttError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"
        ):
            async with make_client(url, identifier="tls-bad", ca_file=certificates["other"]):
                pass
    finally:
        broker.stop()
        gc.collect()  # let the leaked socket's warning fall in this test
