"""docker-compose.yml is valid Compose, runs real CLI roles, keeps every store in a volume,
starts nothing without its secrets, and sets only variables the code reads; the broker's
identities it makes from those secrets work on a real Mosquitto."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pkgutil
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings

from streetlight.cli import build_parser
from streetlight.mqtt import make_client
from streetlight.services import broker_auth, free_port
from streetlight.services._install import find_program
from streetlight.services._mqtt_auth import ROLES, acl_text
from streetlight.settings import MqttUrl
from tests.conftest import ROOT

COMPOSE_SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
DESIGN = {"mosquitto", "influxdb", "grafana", "simulator", "gateway", "controller", "api"}
ONE_SHOT = {"mosquitto-auth", "setup"}  # run to completion before the services that need them
MOSQUITTO = ROOT / "deploy" / "mosquitto"
PACKAGES = ("streetlight", "gateway", "controller", "simulator", "api", "dashboards")
SECRET = re.compile(r"\$\{(\w+)(:?[?-])?([^}]*)\}")


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
    services = _compose()["services"]
    assert set(services) == DESIGN | ONE_SHOT
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name


@pytest.mark.parametrize("service", ["simulator", "gateway", "controller", "api"])
def test_each_streetlight_service_command_parses(service: str) -> None:
    command = _compose()["services"][service]["command"]
    args = build_parser().parse_args(command)
    assert args.role == command[0]


def test_setup_commands_parse() -> None:
    (script,) = _compose()["services"]["setup"]["command"]
    for command in script.split("&&"):
        words = command.split()
        assert words[0] == "streetlight"
        build_parser().parse_args(words[1:])


def test_services_wait_for_what_they_need_to_be_healthy() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for needed, rule in service.get("depends_on", {}).items():
            assert isinstance(rule, dict), f"{name} depends on {needed} without a condition"
            if needed in ONE_SHOT:
                assert rule["condition"] == "service_completed_successfully", (name, needed)
            else:
                assert rule["condition"] == "service_healthy", (name, needed)
                assert "healthcheck" in services[needed], needed
    for name in DESIGN:
        assert "healthcheck" in services[name], name


@pytest.mark.parametrize(
    ("service", "store"),
    [
        ("mosquitto", "/mosquitto/data"),
        ("influxdb", "/var/lib/influxdb"),
        ("grafana", "/var/lib/grafana"),
        ("gateway", "/app/var"),
        ("controller", "/app/var"),
        ("api", "/app/var"),
        ("simulator", "/app/var"),
    ],
)
def test_every_store_is_a_named_volume(service: str, store: str) -> None:
    document = _compose()
    mounts = dict(
        reversed(volume.split(":")[:2]) for volume in document["services"][service]["volumes"]
    )
    assert mounts[store] in document["volumes"], f"{service}: {store} is not in a named volume"


def _secrets() -> dict[str, list[str]]:
    """Every ${VAR...} of the compose file: its name and the forms it takes."""
    found: dict[str, list[str]] = {}
    for name, form, _message in SECRET.findall((ROOT / "docker-compose.yml").read_text()):
        found.setdefault(name, []).append(form)
    return found


def test_no_secret_has_a_default_and_each_is_refused_when_missing() -> None:
    secrets = _secrets()
    assert secrets
    for name, forms in secrets.items():
        assert set(forms) == {":?"}, f"${{{name}}} must be written ${{{name}:?message}}"
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(example) == set(secrets)
    assert all(value == "" for value in example.values()), ".env.example must hold no secret"


def _settings_classes() -> set[type[BaseSettings]]:
    """Every settings class of the code: import each module of the packages, then walk the
    subclasses of BaseSettings (so a new class or field is seen without editing this test)."""
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            # Alembic's env runs migrations on import, and a __main__ runs its command
            if ".migrations" not in module.name and not module.name.endswith(".__main__"):
                importlib.import_module(module.name)
    found: set[type[BaseSettings]] = set()
    pending = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.__module__.split(".")[0] in PACKAGES:
            found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def _variables_read() -> set[str]:
    names = set()
    for cls in _settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, info in cls.model_fields.items():
            alias = info.validation_alias if isinstance(info.validation_alias, str) else None
            names.add((alias or prefix + field_name).upper())
    return names


def _variables_set() -> dict[str, str]:
    """Every STREETLIGHT_* variable the compose file (and the image) sets, with where."""
    found = {}
    for name, service in _compose()["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping, please"
        for variable in environment:
            if variable.startswith("STREETLIGHT_"):
                found[variable] = name
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            for assignment in line.split()[1:]:
                found[assignment.split("=", 1)[0]] = "Dockerfile"
    return found


def test_every_variable_set_is_one_the_code_reads() -> None:
    read = _variables_read()
    assert {"STREETLIGHT_MQTT_URL", "STREETLIGHT_SIM_MODBUS_HOST"} <= read  # the walk works
    unread = {
        variable: where for variable, where in _variables_set().items() if variable not in read
    }
    assert not unread, f"set but read by no settings class: {unread}"


def test_the_acl_file_is_the_generated_one() -> None:
    auth = broker_auth("streetlight", "field", ROOT / "profiles")
    assert (MOSQUITTO / "acl").read_text() == acl_text(
        auth.bus_root, auth.field_root, auth.device_classes
    ), "deploy/mosquitto/acl is stale: write it with streetlight.services._mqtt_auth.acl_text"
    script = (MOSQUITTO / "auth.sh").read_text()
    assert f'ROLES="{" ".join(ROLES)}"' in script


# --- the identities, on a real Mosquitto -------------------------------------------------------


def _identities() -> list[str]:
    return re.findall(r"^user (\S+)$", (MOSQUITTO / "acl").read_text(), re.MULTILINE)


def _run_auth(out: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """deploy/mosquitto/auth.sh, as the mosquitto-auth container runs it (as root)."""
    passwd = find_program("mosquitto_passwd")
    assert passwd is not None
    environment = {
        "PATH": f"{passwd.parent}:{os.environ['PATH']}",
        "MOSQUITTO_ACL": str(MOSQUITTO / "acl"),
        "MOSQUITTO_AUTH_DIR": str(out),
        **secrets,
    }
    return subprocess.run(
        ["/bin/sh", str(MOSQUITTO / "auth.sh")],
        env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _secret_name(identity: str) -> str:
    return "MQTT_PASSWORD_" + identity.upper().replace("-", "_")


@pytest.fixture
def compose_broker(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A Mosquitto with deploy/mosquitto's configuration and the password file auth.sh wrote
    (paths moved from the container's to tmp_path); its port and the identities' passwords."""
    if os.geteuid() != 0:
        pytest.skip("auth.sh hands its files to the containers' users, as root does")
    secrets = {_secret_name(name): f"pw-{name}-{index}" for index, name in enumerate(_identities())}
    auth = tmp_path / "auth"
    auth.mkdir()
    result = _run_auth(auth, secrets)
    assert result.returncode == 0, result.stderr
    devices = json.loads((auth / "device-credentials.json").read_text())
    assert devices == {"slc-mqtt-a": secrets["MQTT_PASSWORD_SLC_MQTT_A"]}
    port = free_port()
    config = (MOSQUITTO / "mosquitto.conf").read_text()
    config = config.replace("listener 1883", f"listener {port} 127.0.0.1")
    config = config.replace("/mosquitto/auth/", f"{auth}/").replace(
        "/mosquitto/config/acl", str(MOSQUITTO / "acl")
    )
    config = config.replace("/mosquitto/data/", f"{tmp_path}/")
    config += "user root\n"  # the test runs it as root; the container as mosquitto
    (tmp_path / "mosquitto.conf").write_text(config)
    mosquitto = find_program("mosquitto")
    assert mosquitto is not None
    process = subprocess.Popen(
        [str(mosquitto), "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield port, secrets
    finally:
        process.terminate()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()


async def test_the_composed_broker_takes_each_identity_and_refuses_others(
    compose_broker: tuple[int, dict[str, str]],
) -> None:
    port, secrets = compose_broker
    for identity in _identities():
        url = MqttUrl("127.0.0.1", port, tls=False, username=identity,
                      password=secrets[_secret_name(identity)])  # fmt: skip
        async with asyncio.timeout(10), make_client(url, identifier=f"t-{identity}"):
            pass
    for username, password in (("gateway", "wrong"), (None, None)):
        url = MqttUrl("127.0.0.1", port, tls=False, username=username, password=password)
        with pytest.raises(aiomqtt.MqttError):
            async with asyncio.timeout(10), make_client(url, identifier="t-intruder"):
                pass


def test_auth_refuses_a_missing_or_unsafe_secret(tmp_path: Path) -> None:
    secrets = {_secret_name(name): "fine" for name in _identities()}
    missing = _run_auth(tmp_path, {k: v for k, v in secrets.items() if "GATEWAY" not in k})
    assert missing.returncode == 1
    assert "MQTT_PASSWORD_GATEWAY is not set" in missing.stderr
    unsafe = _run_auth(tmp_path, {**secrets, "MQTT_PASSWORD_API": "a b@c"})
    assert unsafe.returncode == 1
    assert "MQTT_PASSWORD_API may hold only" in unsafe.stderr
