"""`streetlight inventory check|load PATH`: validate an inventory, or load it into the store."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from streetlight.cli._common import settings_and_logging
from streetlight.domain import Inventory
from streetlight.inventory import load_inventory
from streetlight.settings import CommonSettings
from streetlight.store import LoadReport, open_store, save_inventory, sessions


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("inventory", help="check an inventory file or load it into the store")
    parser.add_argument("action", choices=("check", "load"))
    parser.add_argument("path", type=Path, help="inventory file (.geojson or .csv)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    inventory = load_inventory(args.path)
    print(f"{args.path}: {inventory.summary()}")
    if args.action == "load":
        report = asyncio.run(load_into_store(settings, inventory, str(args.path)))
        print(f"store: {report.summary()}")
    return 0


async def load_into_store(
    settings: CommonSettings, inventory: Inventory, source: str
) -> LoadReport:
    """Save the inventory into the store (migrating it first) and commit."""
    async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
        return await save_inventory(session, inventory, source)
