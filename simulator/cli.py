"""`streetlight simulate`: play an inventory's lamps and cabinets until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_settings import SettingsConfigDict

from simulator.app import Simulator
from streetlight.aio import first_of
from streetlight.cli import run_until_signal, settings_and_logging
from streetlight.clock import Clock, ScaledClock
from streetlight.errors import ConfigError
from streetlight.inventory import load_inventory
from streetlight.profiles import load_profiles
from streetlight.scenario import Scenario, ScenarioError, load_scenario
from streetlight.settings import ENV_PREFIX, CommonSettings, MqttUrl

logger = logging.getLogger(__name__)

FREEZE_WAIT_S = 300  # wall seconds to wait for every link before freezing anyway
# young objects between collections, then collections of one generation before the next
# (CPython's default: 700, 10, 10); see _freeze_once_connected
GC_THRESHOLDS = (50_000, 20, 10)


class SimulatorSettings(CommonSettings):
    """`STREETLIGHT_SIM_*` besides the common settings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    sim_lamps_per_link: int = 1
    # device classes' broker passwords ({"slc-mqtt-a": "..."}, as `streetlight services` keeps
    # them): nodes connect as their class; without it, as the simulator's own identity
    sim_device_credentials: Path | None = None
    sim_modbus_host: str = "127.0.0.1"
    sim_modbus_port: int = 0  # 0: free ports; else the first of consecutive ports
    sim_cabinets_per_port: int = 32


def add_parser(roles: Any) -> None:
    simulate = roles.add_parser("simulate", help="play lamp controllers and cabinets")
    simulate.add_argument("--inventory", type=Path, required=True, help="inventory file")
    simulate.add_argument("--scenario", type=Path, help="scenario file (YAML) of injected faults")
    simulate.add_argument("--speed", type=float, help="simulated seconds per wall second")
    simulate.add_argument("--start", help="simulated start time, ISO 8601 with offset")
    simulate.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    simulate.add_argument(
        "--truth", type=Path, help="append fault starts and ends here (JSON lines)"
    )
    simulate.add_argument(
        "--endpoints", type=Path, help="write the Modbus endpoint map here (YAML)"
    )
    simulate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(SimulatorSettings)
    gc.set_threshold(*GC_THRESHOLDS)  # this process only: not the tests' simulators
    inventory = load_inventory(args.inventory)
    profiles = load_profiles(settings.profiles_dir)
    scenario = load_scenario(args.scenario, inventory) if args.scenario else Scenario()
    seed = args.seed if args.seed is not None else scenario.seed or 0
    clock = _clock(args, settings, scenario)

    async def main(stop: asyncio.Event) -> int:
        start, speed = clock.now(), clock.speed
        simulator = Simulator(
            inventory,
            profiles,
            scenario,
            clock,
            mqtt_url=settings.mqtt,
            field_root=settings.field_root,
            mqtt_ca_file=settings.mqtt_ca_file,
            seed=seed,
            truth_path=args.truth,
            lamps_per_link=settings.sim_lamps_per_link,
            device_urls=_device_urls(settings),
            modbus_host=settings.sim_modbus_host,
            modbus_port=settings.sim_modbus_port,
            cabinets_per_port=settings.sim_cabinets_per_port,
        )
        async with simulator:
            endpoints = args.endpoints or settings.var_dir / "simulator-endpoints.yaml"
            endpoints.parent.mkdir(parents=True, exist_ok=True)
            simulator.farm.write_endpoints(endpoints)
            print(
                f"simulating {inventory.summary()} from {start.isoformat()} at x{speed:g}, "
                f"seed {seed}; Modbus endpoints in {endpoints}",
                flush=True,
            )
            freezing = asyncio.create_task(_freeze_once_connected(simulator), name="gc-freeze")
            try:
                await first_of(simulator.wait(), stop)  # an error that stops it is raised
            finally:
                freezing.cancel()
        return 0

    return run_until_signal(main)


async def _freeze_once_connected(simulator: Simulator) -> None:
    """Take the world and the nodes' connections out of the garbage collector's sight.

    The simulator keeps about a million long-lived objects (the world, and an MQTT client
    with its tasks per link: 4,312 links for the sample district at scale 5), and every
    message it handles makes short-lived ones. With CPython's default thresholds its
    collector took 45-68 % of the main thread under a district-wide command (full
    collections of ~0.7 s, and a young one every 700 objects), delaying every node's
    acknowledgement. So: collections of the young generation every GC_THRESHOLDS[0] objects
    rather than 700, older ones rarely; and once the long-lived objects are built (every link
    up, or after FREEZE_WAIT_S), one collection clears what start-up left and `gc.freeze()`
    moves the rest to the permanent generation, which collections no longer walk. Cycles
    made later are still collected."""
    links = simulator.nodes.links
    for _ in range(int(FREEZE_WAIT_S)):  # links say they are up; nothing to wait on
        if all(link.connected for link in links):
            break
        await asyncio.sleep(1.0)
    gc.collect()
    gc.freeze()
    logger.info("%d objects frozen out of garbage collection", gc.get_freeze_count())


def _clock(args: argparse.Namespace, settings: SimulatorSettings, scenario: Scenario) -> Clock:
    """--start and --speed first, then the shared clock of STREETLIGHT_CLOCK_*, then the
    scenario's start and speed, then now at speed 1."""
    if args.start or args.speed:
        start = _start(args.start) if args.start else scenario.start
        return ScaledClock(start, args.speed or scenario.speed or 1.0)
    if settings.clock_start is not None:
        return settings.clock()
    return ScaledClock(scenario.start or datetime.now(UTC), scenario.speed or 1.0)


def _device_urls(settings: SimulatorSettings) -> dict[str, MqttUrl]:
    path = settings.sim_device_credentials
    if path is None:
        return {}
    try:
        credentials = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"STREETLIGHT_SIM_DEVICE_CREDENTIALS: cannot read {path}: {exc}") from exc
    base = settings.mqtt
    return {
        identity: replace(base, username=identity, password=password)
        for identity, password in credentials.items()
    }


def _start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ScenarioError(f"--start must be ISO 8601, got {text!r}") from exc
    if moment.tzinfo is None:
        raise ScenarioError(f"--start needs a UTC offset (e.g. +08:00), got {text!r}")
    return moment
