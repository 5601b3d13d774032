"""`streetlight controller` (run it, load a schedule, set overrides) and `streetlight plan`.

The arguments are declared in streetlight/cli/_controller.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.alarm_store import (
    AlarmStoreError,
    export_alarms,
    export_record,
    open_alarm_rows,
    operator_step,
    parse_alarm_id,
)
from controller.app import Controller, ControllerConfig
from controller.calendars import GroupRef, Groups
from controller.dispatch import RATE_PER_S
from controller.expected import Evaluator
from controller.ledger import load_ledger_config
from controller.notify import Notifier, load_notify_config
from controller.plan import NightPlan, plan
from controller.programs import ProgramError
from controller.schedule_file import load_schedule_file
from controller.schedule_notice import announce
from controller.store import (
    add_override,
    cancel_override,
    read_named_groups,
    read_schedule,
    save_schedule,
)
from controller.thresholds import ThresholdBook, load_thresholds
from streetlight.cli._common import moment_option, run_until_signal, settings_and_logging
from streetlight.contract import ScheduleChange
from streetlight.domain import AlarmState, Inventory
from streetlight.inventory import load_inventory
from streetlight.settings import CommonSettings
from streetlight.store import open_engine, read_inventory, sessions

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


# --- running -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(ControllerSettings)
    thresholds = load_thresholds(settings.alarm_thresholds) if settings.alarm_thresholds else None
    config = controller_config(settings, thresholds or ThresholdBook())
    notify = load_notify_config(settings.notify_config) if settings.notify_config else None
    ledger = load_ledger_config(settings.ledger_config) if settings.ledger_config else None

    async def main(stop: asyncio.Event) -> int:
        engine = await open_engine(settings.db_url)
        try:
            inventory = await _inventory(args.inventory, engine, settings.db_url)
            controller = Controller(
                settings, inventory, engine=engine, clock=settings.clock(), config=config,
                thresholds=thresholds, notifier=Notifier(notify) if notify else None,
                ledger=ledger,
            )  # fmt: skip
            print(f"controller: {len(inventory.lamps)} lamps; Ctrl-C to stop", flush=True)
            await controller.run(stop)
        finally:
            await engine.dispose()
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
        engine = await open_engine(settings.db_url)
        try:
            inventory = await _inventory(None, engine, settings.db_url)
            async with sessions(engine)() as session, session.begin():
                groups = Groups(inventory, await read_named_groups(session))
                now = settings.clock().now()
                await save_schedule(session, schedule, groups, by=args.by, at=now)
        finally:
            await engine.dispose()
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
        engine = await open_engine(settings.db_url)
        try:
            inventory = await _inventory(None, engine, settings.db_url)
            async with sessions(engine)() as session, session.begin():
                groups = Groups(inventory, await read_named_groups(session))
                override = await add_override(
                    session, groups, group=group, level=None if args.off else args.level,
                    starts=starts, ends=ends, reason=args.reason, by=args.by, at=now,
                )  # fmt: skip
        finally:
            await engine.dispose()
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
        engine = await open_engine(settings.db_url)
        now = settings.clock().now()
        try:
            async with sessions(engine)() as session, session.begin():
                await cancel_override(session, args.id, by=args.by, at=now)
        finally:
            await engine.dispose()
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
        engine = await open_engine(settings.db_url)
        try:
            async with sessions(engine)() as session:
                schedule = await read_schedule(session)
        finally:
            await engine.dispose()
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


# --- the planning view -------------------------------------------------------------------------


def run_plan(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    if (args.site is None) == (args.group is None):
        raise ProgramError("give --site ID or --group scope:id")
    group = GroupRef("site", args.site) if args.site else GroupRef.parse(args.group)

    async def main() -> tuple[list[NightPlan], ZoneInfo]:
        engine = await open_engine(settings.db_url)
        try:
            inventory = await _inventory(args.inventory, engine, settings.db_url)
            async with sessions(engine)() as session:
                schedule = await read_schedule(session)
                named = await read_named_groups(session)
        finally:
            await engine.dispose()
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


# --- helpers -----------------------------------------------------------------------------------


async def _inventory(path: Path | None, engine: Any, db_url: str) -> Inventory:
    if path is not None:
        return load_inventory(path)
    async with sessions(engine)() as session:
        inventory = await read_inventory(session)
    if inventory is None:
        raise ProgramError(
            f"the store at {db_url} holds no inventory: load one with "
            f"'streetlight inventory load PATH'"
        )
    return inventory


# --- alarms --------------------------------------------------------------------------------------


def alarms_export(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    start, end = moment_option("--from", args.start), moment_option("--to", args.end)
    if end <= start:
        raise AlarmStoreError(f"--to {args.end} is not after --from {args.start}")

    async def main() -> int:
        engine = await open_engine(settings.db_url)
        count = 0
        try:
            out = args.output.open("w") if args.output else sys.stdout
            try:
                async with sessions(engine)() as session:
                    async for record in export_alarms(session, start, end):
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                        count += 1
            finally:
                if args.output:
                    out.close()
        finally:
            await engine.dispose()
        return count

    count = asyncio.run(main())
    if args.output:
        print(f"{count} alarms written to {args.output}")
    return 0


def alarms_list(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)

    async def main() -> list[dict[str, Any]]:
        engine = await open_engine(settings.db_url)
        try:
            async with sessions(engine)() as session:
                rows = await open_alarm_rows(session)
        finally:
            await engine.dispose()
        return [export_record(row) for row in rows]

    records = asyncio.run(main())
    shown = [r for r in records if args.all or r["parent"] is None]
    for r in sorted(shown, key=lambda r: (r["parent"] is not None, str(r["raised_at"]))):
        under = f"  under {r['parent']}" if r["parent"] else ""
        print(
            f"{r['id']:<9} {r['severity']:<9} {r['type']:<16} {r['asset']:<26} "
            f"{r['state']:<12} raised {r['raised_at']}{under}"
        )
    print(f"{len(shown)} open alarms" + ("" if args.all else " (root causes)"))
    return 0


def alarms_step(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    alarm_id = parse_alarm_id(args.id)
    step = AlarmState.ACKNOWLEDGED if args.verb == "ack" else AlarmState.CLOSED

    async def main() -> str:
        engine = await open_engine(settings.db_url)
        try:
            async with sessions(engine)() as session, session.begin():
                row = await operator_step(
                    session, alarm_id, step, by=args.by, at=settings.clock().now(),
                    note=args.note,
                )  # fmt: skip
                return f"al-{row.id} ({row.type} on {row.asset_kind}:{row.asset_id}): {row.state}"
        finally:
            await engine.dispose()

    print(asyncio.run(main()))  # an AlarmStoreError names what is refused
    return 0
