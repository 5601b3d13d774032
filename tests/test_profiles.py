"""Profiles are data: the shipped ones load, and a bad one is refused naming what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.world import SimulatorError, World
from streetlight.clock import ManualClock
from streetlight.profiles import ModbusLampProfile, ProfileError, load_profile, load_profiles
from tests.conftest import ROOT
from tests.helpers import subset
from tests.simulation import MODBUS_B_SITE, NIGHT, profiles

DIM = {"table": "holding", "address": 900, "type": "u16", "writable": True}
RELAY = {"table": "holding", "address": 901, "type": "bool", "writable": True}


def _lamp_profile(tmp_path: Path, broadcast: dict[str, Any]) -> Path:
    """slc-modbus-a with another broadcast section, as a file of its own."""
    document = yaml.safe_load((ROOT / "profiles" / "slc-modbus-a.yaml").read_text())
    document["broadcast"] = broadcast
    path = tmp_path / "slc-modbus-a.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("profile_id", ["slc-modbus-a", "slc-modbus-b"])
def test_concentrator_profiles_have_a_broadcast_in_their_slots_style(profile_id: str) -> None:
    profile = profiles()[profile_id]
    assert isinstance(profile, ModbusLampProfile)
    assert profile.broadcast is not None
    for name, spec in profile.broadcast.items():
        slot = profile.fields[name]
        assert (spec.table, spec.type, spec.scale, spec.stride) == (slot.table, slot.type, 1, 0)
        assert spec.writable


def test_a_profile_without_broadcast_still_loads(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "profiles" / "slc-modbus-a.yaml").read_text())
    del document["broadcast"]
    path = tmp_path / "slc-modbus-a.yaml"
    path.write_text(yaml.safe_dump(document))
    profile = load_profile(path)
    assert isinstance(profile, ModbusLampProfile)
    assert profile.broadcast is None


@pytest.mark.parametrize(
    ("broadcast", "reason"),
    [
        (
            {"dim_pct": DIM, "relay_on": RELAY, "level_pct": {**DIM, "address": 902}},
            r"broadcast: unknown fields \['level_pct'\]",
        ),
        ({"dim_pct": DIM}, "broadcast.relay_on: required and writable"),
        (
            {"dim_pct": DIM, "relay_on": {**RELAY, "writable": False}},
            "broadcast.relay_on: required and writable",
        ),
        (
            {"dim_pct": {**DIM, "stride": 16}, "relay_on": RELAY},
            "broadcast.dim_pct: one register for every slot, no stride",
        ),
        (
            {"dim_pct": {**DIM, "table": "input"}, "relay_on": RELAY},
            "broadcast.dim_pct: the input table is read-only",
        ),
        (  # slot 7's energy_wh: 1004 + 6 * 16
            {"dim_pct": {**DIM, "address": 1100}, "relay_on": RELAY},
            "broadcast.dim_pct and fields.energy_wh overlap at holding address 1100",
        ),
        (
            {"dim_pct": DIM, "relay_on": {**RELAY, "address": 900}},
            "broadcast.relay_on and broadcast.dim_pct overlap at holding address 900",
        ),
    ],
)
def test_a_bad_broadcast_section_is_refused_by_name(
    tmp_path: Path, broadcast: dict[str, Any], reason: str
) -> None:
    path = _lamp_profile(tmp_path, broadcast)
    with pytest.raises(ProfileError, match=reason) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_broadcast_on_the_cabinets_registers_is_refused_by_the_simulator() -> None:
    """cabinet-modbus-b keeps its phase A voltage at holding 100: no room for a broadcast."""
    lamp_profile = profiles()["slc-modbus-b"]
    assert isinstance(lamp_profile, ModbusLampProfile)
    assert lamp_profile.broadcast is not None
    moved = {
        name: spec.model_copy(update={"address": 100 + offset})
        for offset, (name, spec) in enumerate(sorted(lamp_profile.broadcast.items()))
    }
    clash = {**profiles(), "slc-modbus-b": lamp_profile.model_copy(update={"broadcast": moved})}
    with pytest.raises(SimulatorError, match=r"broadcast\.dim_pct of slc-modbus-b overlaps"):
        World(subset((MODBUS_B_SITE,)), clash, ManualClock(NIGHT))


# --- profiles refused by the onboarding check and by the gateway, naming file, key, reason ---

BAD_PROFILES: dict[str, tuple[str, Any, str]] = {
    # file: (key to change, its new value, the line expected)
    "wrong-type": (
        "report.fields.voltage_v.scale",
        "ten",
        "report.fields.voltage_v.scale: Input should be a valid number",
    ),
    "bad-path": (
        "report.fields.voltage_v.path",
        "data.[U",
        "report.fields.voltage_v.path: not a JMESPath expression",
    ),
    "missing-key": ("report.device", None, "report.device: Field required"),
    "bad-unit": (
        "report.fields.driver_temp_c.unit",
        "furlongs",
        "report.fields.driver_temp_c.unit: unit 'furlongs' cannot become driver_temp_c's Cel",
    ),
}


def _write_bad_profiles(directory: Path) -> None:
    """The four broken MQTT profiles above, and a Modbus cabinet with an overlap."""
    directory.mkdir()
    for name, (key, value, _) in BAD_PROFILES.items():
        document = yaml.safe_load((ROOT / "profiles" / "slc-mqtt-a.yaml").read_text())
        document["id"] = name
        *parents, last = key.split(".")
        node = document
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(document))
    cabinet = yaml.safe_load((ROOT / "profiles" / "cabinet-modbus-a.yaml").read_text())
    cabinet["id"] = "overlap"
    cabinet["fields"]["leakage_ma"]["address"] = 2  # phase A's power_w
    (directory / "overlap.yaml").write_text(yaml.safe_dump(cabinet))
    (directory / "good.yaml").write_text(
        (ROOT / "profiles" / "slc-mqtt-a.yaml").read_text().replace("id: slc-mqtt-a", "id: good")
    )


EXPECTED_LINES = [
    *(f"{name}.yaml: {line}" for name, (_, _, line) in BAD_PROFILES.items()),
    "overlap.yaml: fields.leakage_ma and phases.power_w overlap at input address 2",
]


def _streetlight(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    return subprocess.run(
        [sys.executable, "-m", "streetlight", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": error: " in line]


def test_every_problem_of_every_profile_is_refused_by_name(tmp_path: Path) -> None:
    directory = tmp_path / "profiles"
    _write_bad_profiles(directory)
    with pytest.raises(ProfileError) as caught:
        load_profiles(directory)
    problems = caught.value.problems
    for expected in EXPECTED_LINES:
        assert any(expected in line and line.startswith(str(directory)) for line in problems), (
            expected,
            problems,
        )
    assert not any("good.yaml" in line for line in problems)


def test_the_onboarding_check_reads_the_profiles_dir_and_fails_on_a_broken_one(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "profiles"
    _write_bad_profiles(directory)
    result = _streetlight("contract", "profiles", env={"STREETLIGHT_PROFILES_DIR": str(directory)})
    assert result.returncode == 2, result.stdout
    errors = _errors(result)
    for expected in EXPECTED_LINES:
        assert any(f"{directory}/{expected}" in line for line in errors), (expected, errors)
    assert "#### `good`" in result.stdout  # the good one is still shown
    assert "1 of 6 profiles good" in result.stderr

    fine = _streetlight(
        "contract", "profiles", env={"STREETLIGHT_PROFILES_DIR": str(ROOT / "examples/profiles")}
    )
    assert fine.returncode == 0, fine.stderr
    assert "4 profiles, all good" in fine.stdout
    assert "#### `slc-mqtt-a`" not in fine.stdout  # not ./profiles, whatever the directory


def test_the_gateway_refuses_broken_profiles_naming_each(tmp_path: Path) -> None:
    directory = tmp_path / "profiles"
    _write_bad_profiles(directory)
    config = tmp_path / "gateway.yaml"
    config.write_text("id: gw-1\ninventory: " + str(ROOT / "examples/xunyang/inventory.geojson"))
    result = _streetlight(
        "gateway", "--config", str(config), env={"STREETLIGHT_PROFILES_DIR": str(directory)}
    )
    assert result.returncode == 2
    errors = _errors(result)
    assert all(line.startswith("streetlight gateway: error: ") for line in errors)
    for expected in EXPECTED_LINES:
        assert any(f"{directory}/{expected}" in line for line in errors), (expected, errors)


def test_a_recorded_sample_is_decoded_to_canonical_telemetry() -> None:
    env = {"STREETLIGHT_PROFILES_DIR": str(ROOT / "examples/profiles")}
    sample = ROOT / "examples/profiles/samples/ctwing-nbiot-push.json"
    result = _streetlight(
        "contract", "profiles", "--sample", str(sample), "--profile", "ctwing-nbiot-push", env=env
    )
    assert result.returncode == 0, result.stderr
    telemetry = json.loads(result.stdout)
    assert telemetry["voltage_v"] == 221.7
    assert telemetry["energy_wh"] == 18335.0
    assert telemetry["lamp"] == "869975031234568"  # no --inventory: the device as it names itself
    wrong = _streetlight(
        "contract", "profiles", "--sample", str(sample), "--profile", "senml-lorawan-node", env=env
    )
    assert wrong.returncode == 2
    (line,) = _errors(wrong)
    assert "malformed: not a JSON array" in line


def test_inventory_check_refuses_a_profile_that_does_not_exist(tmp_path: Path) -> None:
    document = json.loads((ROOT / "examples/xunyang/inventory.geojson").read_text())
    lamp = next(f for f in document["features"] if f["properties"]["kind"] == "lamp")
    lamp["properties"]["profile"] = "slc-nowhere"
    path = tmp_path / "inventory.geojson"
    path.write_text(json.dumps(document))
    result = _streetlight("inventory", "check", str(path), env={})
    assert result.returncode == 2
    (line,) = _errors(result)
    lamp_id = lamp["properties"]["id"]
    assert f"lamp {lamp_id!r}: profile 'slc-nowhere' does not exist" in line
