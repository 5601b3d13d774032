"""Profiles are data: the shipped ones load, and a bad one is refused naming what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.world import SimulatorError, World
from streetlight.clock import ManualClock
from streetlight.profiles import ModbusLampProfile, ProfileError, load_profile
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
