"""docker-compose.yml is valid Compose, and every Streetlight service runs a real CLI role."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from streetlight.cli import build_parser
from tests.conftest import ROOT

COMPOSE_SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_file_follows_the_compose_specification() -> None:
    if not COMPOSE_SCHEMA.exists():
        pytest.fail(
            f"{COMPOSE_SCHEMA} is missing: the shared/ directory must sit beside the checkout"
        )
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # the file names draft-07 without the trailing '#' that jsonschema's lookup expects
    assert schema["$schema"].startswith("https://json-schema.org/draft-07/")
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_compose_has_every_service_of_the_design() -> None:
    expected = {"mosquitto", "influxdb", "grafana", "simulator", "gateway", "controller", "api"}
    assert set(_compose()["services"]) == expected


@pytest.mark.parametrize("service", ["simulator", "gateway", "controller", "api"])
def test_each_streetlight_service_command_parses(service: str) -> None:
    command = _compose()["services"][service]["command"]
    args = build_parser().parse_args(command)
    assert args.role == command[0]
