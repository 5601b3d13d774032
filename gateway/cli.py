"""`streetlight gateway --config PATH`: read the field into InfluxDB and the bus until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from gateway.app import Gateway
from gateway.config import GatewayConfigError, load_config
from streetlight.cli._common import run_until_signal, settings_and_logging
from streetlight.domain import Inventory
from streetlight.inventory import load_inventory
from streetlight.profiles import load_profiles
from streetlight.settings import CommonSettings
from streetlight.store import open_engine, read_inventory, sessions


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    if args.config is None:
        raise GatewayConfigError("--config PATH is required (see docs/contract.md, 'Gateway')")
    config = load_config(args.config)
    config_dir = args.config.resolve().parent
    profiles = load_profiles(settings.profiles_dir)

    async def main(stop: asyncio.Event) -> int:
        inventory = await _inventory(config.inventory, config_dir, settings.db_url)
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


async def _inventory(path: Path | None, base: Path, db_url: str) -> Inventory:
    """The inventory file the configuration names, or the asset tree in the store."""
    if path is not None:
        return load_inventory(path if path.is_absolute() else base / path)
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session:
            inventory = await read_inventory(session)
    finally:
        await engine.dispose()
    if inventory is None:
        raise GatewayConfigError(
            f"the store at {db_url} holds no inventory: load one with "
            f"'streetlight inventory load PATH', or name one in the configuration"
        )
    return inventory
