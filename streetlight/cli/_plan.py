"""`streetlight plan`: what the programs will do at a site, night by night, with energy."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from streetlight.cli._common import settings_and_logging
from streetlight.schedule import Evaluator, GroupRef, Groups, NightPlan, ProgramError, plan
from streetlight.settings import CommonSettings
from streetlight.store import inventory_from, open_store, sessions
from streetlight.store.schedules import read_named_groups, read_schedule


def add_parser(roles: Any) -> None:
    planner = roles.add_parser("plan", help="planned switching times, levels and energy")
    planner.add_argument("--site", help="a site id")
    planner.add_argument("--group", help="or any scope:id whose lamps share a site")
    planner.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    planner.add_argument("--to", dest="last", required=True, type=date.fromisoformat)
    planner.add_argument("--inventory", type=Path, help="default: the store's asset tree")
    planner.add_argument("--json", action="store_true", help="JSON instead of a table")
    planner.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    if (args.site is None) == (args.group is None):
        raise ProgramError("give --site ID or --group scope:id")
    group = GroupRef("site", args.site) if args.site else GroupRef.parse(args.group)

    async def main() -> tuple[list[NightPlan], ZoneInfo]:
        async with open_store(settings) as engine:
            inventory = await inventory_from(args.inventory, settings, engine=engine)
            async with sessions(engine)() as session:
                schedule = await read_schedule(session)
                named = await read_named_groups(session)
        evaluator = Evaluator(Groups(inventory, named), schedule)
        return plan(evaluator, group, args.first, args.last), inventory.district.tz

    nights, tz = asyncio.run(main())
    if args.json:
        print(json.dumps([night.as_dict() for night in nights], indent=2, ensure_ascii=False))
        return 0

    def hhmm(moment: datetime | None) -> str:
        return "--:--" if moment is None else moment.astimezone(tz).strftime("%H:%M")

    print(f"{group}, times in {tz.key}")
    for night in nights:
        steps = ", ".join(
            f"{hhmm(at)} {'off' if level is None else f'{level}%'}" for at, level in night.changes
        )
        print(
            f"{night.night}  {night.program or '-':<8} ({night.why})  sunset {hhmm(night.sunset)}"
            f"  sunrise {hhmm(night.sunrise)}  {steps}  {night.energy_kwh:.2f} kWh"
        )
    return 0
