"""`streetlight inventory check|load PATH`: validate an inventory, or load it into the store.

Both refuse an inventory whose lamps or cabinets name a profile that STREETLIGHT_PROFILES_DIR
does not hold (or one of the wrong kind), one line per asset."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from streetlight.cli._common import settings_and_logging
from streetlight.inventory import InventoryError, InventoryFile, load_inventory_file
from streetlight.profiles import inventory_problems, read_profiles
from streetlight.settings import CommonSettings
from streetlight.store import LoadReport, open_store, save_inventory, sessions


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("inventory", help="check an inventory file or load it into the store")
    parser.add_argument("action", choices=("check", "load"))
    parser.add_argument("path", type=Path, help="inventory file (.geojson or .csv)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    loaded = load_inventory_file(args.path)
    inventory = loaded.inventory
    profiles, broken = read_profiles(settings.profiles_dir)
    problems = inventory_problems(inventory, profiles)
    if problems:
        raise InventoryError(
            [f"{args.path}: {problem}" for problem in problems]
            + [f"{settings.profiles_dir} (STREETLIGHT_PROFILES_DIR): {line}" for line in broken]
        )
    print(f"{args.path}: {inventory.summary()}; every profile found in {settings.profiles_dir}")
    if args.action == "load":
        report = asyncio.run(load_into_store(settings, loaded, str(args.path)))
        print(f"store: {report.summary()}")
    return 0


async def load_into_store(
    settings: CommonSettings, loaded: InventoryFile, source: str
) -> LoadReport:
    """Save the inventory, and the lamps' statuses it gives, into the store (migrating it
    first) and commit."""
    async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
        return await save_inventory(session, loaded.inventory, source, status=loaded.status)
