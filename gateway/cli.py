"""`streetlight gateway --config PATH`: read the field into InfluxDB and the bus until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.config import GatewayConfigError, load_config
from streetlight.cli import run_until_signal, settings_and_logging
from streetlight.profiles import load_profiles
from streetlight.settings import CommonSettings
from streetlight.store import inventory_from


def add_parser(roles: Any) -> None:
    gateway = roles.add_parser("gateway", help="read devices into InfluxDB and the bus")
    gateway.add_argument("--config", type=Path, help="gateway configuration (YAML)")
    gateway.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    if args.config is None:
        raise GatewayConfigError("--config PATH is required (see docs/contract.md, 'Gateway')")
    config = load_config(args.config)
    config_dir = args.config.resolve().parent
    profiles = load_profiles(settings.profiles_dir)

    async def main(stop: asyncio.Event) -> int:
        path = config.inventory
        inventory = await inventory_from(
            path if path is None or path.is_absolute() else config_dir / path,
            settings,
            or_else=", or name one in the configuration",
        )
        gateway = Gateway(
            config,
            config_dir=config_dir,
            settings=settings,
            inventory=inventory,
            profiles=profiles,
            clock=settings.clock(),
        )
        print(f"gateway {config.id}: {len(gateway.served_lamps)} lamps; Ctrl-C to stop", flush=True)
        await gateway.run(stop)
        return 0

    return run_until_signal(main)
