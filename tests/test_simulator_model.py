"""The simulator's model without a network: physics, scenarios, determinism."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from astral import Observer

from simulator import noise, physics
from simulator.background import random_faults_for_night
from simulator.devices import cycling_shows_at
from simulator.world import World
from streetlight.clock import ManualClock
from streetlight.contract import LampFault, Topics
from streetlight.domain import STANDBY_W, AlarmType, lamp_power_w, power_factor
from streetlight.profiles import load_profiles
from streetlight.scenario import FaultEvent, ScenarioError, build_scenario, load_scenario
from streetlight.services import ServiceState
from streetlight.settings import MqttUrl
from tests.conftest import ROOT
from tests.helpers import Listener, eventually, sample_district, subset
from tests.simulation import MQTT_SITE, NIGHT, clock_of, running, sent_all

XUNYANG = (29.73, 115.99)


def test_led_power_curve_bends_and_power_factor_falls_at_low_dim() -> None:
    powers = [lamp_power_w(40, True, level) for level in range(0, 101, 10)]
    assert powers == sorted(powers)
    assert powers[0] > STANDBY_W  # a driver at 0 % still draws its minimum
    assert lamp_power_w(40, True, 50) < 0.55 * lamp_power_w(40, True, 100)  # below linear
    assert lamp_power_w(40, False, 100) == STANDBY_W
    factors = [power_factor(load / 10) for load in range(1, 11)]
    assert factors == sorted(factors)
    assert factors[-1] > 0.95
    assert factors[0] < 0.8


def test_daylight_is_continuous_across_the_horizon_and_dark_after_civil_dusk() -> None:
    assert abs(physics.clear_sky_lux(0.001) - physics.clear_sky_lux(-0.001)) < 1
    assert 350 < physics.clear_sky_lux(0) < 450
    assert 2 < physics.clear_sky_lux(-6) < 4
    assert physics.clear_sky_lux(60) > 80_000
    assert physics.clear_sky_lux(-20) < 0.01


def test_ambient_lux_follows_the_sun_at_xunyang() -> None:
    noon = datetime(2026, 6, 21, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    midnight = datetime(2026, 6, 21, 23, 59, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    key = noise.key_of(1, "cab")
    assert physics.ambient_lux(*XUNYANG, key, noon) > 10_000
    assert physics.ambient_lux(*XUNYANG, key, midnight) < 1
    storm = physics.ambient_lux(*XUNYANG, key, noon, weather=0.01)
    assert storm < 0.02 * physics.ambient_lux(*XUNYANG, key, noon)


def test_grid_voltage_drifts_within_the_band() -> None:
    key = noise.key_of(3, "cabinet")
    start = datetime(2026, 12, 21, tzinfo=UTC).timestamp()
    values = [physics.grid_voltage(key, start + 60 * m, 220.0, 8) for m in range(0, 24 * 60, 7)]
    assert all(209 < v < 231 for v in values)
    assert max(values) - min(values) > 3  # it does move


def test_noise_is_a_function_of_its_arguments() -> None:
    key = noise.key_of(42, "PP-S01-L001")
    assert key == noise.key_of(42, "PP-S01-L001")
    assert key != noise.key_of(43, "PP-S01-L001")
    assert noise.uniform(key, 7) == noise.uniform(key, 7)
    draws = [noise.uniform(key, n) for n in range(2000)]
    assert 0.45 < sum(draws) / len(draws) < 0.55
    assert min(noise.smooth(key, t, 60) for t in range(0, 3600, 7)) >= -1


# --- scenario files -------------------------------------------------------------------------

SMALL = subset((MQTT_SITE,))
LAMP = min(SMALL.lamps)
CABINET = min(SMALL.cabinets)


def _fault(**entry: object) -> dict[str, object]:
    return {
        "at": "2026-12-21T19:00:00+08:00",
        "target": f"lamp:{LAMP}",
        "kind": "lamp_failure",
        **entry,
    }


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"faults": [_fault(kind="meteor")]}, "faults[0] (lamp:"),
        ({"faults": [_fault(kind="meteor")]}, "unknown fault kind 'meteor'"),
        ({"faults": [_fault(target="lamp:NOPE")]}, "the inventory has no lamp 'NOPE'"),
        ({"faults": [_fault(target="pole:X")]}, "must be lamp:<id>, circuit:<id> or cabinet:<id>"),
        ({"faults": [_fault(kind="leakage")]}, "leakage happens to a cabinet, not a lamp"),
        (
            {"faults": [_fault(), _fault(at="2026-12-21T18:00:00+08:00")]},
            "faults[1] (lamp:",
        ),
        (
            {"faults": [_fault(), _fault(at="2026-12-21T18:00:00+08:00")]},
            "list faults in time order",
        ),
        ({"faults": [_fault(until="2026-12-21T18:00:00+08:00")]}, "until must be after at"),
        ({"faults": [_fault(at="2026-12-21T19:00:00")]}, "timezone"),
        ({"faults": [_fault(phase="B")]}, "phase is only for phase_loss"),
        (
            {"random_faults": {"rate_per_lamp_per_night": 0.1, "kinds": ["nope"]}},
            "random_faults.kinds[0]",
        ),
        ({"speed": -1}, "speed"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_scenario_entry_is_named(document: dict[str, object], reason: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        build_scenario(document, SMALL, "s.yaml")
    assert str(caught.value).startswith("s.yaml: ")
    assert reason in str(caught.value)


def test_scenario_file_loads_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "start": "2026-12-21T17:00:00+08:00",
                "speed": 60,
                "seed": 7,
                "faults": [
                    _fault(until="2026-12-21T23:00:00+08:00"),
                    _fault(
                        at="2026-12-21T20:00:00+08:00",
                        target=f"cabinet:{CABINET}",
                        kind="phase_loss",
                        phase="C",
                    ),
                ],
            }
        )
    )
    scenario = load_scenario(path, SMALL)
    assert (scenario.speed, scenario.seed) == (60, 7)
    assert [(e.kind.value, e.event.value) for e in scenario.events] == [
        ("lamp_failure", "start"),
        ("phase_loss", "start"),
        ("lamp_failure", "end"),
    ]
    assert scenario.events[1].phase is not None
    assert scenario.events[1].phase.value == "C"
    path.write_text("faults: [unclosed")
    with pytest.raises(ScenarioError, match="not YAML"):
        load_scenario(path, SMALL)


def test_background_faults_fall_in_the_night_and_repeat_with_the_seed() -> None:
    inventory = sample_district()
    scenario = build_scenario(
        {
            "random_faults": {
                "rate_per_lamp_per_night": 0.01,
                "kinds": ["lamp_failure", "supply_loss", "circuit_dead"],
            }
        },
        inventory,
    )
    tz = ZoneInfo("Asia/Shanghai")
    where = Observer(*XUNYANG)
    night = date(2026, 12, 21)

    def draw(seed: int) -> list[FaultEvent]:
        return random_faults_for_night(
            scenario, inventory, seed=seed, night=night, where=where, tz=tz
        )

    first = draw(5)
    assert first == draw(5)
    assert first != draw(6)
    starts = [e for e in first if e.event.value == "start"]
    assert 10 <= len(starts) <= 40  # about 0.01 x 2305
    evening = datetime(2026, 12, 21, 17, 0, tzinfo=tz).timestamp()
    morning = datetime(2026, 12, 22, 7, 30, tzinfo=tz).timestamp()
    assert all(evening < e.at < morning for e in starts)
    assert {e.target.kind.value for e in starts} >= {"lamp"}


# --- determinism, end to end -----------------------------------------------------------------


def _after(seconds: int) -> str:
    return (NIGHT + timedelta(seconds=seconds)).isoformat()


async def _play(state: ServiceState, root: str, seed: int, tmp: Path) -> tuple[list[str], str]:
    """Three simulated minutes with faults: the reports (sorted) and the truth file."""
    truth = tmp / f"truth-{root}.jsonl"
    scenario = build_scenario(
        {
            "faults": [
                _fault(at=_after(30), kind="low_power", until=_after(150)),
                _fault(at=_after(90), target=f"cabinet:{CABINET}", kind="voltage_high"),
            ],
        },
        SMALL,
    )  # fmt: skip
    url = MqttUrl.parse(state.mqtt_url)
    async with (
        running(
            state, root, sites=(MQTT_SITE,), scenario=scenario, seed=seed, truth=truth
        ) as simulator,
        Listener(url, [f"{root}/slc-a/+/report"]) as listener,
    ):
        for _ in range(6):
            await clock_of(simulator).advance(30)
        sent = await sent_all(simulator)
        await eventually(lambda: len(listener.messages) == sent, what="every report")
        reports = sorted(payload.decode() for _, payload in listener.messages)
    return reports, truth.read_text()


async def test_same_seed_same_truth_and_telemetry(
    service_state: ServiceState, topics: Topics, tmp_path: Path
) -> None:
    first = await _play(service_state, f"{topics.root}-1", 11, tmp_path)
    again = await _play(service_state, f"{topics.root}-2", 11, tmp_path)
    other = await _play(service_state, f"{topics.root}-3", 12, tmp_path)
    assert len(first[0]) >= 2 * len(SMALL.lamps)  # three minutes, reports jittered by 2 s
    assert first == again
    assert first[0] != other[0]  # the seed matters
    truth = [json.loads(line) for line in first[1].splitlines()]
    assert [(t["kind"], t["event"]) for t in truth] == [
        ("low_power", "start"),
        ("voltage_high", "start"),
        ("low_power", "end"),
    ]
    assert truth[0]["at"] == (NIGHT + timedelta(seconds=30)).astimezone(UTC).isoformat()


def test_a_cycling_node_flags_it_at_its_second_cut_out_since_it_was_switched_on() -> None:
    noon = datetime(2026, 12, 21, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    world = World(subset((MQTT_SITE,)), load_profiles(ROOT / "profiles"), ManualClock(noon))
    lamp = next(iter(world.lamps.values()))
    assert not lamp.relay  # day: off
    t = noon.timestamp()
    lamp.start_fault(AlarmType.CYCLING, t)  # it fails by day, unseen
    lamp.command(t + 5 * 3600, True, 100)  # switched on at dusk
    flagged = [LampFault.CYCLING in lamp.reading(t + 5 * 3600 + s).faults for s in (10, 380, 400)]
    # its cycle began at noon: it cuts out 150 s after the switch-on, restarts at 240 s and
    # cuts out again at 390 s, its third on/off change
    assert flagged == [False, False, True]
    assert cycling_shows_at(t, t + 5 * 3600) == t + 5 * 3600 + 390


@pytest.mark.parametrize(
    ("switched_on", "shows"),
    [
        (0, 390),  # lit as it began: out at 150 s and at 390 s
        (149, 390),
        (150, 630),  # switched on as it goes out: dark, lit at 240 s, out at 390 s and 630 s
        (200, 630),  # switched on in a dark phase: the same
        (240, 630),  # switched on as it relights: out at 390 s and 630 s
    ],
)
def test_a_cycling_lamp_shows_at_its_second_cut_out_after_it_is_switched_on(
    switched_on: float, shows: float
) -> None:
    assert cycling_shows_at(1000.0, 1000.0 + switched_on) == 1000.0 + shows
