"""`streetlight contract schemas|profiles`: the contract's JSON schemas; the profiles checked.

streetlight contract schemas [--write DIR]   payload and profile schemas (docs/schemas/)
streetlight contract profiles                every profile of STREETLIGHT_PROFILES_DIR as
                                             tables, every problem of every file listed
streetlight contract profiles --sample FILE --profile ID [--topic TOPIC] [--inventory PATH]
                                             one recorded report through the gateway's
                                             decoder: the canonical telemetry it gives
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from streetlight.contract import LampTelemetry, PayloadError, decode, json_schemas
from streetlight.errors import StreetlightError
from streetlight.profiles import MqttLampProfile, profile_json_schema, read_profiles
from streetlight.profiles._docs import profile_section
from streetlight.settings import CommonSettings, load_settings


class SampleError(StreetlightError):
    """A sample that cannot be decoded by its profile; the message says why."""


def add_parser(roles: Any) -> None:
    parser = roles.add_parser(
        "contract",
        help="print or write the JSON schemas; check the profiles, or decode a sample with one",
    )
    parser.add_argument("what", choices=("schemas", "profiles"))
    parser.add_argument("--write", type=Path, metavar="DIR", help="write one file per schema")
    parser.add_argument("--sample", type=Path, metavar="FILE", help="a recorded vendor report")
    parser.add_argument("--profile", metavar="ID", help="the MQTT profile that decodes it")
    parser.add_argument("--topic", help="the topic it came on (when the topic names the device)")
    parser.add_argument("--inventory", type=Path, help="to map device addresses to lamps")
    parser.set_defaults(handler=run)


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema of docs/schemas/ by name: the payloads', and the profile file's."""
    return {**json_schemas(), "profile": profile_json_schema()}


def run(args: argparse.Namespace) -> int:
    if args.what == "profiles":
        directory = load_settings(CommonSettings).profiles_dir
        if args.sample is not None or args.profile is not None:
            return _sample(args, directory)
        return _check(directory)
    schemas = all_schemas()
    if args.write is None:
        print(json.dumps(schemas, indent=2, sort_keys=True))
        return 0
    args.write.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas.items():
        path = args.write / f"{name}.schema.json"
        path.write_text(schema_text(schema))
        print(path)
    return 0


def _check(directory: Path) -> int:
    """Tables of the good profiles; every problem of the others on stderr; 2 if any."""
    profiles, problems = read_profiles(directory)
    for profile in profiles.values():
        print(profile_section(profile) + "\n")
    for problem in problems:
        print(f"streetlight contract: error: {problem}", file=sys.stderr)
    files = len(list(directory.glob("*.yaml"))) if directory.is_dir() else 0
    if problems:
        print(
            f"{directory}: {len(problems)} problems; {len(profiles)} of {files} profiles good",
            file=sys.stderr,
        )
        return 2
    print(f"{directory}: {len(profiles)} profiles, all good")
    return 0


class _AnyName(Mapping[str, str]):
    """Without an inventory, every device stands for a lamp of its own name."""

    def __getitem__(self, key: str) -> str:
        return key

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def topic_device(profile: MqttLampProfile, topic: str) -> str | None:
    """The {device} of one of the profile's report topics, whatever its root (None: the
    template names none)."""
    template = re.escape(profile.topics.report)
    pattern = re.sub(
        r"\\\{(\w+)\\\}",
        lambda m: "(?P<root>.+)" if m.group(1) == "root" else f"(?P<{m.group(1)}>[^/]+)",
        template,
    )
    match = re.match(f"^{pattern}$", topic)
    if match is None:
        raise SampleError(f"topic {topic!r} is not a report topic {profile.topics.report!r}")
    return match.groupdict().get("device")


def _sample(args: argparse.Namespace, directory: Path) -> int:
    from streetlight.inventory import load_inventory
    from streetlight.normalize import MqttDecoder, Rejected, device_names

    if args.sample is None or args.profile is None:
        raise SampleError("--sample FILE and --profile ID go together")
    profiles, problems = read_profiles(directory)
    profile = profiles.get(args.profile)
    if not isinstance(profile, MqttLampProfile):
        known = sorted(p for p, x in profiles.items() if isinstance(x, MqttLampProfile))
        refused = [line for line in problems if f"/{args.profile}.yaml:" in line]
        raise SampleError(
            "\n".join(refused)
            or f"{directory}: no MQTT profile {args.profile!r} (MQTT profiles: {known})"
        )
    try:
        payload = args.sample.read_bytes()
    except OSError as exc:
        raise SampleError(f"{args.sample}: cannot read: {exc.strerror}") from exc
    devices: Mapping[str, str] = _AnyName()
    if args.inventory is not None:
        devices = device_names(profile, load_inventory(args.inventory))
    device = topic_device(profile, args.topic) if args.topic else None
    if device is None and profile.report.device.path is None:
        raise SampleError(
            f"{profile.id} takes the device from the topic ({profile.topics.report}): give --topic"
        )
    try:
        reading = MqttDecoder(profile, devices).decode(payload, device)
    except Rejected as exc:
        raise SampleError(f"{args.sample}: {exc.kind}: {exc}") from exc
    document = reading.document()
    text = orjson.dumps({"v": 1, **document}, option=orjson.OPT_UTC_Z).decode()
    try:
        decode(LampTelemetry, text)
    except PayloadError as exc:
        raise SampleError(
            f"{args.sample}: decoded, but not valid lamp_telemetry ({exc}); with a device "
            f"address, give --inventory to map it to its lamp: {text}"
        ) from exc
    print(text)
    return 0
