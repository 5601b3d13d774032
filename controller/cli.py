"""`streetlight controller`: run the controller, load a schedule file, set and cancel overrides.

The run needs the bus and the store; the other actions need the store, and tell the controller
on the bus once their change is saved (a change is never lost if the bus is away: the
controller reads the store every few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from controller.alarms import ThresholdBook, load_thresholds
from controller.app import Controller, ControllerConfig
from controller.kpi import KpiConfig
from controller.ledger import load_ledger_config
from controller.notify import Notifier, load_notify_config
from controller.schedule import RATE_PER_S
from streetlight.cli import moment_option, run_until_signal, settings_and_logging
from streetlight.contract import ScheduleChange
from streetlight.domain import LightingTargets
from streetlight.schedule import GroupRef, Groups, announce, load_schedule_file
from streetlight.settings import CommonSettings
from streetlight.store import inventory_from, open_store, sessions
from streetlight.store.schedules import (
    add_override,
    cancel_override,
    read_named_groups,
    read_schedule,
    save_schedule,
)

CONFIRM_INTERVALS = 3  # reporting intervals for telemetry to confirm a command, by default


class ControllerSettings(CommonSettings):
    """`STREETLIGHT_CONTROLLER_*` besides the common settings (see ControllerConfig)."""

    controller_tick_s: float = 5.0
    controller_grace_s: float = 90.0
    controller_rate_per_s: float = RATE_PER_S
    # absent: three of the thresholds' longest reporting interval (a lamp confirms with its
    # next report)
    controller_confirm_s: float | None = None
    controller_attempts: int = 3
    alarm_thresholds: Path | None = None  # YAML (docs/contract.md "Alarm thresholds file")
    notify_config: Path | None = None  # YAML (docs/contract.md "Notification file")
    ledger_config: Path | None = None  # YAML (docs/contract.md "Work orders (ledger)")
    # lighting-rate targets of some road classes, JSON ({"main": 99}); the others keep theirs
    kpi_targets: dict[str, float] = Field(default_factory=dict)
    kpi_switch_tolerance_min: float = Field(default=5.0, gt=0, le=180)

    @field_validator("kpi_targets")
    @classmethod
    def _targets(cls, value: dict[str, float]) -> dict[str, float]:
        LightingTargets.with_overrides(value)  # refused here, naming the class
        return value


def add_parser(roles: Any) -> None:
    controller = roles.add_parser("controller", help="schedule lamps and detect failures")
    controller.add_argument(
        "--inventory", type=Path, help="inventory file (default: the store's asset tree)"
    )
    controller.set_defaults(handler=run)
    actions = controller.add_subparsers(dest="action", metavar="ACTION")
    load = actions.add_parser("schedule", help="check and save a schedule file into the store")
    load.add_argument("verb", choices=["load"])
    load.add_argument("path", type=Path)
    load.add_argument("--by", default="operator", help="who saves it (for the record)")
    load.set_defaults(handler=schedule_load)
    override = actions.add_parser("override", help="set, cancel or list overrides")
    verbs = override.add_subparsers(dest="verb", required=True, metavar="VERB")
    set_ = verbs.add_parser("set", help="set a level for a group for a while")
    set_.add_argument("--group", required=True, help="scope:id, e.g. subdistrict:PP")
    level = set_.add_mutually_exclusive_group(required=True)
    level.add_argument("--level", type=int, help="on at this dim level, 0-100")
    level.add_argument("--off", action="store_true", help="switched off")
    until = set_.add_mutually_exclusive_group(required=True)
    until.add_argument("--until", help="expiry, ISO 8601 with offset")
    until.add_argument("--minutes", type=float, help="expiry, minutes from the start")
    until.add_argument("--until-cancelled", action="store_true", help="no expiry")
    set_.add_argument("--start", help="ISO 8601 with offset (default: now)")
    set_.add_argument("--reason", required=True)
    set_.add_argument("--by", required=True, help="who sets it")
    set_.set_defaults(handler=override_set)
    cancel = verbs.add_parser("cancel", help="end an override now")
    cancel.add_argument("id", type=int)
    cancel.add_argument("--by", required=True)
    cancel.set_defaults(handler=override_cancel)
    listing = verbs.add_parser("list", help="overrides, newest first")
    listing.add_argument("--active", action="store_true", help="only those in force now")
    listing.set_defaults(handler=override_list)


# --- running -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(ControllerSettings)
    thresholds = load_thresholds(settings.alarm_thresholds) if settings.alarm_thresholds else None
    config = controller_config(settings, thresholds or ThresholdBook())
    kpi = KpiConfig(
        targets=LightingTargets.with_overrides(settings.kpi_targets),
        switch_tolerance_min=settings.kpi_switch_tolerance_min,
    )
    notify = load_notify_config(settings.notify_config) if settings.notify_config else None
    ledger = load_ledger_config(settings.ledger_config) if settings.ledger_config else None

    async def main(stop: asyncio.Event) -> int:
        async with open_store(settings) as engine:
            inventory = await inventory_from(args.inventory, settings, engine=engine)
            controller = Controller(
                settings, inventory, engine=engine, clock=settings.clock(), config=config,
                thresholds=thresholds, notifier=Notifier(notify) if notify else None,
                ledger=ledger, kpi=kpi,
            )  # fmt: skip
            print(f"controller: {len(inventory.lamps)} lamps; Ctrl-C to stop", flush=True)
            await controller.run(stop)
        return 0

    return run_until_signal(main)


def controller_config(settings: ControllerSettings, thresholds: ThresholdBook) -> ControllerConfig:
    """The controller's settings; the confirm time follows the slowest devices' reporting
    interval unless it is set."""
    confirm_s = settings.controller_confirm_s
    if confirm_s is None:
        confirm_s = CONFIRM_INTERVALS * thresholds.longest_report_interval_s
    return ControllerConfig(
        tick_s=settings.controller_tick_s,
        grace_s=settings.controller_grace_s,
        rate_per_s=settings.controller_rate_per_s,
        confirm_s=confirm_s,
        attempts=settings.controller_attempts,
    )


# --- the schedule and overrides ----------------------------------------------------------------


def schedule_load(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    schedule = load_schedule_file(args.path)

    async def main() -> str:
        async with open_store(settings) as engine:
            inventory = await inventory_from(None, settings, engine=engine)
            async with sessions(engine)() as session, session.begin():
                groups = Groups(inventory, await read_named_groups(session))
                now = settings.clock().now()
                await save_schedule(session, schedule, groups, by=args.by, at=now)
        await _tell_controller(settings, ScheduleChange(what="schedule", by=args.by, at=now))
        return (
            f"saved {len(schedule.programs)} programs, {len(schedule.calendars)} calendars, "
            f"{len(schedule.assignments)} assignments, {len(schedule.special_days)} special days"
        )

    print(asyncio.run(main()))
    return 0


def override_set(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    now = settings.clock().now()
    starts = moment_option("--start", args.start) if args.start else now
    if args.until_cancelled:
        ends = None
    elif args.minutes is not None:
        ends = starts + timedelta(minutes=args.minutes)
    else:
        ends = moment_option("--until", args.until)
    group = GroupRef.parse(args.group)

    async def main() -> int:
        async with open_store(settings) as engine:
            inventory = await inventory_from(None, settings, engine=engine)
            async with sessions(engine)() as session, session.begin():
                groups = Groups(inventory, await read_named_groups(session))
                override = await add_override(
                    session, groups, group=group, level=None if args.off else args.level,
                    starts=starts, ends=ends, reason=args.reason, by=args.by, at=now,
                )  # fmt: skip
        change = ScheduleChange(what="override", id=override.id, by=args.by, at=now)
        await _tell_controller(settings, change)
        return override.id

    override_id = asyncio.run(main())
    level = "off" if args.off else f"{args.level} %"
    until = "until cancelled" if ends is None else f"to {ends.isoformat()}"
    print(f"override {override_id}: {group} {level} from {starts.isoformat()} {until}")
    return 0


def override_cancel(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)

    async def main() -> None:
        now = settings.clock().now()
        async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
            await cancel_override(session, args.id, by=args.by, at=now)
        await _tell_controller(
            settings, ScheduleChange(what="override", id=args.id, by=args.by, at=now)
        )

    asyncio.run(main())
    print(f"override {args.id} cancelled")
    return 0


async def _tell_controller(settings: CommonSettings, change: ScheduleChange) -> None:
    """Announce a saved change on the bus; if that fails, say so (the change is saved: the
    controller's poll of the store finds it, a few seconds later)."""
    problem = await announce(settings, change)
    if problem is not None:
        print(
            f"warning: saved, but the controller was not told at once ({problem}); "
            f"it reads the store every {ControllerConfig().reload_s:g} s",
            file=sys.stderr,
        )


def override_list(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)

    async def main() -> list[str]:
        async with open_store(settings) as engine, sessions(engine)() as session:
            schedule = await read_schedule(session)
        now = settings.clock().now()
        lines = []
        for o in sorted(schedule.overrides, key=lambda o: o.id, reverse=True):
            if args.active and not o.active(now):
                continue
            level = "off" if o.level is None else f"{o.level} %"
            ends = "until cancelled" if o.ends is None else o.ends.isoformat()
            state = "active" if o.active(now) else "cancelled" if o.cancelled_at else "inactive"
            lines.append(
                f"{o.id:>5}  {o.group}  {level}  {o.starts.isoformat()} .. {ends}  "
                f"{state}  by {o.by}: {o.reason}"
            )
        return lines

    for line in asyncio.run(main()):
        print(line)
    return 0
