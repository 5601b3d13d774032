"""Every handler of a device message is total: whatever the topic and the bytes, it returns a
reading the contract accepts or refuses the message by a named kind, and never raises.

Property-based (hypothesis): the decoders of every MQTT profile (the project's and the example
vendors'), and the gateway's handler of one received message, with arbitrary topics and
payloads, hostile values spliced into otherwise good reports, and times far from the clock.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from gateway.config import GatewayConfig
from gateway.outputs import Health, Outputs
from streetlight.clock import ManualClock
from streetlight.contract import LampTelemetry, Topics
from streetlight.influx import InfluxClient
from streetlight.mqtt_threaded import Received, ThreadedClient
from streetlight.normalize import (
    MALFORMED,
    OUT_OF_RANGE,
    TIME_AHEAD,
    TIME_OLD,
    UNKNOWN_DEVICE,
    UNMAPPED,
    WRONG_PROFILE,
    WRONG_TYPE,
    MqttDecoder,
    Rejected,
    TimeWindow,
)
from streetlight.profiles import MqttLampProfile, load_profiles
from streetlight.settings import CommonSettings, MqttUrl, load_settings
from tests.conftest import EXAMPLE_PROFILES, ROOT
from tests.helpers import subset
from tests.simulation import MODBUS_A_SITE, MQTT_SITE

KINDS = {MALFORMED, UNMAPPED, WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_DEVICE, WRONG_PROFILE,
         TIME_AHEAD, TIME_OLD}  # fmt: skip
NOW = datetime(2026, 12, 21, 13, 0, tzinfo=UTC)
WINDOW = TimeWindow(ahead_s=600, behind_s=86_400)
EXAMPLES = settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# hostile values: any JSON, huge and tiny numbers, NaN and infinities (as Python's json writes
# them: not JSON at all), numeric text, long text
NUMBERS = (
    st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 2**63, 1e308, -1e308, 5e-324, 1e11, 1e15, 1e18])
)
TEXT = st.text(max_size=30) | st.sampled_from(["221.4", "1e999", " 7 ", "NaN", "x" * 5000])
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _dumps(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


def _profiles() -> dict[str, MqttLampProfile]:
    found = {**load_profiles(ROOT / "profiles"), **load_profiles(EXAMPLE_PROFILES)}
    return {k: p for k, p in found.items() if isinstance(p, MqttLampProfile)}


def _good_report(profile_id: str, device: str) -> dict[str, Any]:
    """A report the slc-mqtt-a decoder takes, to splice hostile values into."""
    assert profile_id == "slc-mqtt-a"
    data = {"U": 2214, "I": 180, "P": 358, "PF": 92, "E": 18334, "dim": 100, "sw": 1, "T": 382,
            "rt": 760, "alm": 0}  # fmt: skip
    return {"devId": device, "ts": int(NOW.timestamp()), "data": data}


def _spliced(device: str) -> st.SearchStrategy[bytes]:
    """A good slc-mqtt-a report with one value, or its time, replaced by something hostile."""
    keys = ["U", "I", "P", "PF", "E", "dim", "sw", "T", "rt", "alm"]

    def build(key: str, value: Any) -> bytes:
        report = _good_report("slc-mqtt-a", device)
        if key == "ts":
            report["ts"] = value
        elif key == "devId":
            report["devId"] = value
        else:
            report["data"][key] = value
        return _dumps(report)

    moments = st.integers(min_value=-(10**12), max_value=10**12) | st.sampled_from(
        [int((NOW + timedelta(seconds=s)).timestamp()) for s in (-86_401, -600, 599, 601, 10**6)]
    )
    return st.one_of(
        st.builds(build, st.sampled_from(keys), JSON),
        st.builds(build, st.just("ts"), moments | JSON),
        st.builds(build, st.just("devId"), JSON),
    )


def _payloads(device: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        JSON.map(_dumps),
        _spliced(device),
        st.just(b"[" * 5000 + b"]" * 5000),  # deeper than any parser's limit
        st.just(b"{" + b'"a":1,' * 20_000 + b'"b":2}'),
    )


def _valid(reading: Any) -> None:
    """The reading is what the contract accepts, at a time inside the window."""
    document = {**reading.document(), "source": "gw-test"}
    LampTelemetry.model_validate_json(orjson.dumps(document, option=orjson.OPT_UTC_Z))
    assert WINDOW.behind_s is not None
    assert WINDOW.ahead_s is not None
    assert -WINDOW.behind_s <= (reading.ts - NOW).total_seconds() <= WINDOW.ahead_s
    for name in ("voltage_v", "current_a", "power_w", "energy_wh", "burning_hours"):
        value = getattr(reading, name)
        assert value is None or math.isfinite(value)


@pytest.mark.parametrize("profile_id", sorted(_profiles()))
def test_every_decoder_returns_a_contract_reading_or_a_named_refusal(profile_id: str) -> None:
    profile = _profiles()[profile_id]
    devices = {"l1": "L1", "L1": "L1", "other": "M1", "865012345678901": "L1"}
    decoder = MqttDecoder(profile, devices, now=lambda: NOW, lamps=frozenset({"L1"}), window=WINDOW)
    names = st.sampled_from(["L1", "l1", "other", "NOPE", "x" * 70_000, "", "865012345678901"])
    refused: set[str] = set()

    @EXAMPLES
    @given(payload=st.one_of(_payloads("L1"), _payloads("other")), device=st.none() | names)
    def check(payload: bytes, device: str | None) -> None:
        try:
            reading = decoder.decode(payload, device)
        except Rejected as exc:
            refused.add(exc.kind)
            return
        assert reading.lamp == "L1"  # never the other model's lamp
        _valid(reading)

    check()
    assert MALFORMED in refused
    assert refused <= KINDS


def _settings(root: str) -> CommonSettings:
    return load_settings(
        CommonSettings,
        mqtt_url="mqtt://gateway:x@127.0.0.1:1",
        influx_url="http://127.0.0.1:1",
        mqtt_root=root,
        field_root=root,
    )


async def test_the_gateways_message_handler_is_total(tmp_path: Path) -> None:
    """The handler of one received message (what the ingest loop calls) on arbitrary topics,
    with the project's vendor topics and bus commands among them: it never raises, no message
    fails it (`internal_error` stays 0), and every reading it keeps is a contract reading."""
    root = "t"
    inventory = subset((MQTT_SITE, MODBUS_A_SITE))
    config = GatewayConfig.model_validate(
        {"id": "gw-test", "mqtt": {"profiles": ["slc-mqtt-a"]}, "commands": {"queued": 5}}
    )
    settings = _settings(root)
    clock = ManualClock(NOW)
    gateway = Gateway(
        config, config_dir=tmp_path, settings=settings, inventory=inventory,
        profiles=dict(load_profiles(ROOT / "profiles")), clock=clock,
    )  # fmt: skip
    bus = ThreadedClient(
        MqttUrl.parse(settings.mqtt_url), identifier="gateway-test"
    )  # never started
    async with InfluxClient(settings.influx_url, "none") as influx:
        outputs = Outputs(
            inventory=inventory, topics=Topics(root), influx=influx, bus=bus,
            spool_dir=tmp_path / "spool", spool_bytes=1 << 20, health=gateway.health, clock=clock,
        )  # fmt: skip
        router = gateway.router(outputs, {})
        mqtt_lamp = min(lamp for lamp in inventory.lamps if lamp in gateway.served_lamps
                        and inventory.lamps[lamp].profile == "slc-mqtt-a")  # fmt: skip
        modbus_lamp = min(lamp for lamp, row in inventory.lamps.items()
                          if row.profile != "slc-mqtt-a")  # fmt: skip
        names = st.sampled_from([mqtt_lamp, modbus_lamp, "NOPE", "x" * 65_536]) | st.text(
            max_size=20
        )

        def on(template: str) -> st.SearchStrategy[str]:
            return st.builds(lambda d: template.format(d=d), names)

        link_status = st.builds(
            lambda online, devices: _dumps({"link": "k", "online": online, "devices": devices}),
            st.booleans() | JSON,
            st.lists(names | JSON, max_size=5) | JSON,
        )
        any_payload = st.one_of(_payloads(mqtt_lamp), _payloads(modbus_lamp), link_status)
        own_topic = f"{root}/slc-a/{mqtt_lamp}/report"
        messages = st.one_of(
            st.tuples(st.just(own_topic), _spliced(mqtt_lamp)),  # good reports among them
            st.tuples(
                on(root + "/slc-a/{d}/report"), _payloads(mqtt_lamp) | _payloads(modbus_lamp)
            ),
            st.tuples(on(root + "/slc-a/{d}/ack"), JSON.map(_dumps) | st.binary(max_size=50)),
            st.tuples(on(root + "/slc-a/link/{d}/status"), link_status),
            st.tuples(on(root + "/v1/command/lamp/{d}"), any_payload),
            st.tuples(st.text(), any_payload),
        )
        health: Health = gateway.health
        kept: list[str] = []

        # the message of issue 14 that stopped the gateway at every restart: a link id of 500
        # characters naming a real lamp
        long_link = (
            f"{root}/slc-a/link/{'k' * 500}/status",
            _dumps({"link": "k", "online": False, "devices": [mqtt_lamp]}),
        )

        @EXAMPLES
        @example(topic_and_payload=long_link)
        @given(topic_and_payload=messages)
        def check(topic_and_payload: tuple[str, bytes]) -> None:
            topic, payload = topic_and_payload
            message = Received(1, topic, payload, 1)
            reading = gateway.handle(outputs, router, message, gateway.command_prefix)
            assert health.errors["internal_error"] == 0, dict(health.errors)
            if reading is not None:
                assert reading.lamp == mqtt_lamp
                _valid(reading)
                kept.append(reading.lamp)

        check()
    assert kept  # good reports among the hostile ones were kept
    for kind in (MALFORMED, WRONG_PROFILE, UNKNOWN_DEVICE):
        assert health.errors[kind] > 0, dict(health.errors)
