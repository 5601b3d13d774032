"""Vendor payloads as they really come, read by an MQTT profile's mapping: state words, numeric
strings, keys that are not identifiers, values inside arrays, times in every form, devices
named by address, units converted; and commands written back the same way."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from streetlight.normalize import MqttDecoder, Rejected
from streetlight.profiles import (
    MqttLampProfile,
    ack_body,
    command_body,
    read_ack,
    read_command,
)

RECEIVED = datetime(2026, 12, 21, 13, 0, tzinfo=UTC)
TOPICS = {
    "report": "{root}/v/{device}/up",
    "command": "{root}/v/{device}/down",
    "ack": "{root}/v/{device}/ack",
    "group_command": "{root}/v/group/{group}/down",
    "link_status": "{root}/v/link/{link}/status",
}
BASE: dict[str, Any] = {
    "id": "vendor-x",
    "transport": "mqtt",
    "device": "lamp",
    "topics": TOPICS,
    "report": {
        "device": "dev",
        "time": {"path": "ts", "format": "epoch_s"},
        "fields": {"relay_on": {"path": "sw", "type": "bool"}, "dim_pct": {"path": "dim"}},
    },
    "command": {"id": "cmdId", "relay": "sw", "level": "dim"},
    "ack": {"id": "cmdId", "ok": "ok", "code": "code"},
}


def profile(**changes: Any) -> MqttLampProfile:
    """The base profile with `report`'s keys (and top-level keys) changed."""
    document = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key in ("device", "time", "fields", "faults"):
            document["report"][key] = value
        else:
            document[key] = value
    return MqttLampProfile.model_validate(document)


def decode(
    spec: MqttLampProfile,
    payload: Any,
    topic_device: str | None = None,
    devices: dict[str, str] | None = None,
) -> Any:
    decoder = MqttDecoder(spec, devices or {"L1": "L1"}, now=lambda: RECEIVED)
    return decoder.decode(json.dumps(payload).encode(), topic_device)


def report(**values: Any) -> dict[str, Any]:
    return {"dev": "L1", "ts": 1797858000, "sw": 1, "dim": 80, **values}


@pytest.mark.parametrize(
    ("word", "states", "on"),
    [
        ("on", None, True),
        ("off", None, False),
        ("ON", None, True),
        ("true", None, True),
        ("False", None, False),
        ("1", None, True),
        (True, None, True),
        (0, None, False),
        ("closed", {"closed": True, "open": False}, True),
        ("OPEN", {"closed": True, "open": False}, False),
    ],
)
def test_state_words_are_read_as_on_or_off(
    word: object, states: dict[str, bool] | None, on: bool
) -> None:
    relay: dict[str, Any] = {"path": "sw", "type": "bool"}
    if states is not None:
        relay["states"] = states
    spec = profile(fields={"relay_on": relay, "dim_pct": {"path": "dim"}})
    assert decode(spec, report(sw=word)).relay_on is on


@pytest.mark.parametrize("word", ["maybe", 2, 1.0, None])
def test_a_word_the_profile_does_not_know_is_refused(word: object) -> None:
    spec = profile(
        fields={
            "relay_on": {"path": "sw", "type": "bool", "states": {"closed": True, "open": False}},
            "dim_pct": {"path": "dim"},
        }
    )
    with pytest.raises(Rejected) as caught:
        decode(spec, report(sw=word))
    kind = "unmapped" if word is None else "wrong_type"
    assert caught.value.kind == kind
    assert "relay_on" in str(caught.value)


def test_numeric_strings_are_numbers_and_words_are_not() -> None:
    fields = {
        "relay_on": {"path": "sw", "type": "bool"},
        "dim_pct": {"path": "dim", "type": "int"},
        "voltage_v": {"path": "U"},
    }
    spec = profile(fields=fields)
    reading = decode(spec, report(U="221.4", dim="80", ts="1797858000"))
    assert (reading.voltage_v, reading.dim_pct) == (221.4, 80)
    with pytest.raises(Rejected, match="voltage_v 'two hundred' is not a number"):
        decode(spec, report(U="two hundred"))
    with pytest.raises(Rejected, match="is not a number"):
        decode(spec, report(U="nan"))


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ('"3316/0/5700"', {"3316/0/5700": 229.1}),
        ('"3316.5700"', {"3316.5700": 229.1}),
        ('"5850"', {"5850": 229.1}),
        ('body."Voltage (V)"', {"body": {"Voltage (V)": 229.1}}),
        ('"supply-voltage"', {"supply-voltage": 229.1}),
        ("readings[1].value", {"readings": [{"value": 0}, {"value": 229.1}]}),
        ("readings[-1].value", {"readings": [{"value": 0}, {"value": 229.1}]}),
        ("[?n=='U'].v | [0]", [{"n": "I", "v": 0.2}, {"n": "U", "v": 229.1}]),
    ],
)
def test_paths_reach_any_key_and_into_arrays(path: str, payload: Any) -> None:
    fields = {  # the relay and the level are constants: only the voltage is the payload's
        "relay_on": {"path": "`true`", "type": "bool"},
        "dim_pct": {"path": "`80`"},
        "voltage_v": {"path": path},
    }
    spec = profile(fields=fields, device={}, time=None)
    reading = decode(spec, payload, topic_device="L1")
    assert reading.voltage_v == 229.1


def test_senml_records_are_picked_by_name() -> None:
    senml = [
        {"bn": "urn:dev:deveui:70b3d59ba0000123:", "bt": 1797858031, "n": "voltage", "v": 229.4},
        {"n": "relay", "vb": False},
        {"n": "dim", "v": 0},
        {"n": "energy", "u": "kWh", "v": 18.335},
    ]
    spec = profile(
        devices_named_by="device_address",
        device={"path": "[0].bn", "pattern": "^urn:dev:deveui:([0-9a-f]{16}):$"},
        time={"path": "[0].bt"},
        fields={
            "relay_on": {"path": "[?n=='relay'].vb | [0]", "type": "bool"},
            "dim_pct": {"path": "[?n=='dim'].v | [0]"},
            "voltage_v": {"path": "[?n=='voltage'].v | [0]"},
            "energy_wh": {"path": "[?n=='energy'].v | [0]", "unit": "kWh"},
        },
    )
    reading = decode(spec, senml, devices={"70b3d59ba0000123": "L7"})
    assert (reading.lamp, reading.relay_on, reading.voltage_v, reading.energy_wh) == (
        "L7", False, 229.4, 18335.0,
    )  # fmt: skip
    assert reading.ts == datetime(2026, 12, 21, 13, 0, 31, tzinfo=UTC)
    with pytest.raises(Rejected, match="not a JSON array"):
        decode(spec, {"bn": "x"})


@pytest.mark.parametrize(
    ("time", "value", "expected"),
    [
        ({"path": "ts"}, 1797858000, datetime(2026, 12, 21, 13, 0, tzinfo=UTC)),
        ({"path": "ts"}, "1797858000", datetime(2026, 12, 21, 13, 0, tzinfo=UTC)),
        (
            {"path": "ts", "format": "epoch_ms"},
            1797858000250,
            datetime(2026, 12, 21, 13, 0, 0, 250000, tzinfo=UTC),
        ),
        (
            {"path": "ts", "format": "iso8601"},
            "2026-12-21T21:00:00+08:00",
            datetime(2026, 12, 21, 21, 0, tzinfo=timezone(timedelta(hours=8))),
        ),
        (
            {"path": "ts", "format": "iso8601"},
            "20261221T130000Z",  # ISO 8601's basic form, as OceanConnect writes eventTime
            datetime(2026, 12, 21, 13, 0, tzinfo=UTC),
        ),
    ],
)
def test_times_in_each_form(time: dict[str, Any], value: object, expected: datetime) -> None:
    reading = decode(profile(time=time), report(ts=value))
    assert reading.ts == expected
    assert reading.ts_source is None


def test_a_report_without_time_takes_the_time_of_receipt_and_says_so() -> None:
    reading = decode(profile(time=None), report())
    assert (reading.ts, reading.ts_source) == (RECEIVED, "gateway")
    assert reading.document()["ts_source"] == "gateway"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-12-21T21:00:00", "has no UTC offset"),
        ("yesterday", "is not ISO 8601"),
        (1797858000, "is not ISO 8601"),
    ],
)
def test_a_bad_time_is_refused(value: object, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        decode(profile(time={"path": "ts", "format": "iso8601"}), report(ts=value))


@pytest.mark.parametrize(
    ("field", "unit", "raw", "expected"),
    [
        ("energy_wh", "kWh", 18.334, 18334.0),
        ("energy_wh", "J", 66006000, 18335.0),
        ("current_a", "mA", 183, 0.183),
        ("driver_temp_c", "degF", 106.7, 41.5),
        ("driver_temp_c", "K", 314.65, 41.5),
        ("power_factor", "%", 97, 0.97),
        ("power_w", "kW", 0.0396, 39.6),
        ("burning_hours", "s", 5473800, 1520.5),
        ("voltage_v", "V", 229.1, 229.1),
    ],
)
def test_units_become_the_contracts(field: str, unit: str, raw: float, expected: float) -> None:
    fields = {
        "relay_on": {"path": "sw", "type": "bool"},
        "dim_pct": {"path": "dim"},
        field: {"path": "x", "unit": unit},
    }
    assert getattr(decode(profile(fields=fields), report(x=raw)), field) == expected


def test_a_fraction_is_a_dim_level_in_percent() -> None:
    fields = {"relay_on": {"path": "sw", "type": "bool"}, "dim_pct": {"path": "dim", "unit": "1"}}
    assert decode(profile(fields=fields), report(dim=0.3)).dim_pct == 30


@pytest.mark.parametrize(
    ("faults", "value", "expected"),
    [
        ({"path": "alm", "bits": {0: "lamp_open", 2: "over_temperature"}}, 5,
         ["lamp_open", "over_temperature"]),
        ({"path": "alm", "bits": {0: "lamp_open"}}, "1", ["lamp_open"]),
        ({"path": "alm", "words": {"LampFail": "lamp_open", "ok": None}}, "lampfail",
         ["lamp_open"]),
        ({"path": "alm", "words": {"LampFail": "lamp_open", "hot": "over_temperature"}},
         ["hot", "LampFail", "unknown"], ["lamp_open", "over_temperature"]),
        ({"path": "alm", "words": {"ok": None}}, "ok", []),
    ],
)  # fmt: skip
def test_fault_flags_from_bits_or_words(
    faults: dict[str, Any], value: object, expected: list[str]
) -> None:
    assert decode(profile(faults=faults), report(alm=value)).faults == expected


def test_a_device_named_by_address_in_the_payload_maps_to_its_lamp() -> None:
    spec = profile(devices_named_by="device_address", device={"path": "IMEI"})
    devices = {"869975031234567": "PP-S04-L003"}
    reading = decode(spec, report(IMEI=869975031234567), devices=devices)  # a JSON number too
    assert reading.lamp == "PP-S04-L003"
    with pytest.raises(Rejected, match="unknown device address '869975031234999'") as caught:
        decode(spec, report(IMEI="869975031234999"), devices=devices)
    assert caught.value.kind == "unknown_device"


def test_a_device_named_by_address_in_the_topic_maps_to_its_lamp() -> None:
    spec = profile(devices_named_by="device_address", device={})
    devices = {"70b3d59ba0000123": "L9"}
    assert decode(spec, report(), topic_device="70B3D59BA0000123", devices=devices).lamp == "L9"


def test_a_report_naming_another_device_than_its_topic_is_refused() -> None:
    with pytest.raises(Rejected, match="a report on L2's topic names L1") as caught:
        decode(profile(), report(), topic_device="L2", devices={"L1": "L1", "L2": "L2"})
    assert caught.value.kind == "unmapped"


def test_commands_and_acks_take_words_and_nested_bodies() -> None:
    spec = profile(
        command={
            "id": "taskId",
            "relay": {"path": "content.params.lamp_switch", "on": "ON", "off": "OFF"},
            "level": {"path": "content.params.level", "type": "number", "scale": 100},
            "constant": {"content.serviceIdentifier": "lamp_control"},
        },
        ack={
            "id": "taskId",
            "ok": {"path": "result.resultCode", "type": "bool", "states": {"SUCCESS": True}},
        },
    )
    body = json.loads(command_body(spec.command, "c-1", True, 80))
    assert body == {
        "content": {"serviceIdentifier": "lamp_control", "params": {"lamp_switch": "ON",
                                                                   "level": 0.8}},
        "taskId": "c-1",
    }  # fmt: skip
    assert read_command(spec.command, body) == ("c-1", True, 80)
    off = json.loads(command_body(spec.command, "c-2", False, 0))
    assert off["content"]["params"]["lamp_switch"] == "OFF"
    ack = json.loads(ack_body(spec.ack, "c-1", True, 0, 0.0))
    assert ack["result"]["resultCode"] == "SUCCESS"
    assert read_ack(spec.ack, ack) == ("c-1", True, -1)
    assert read_ack(spec.ack, {"taskId": "c-1", "result": {"resultCode": "FAILED"}}) == (
        "c-1", False, -1,
    )  # fmt: skip


def test_the_shipped_mqtt_profile_writes_the_commands_it_always_did() -> None:
    body = command_body(profile().command, "c-7f3a9e", True, 50)
    assert json.loads(body) == {"cmdId": "c-7f3a9e", "sw": 1, "dim": 50}
