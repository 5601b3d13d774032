"""The contract in code agrees with docs/contract.md and docs/schemas/."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import jsonschema
import pytest

from streetlight.cli._contract import all_schemas, schema_text
from streetlight.contract import (
    MEASUREMENTS,
    PAYLOADS,
    Channel,
    Command,
    LampTelemetry,
    PayloadError,
    ScheduleChange,
    Target,
    TargetKind,
    TopicError,
    Topics,
    decode,
    encode,
    json_schemas,
)
from streetlight.profiles import load_profiles
from streetlight.profiles._docs import profile_section
from tests.conftest import ROOT

CONTRACT = (ROOT / "docs" / "contract.md").read_text()
SCHEMAS = ROOT / "docs" / "schemas"


def _examples() -> dict[str, str]:
    """The JSON example under each '### `name`' heading of the payloads section."""
    pattern = re.compile(r"### `(\w+)`\n\n```json\n(.*?)\n```", re.DOTALL)
    return dict(pattern.findall(CONTRACT))


@pytest.mark.parametrize("name", [*sorted(PAYLOADS), "profile"])
def test_checked_in_schema_is_the_generated_one(name: str) -> None:
    path = SCHEMAS / f"{name}.schema.json"
    assert path.read_text() == schema_text(all_schemas()[name]), (
        f"{path} is stale: run 'streetlight contract schemas --write docs/schemas'"
    )


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_documented_example_is_valid_for_code_and_schema(name: str) -> None:
    example = _examples()[name]
    decode(PAYLOADS[name], example)
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(example))


@pytest.mark.parametrize(
    "message",
    [
        b'{"what": "override", "by": "wang", "at": "2026-12-21T17:50:00+08:00"}',
        b'{"what": "schedule", "id": 3, "by": "wang", "at": "2026-12-21T17:50:00+08:00"}',
    ],
)
def test_a_schedule_change_names_an_override_and_nothing_else(message: bytes) -> None:
    with pytest.raises(PayloadError, match="id is required for an override, and only for one"):
        decode(ScheduleChange, message)


def test_encoded_payload_validates_against_its_schema() -> None:
    command = Command(
        id="c1",
        target=Target(kind=TargetKind.LAMP, id="L1"),
        on=False,
        issued_at=datetime(2026, 12, 21, 14, 30, tzinfo=UTC),
        origin="controller",
    )
    document = json.loads(encode(command))
    assert "level_pct" not in document  # optional and unset: left out, not null
    jsonschema.Draft202012Validator(json_schemas()["command"]).validate(document)
    assert decode(Command, encode(command)) == command


GOOD_REPORT = {"v": 1, "lamp": "L1", "ts": "2026-12-21T10:00:00Z", "relay_on": True, "dim_pct": 5}


def _report(**changes: object) -> bytes:
    return json.dumps({**GOOD_REPORT, **changes}).encode()


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (_report()[:-1], "Invalid JSON"),
        (_report(ts="2026-12-21T10:00:00"), "ts"),
        (_report(lamp="L 1"), "lamp"),
        (_report(dim_pct=500), "dim_pct"),
        (_report(v=2), "v"),
        (_report(relay_on=1), "relay_on"),
        (_report(dim_pct="5"), "dim_pct"),
        (_report(x=1), "x"),
        (b"\xff\xfe\x00garbage", "Invalid JSON"),
    ],
)
def test_bad_message_is_refused_naming_the_field(message: bytes, reason: str) -> None:
    decode(LampTelemetry, _report())  # the unchanged report is good
    with pytest.raises(PayloadError, match=reason):
        decode(LampTelemetry, message)


def test_command_needs_a_level_when_on() -> None:
    with pytest.raises(PayloadError, match="level_pct is required"):
        decode(
            Command,
            '{"id": "c1", "target": {"kind": "lamp", "id": "L1"}, "on": true, '
            '"issued_at": "2026-12-21T14:30:00Z", "origin": "controller"}',
        )


def test_topics_build_and_parse() -> None:
    topics = Topics("city/xy")
    topic = topics.alarm(TargetKind.LAMP, "PP-S01-L001", "lamp_failure")
    assert topic == "city/xy/v1/alarm/lamp/PP-S01-L001/lamp_failure"
    address = topics.parse(topic)
    assert (address.channel, address.kind, address.id, address.subtype) == (
        Channel.ALARM,
        TargetKind.LAMP,
        "PP-S01-L001",
        "lamp_failure",
    )
    assert topics.subscription(Channel.TELEMETRY) == "city/xy/v1/telemetry/+/#"


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/v1/telemetry/lamp/L1", "not under"),
        ("city/xy/v1/telemetry/lamp", "levels"),
        ("city/xy/v1/weather/lamp/L1", "weather"),
        ("city/xy/v1/telemetry/pole/L1", "pole"),
    ],
)
def test_foreign_topics_are_refused(topic: str, reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        Topics("city/xy").parse(topic)


def test_ids_with_wildcards_cannot_become_topics() -> None:
    with pytest.raises(TopicError):
        Topics().telemetry(TargetKind.LAMP, "+")


def test_every_topic_channel_is_documented() -> None:
    for channel in Channel:
        assert f"{{root}}/v1/{channel.value}/" in CONTRACT, channel


@pytest.mark.parametrize("name", sorted(MEASUREMENTS))
def test_measurement_table_matches_the_schema_in_code(name: str) -> None:
    spec = MEASUREMENTS[name]
    row = next((line for line in CONTRACT.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row is not None, f"docs/contract.md has no row for measurement {name}"
    _, tags_cell, fields_cell = (cell.strip() for cell in row.strip("|").split("|"))
    assert re.findall(r"`(\w+)`", tags_cell) == list(spec.tags)
    assert re.findall(r"`(\w+)`", fields_cell) == [field.name for field in spec.fields]


@pytest.mark.parametrize("profile_id", sorted(load_profiles(ROOT / "profiles")))
def test_profile_tables_match_the_profiles(profile_id: str) -> None:
    section = profile_section(load_profiles(ROOT / "profiles")[profile_id])
    assert section in CONTRACT, (
        f"docs/contract.md's table for {profile_id} is stale: see 'streetlight contract profiles'"
    )
