"""`streetlight simulate`: play an inventory's lamps and cabinets until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from simulator.app import Simulator
from simulator.scenario import Scenario, ScenarioError, load_scenario
from streetlight.cli._common import run_until_signal, settings_and_logging
from streetlight.clock import ScaledClock
from streetlight.inventory import load_inventory
from streetlight.profiles import load_profiles
from streetlight.settings import ENV_PREFIX, CommonSettings


class SimulatorSettings(CommonSettings):
    """`STREETLIGHT_SIM_*` besides the common settings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    profiles_dir: Path = Path("profiles")
    sim_lamps_per_link: int = 1
    sim_modbus_host: str = "127.0.0.1"
    sim_modbus_port: int = 0  # 0: free ports; else the first of consecutive ports
    sim_cabinets_per_port: int = 32


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(SimulatorSettings)
    inventory = load_inventory(args.inventory)
    profiles = load_profiles(settings.profiles_dir)
    scenario = load_scenario(args.scenario, inventory) if args.scenario else Scenario()
    start = (
        _start(args.start)
        if args.start
        else scenario.start or datetime.now(UTC).replace(microsecond=0)
    )
    speed = args.speed or scenario.speed or 1.0
    seed = args.seed if args.seed is not None else scenario.seed or 0

    async def main(stop: asyncio.Event) -> int:
        clock = ScaledClock(start, speed)
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
            stopping = asyncio.create_task(stop.wait())
            running = asyncio.create_task(simulator.wait())
            await asyncio.wait({stopping, running}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if running.done():
                running.result()  # an error that stopped the simulator
            running.cancel()
        return 0

    return run_until_signal(main)


def _start(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ScenarioError(f"--start must be ISO 8601, got {text!r}") from exc
    if moment.tzinfo is None:
        raise ScenarioError(f"--start needs a UTC offset (e.g. +08:00), got {text!r}")
    return moment
