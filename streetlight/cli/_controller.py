"""The arguments of `streetlight controller`, `plan`, `alarms` and `workorders` (handlers:
controller/cli.py and controller/ledger_cli.py, imported only when one runs)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any


def _lazy(name: str, module: str = "controller.cli") -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        run: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
        return run(args)

    return handler


def add_parsers(roles: Any) -> None:
    controller = roles.add_parser("controller", help="schedule lamps and detect failures")
    controller.add_argument(
        "--inventory", type=Path, help="inventory file (default: the store's asset tree)"
    )
    controller.set_defaults(handler=_lazy("run"))
    actions = controller.add_subparsers(dest="action", metavar="ACTION")
    load = actions.add_parser("schedule", help="check and save a schedule file into the store")
    load.add_argument("verb", choices=["load"])
    load.add_argument("path", type=Path)
    load.add_argument("--by", default="operator", help="who saves it (for the record)")
    load.set_defaults(handler=_lazy("schedule_load"))
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
    set_.set_defaults(handler=_lazy("override_set"))
    cancel = verbs.add_parser("cancel", help="end an override now")
    cancel.add_argument("id", type=int)
    cancel.add_argument("--by", required=True)
    cancel.set_defaults(handler=_lazy("override_cancel"))
    listing = verbs.add_parser("list", help="overrides, newest first")
    listing.add_argument("--active", action="store_true", help="only those in force now")
    listing.set_defaults(handler=_lazy("override_list"))

    planner = roles.add_parser("plan", help="planned switching times, levels and energy")
    planner.add_argument("--site", help="a site id")
    planner.add_argument("--group", help="or any scope:id whose lamps share a site")
    planner.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    planner.add_argument("--to", dest="last", required=True, type=date.fromisoformat)
    planner.add_argument("--inventory", type=Path, help="default: the store's asset tree")
    planner.add_argument("--json", action="store_true", help="JSON instead of a table")
    planner.set_defaults(handler=_lazy("run_plan"))
    _add_alarms(roles)
    _add_workorders(roles)


def _add_alarms(roles: Any) -> None:
    alarms = roles.add_parser("alarms", help="export, list, acknowledge and close alarms")
    verbs = alarms.add_subparsers(dest="verb", required=True, metavar="VERB")
    export = verbs.add_parser("export", help="alarms raised in a period, as JSON lines")
    export.add_argument("--from", dest="start", required=True, help="ISO 8601 with offset")
    export.add_argument("--to", dest="end", required=True, help="ISO 8601 with offset")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=_lazy("alarms_export"))
    listing = verbs.add_parser("list", help="open alarms (not yet cleared), root causes first")
    listing.add_argument("--all", action="store_true", help="with the children under roots")
    listing.set_defaults(handler=_lazy("alarms_list"))
    for verb, what in (("ack", "acknowledge a raised alarm"), ("close", "close a cleared one")):
        step = verbs.add_parser(verb, help=what)
        step.add_argument("id", help="al-<number>")
        step.add_argument("--by", required=True, help="who (for the record)")
        step.add_argument("--note", default="")
        step.set_defaults(handler=_lazy("alarms_step"))


ORDER_STATES = ("registered", "dispatched", "repaired", "verified", "closed")  # controller.ledger


def _add_workorders(roles: Any) -> None:
    orders = roles.add_parser("workorders", help="the repair ledger: list, crews' steps, handovers")
    verbs = orders.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="work orders, oldest first")
    listing.add_argument("--state", choices=ORDER_STATES)
    listing.add_argument("--maintainer", help="a maintainer id")
    listing.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    listing.set_defaults(handler=_lazy("workorders_list", "controller.ledger_cli"))
    for verb, what in (
        ("dispatch", "send a crew to a registered order"),
        ("repaired", "report a dispatched order repaired (the controller then verifies it)"),
        ("close", "close (销号) a verified order"),
    ):
        step = verbs.add_parser(verb, help=what)
        step.add_argument("id", help="wo-<number>")
        step.add_argument("--by", required=True, help="who (for the record)")
        step.add_argument("--note", default="")
        step.set_defaults(handler=_lazy("workorders_step", "controller.ledger_cli"))
    handover = verbs.add_parser("handover", help="record a site handed over to a maintainer")
    handover.add_argument("--site", required=True, help="a site id")
    handover.add_argument("--to", required=True, help="the maintainer's id or name")
    handover.add_argument("--on", help="when, ISO 8601 with offset (default: now)")
    handover.add_argument("--by", required=True, help="who records it")
    handover.add_argument("--note", default="")
    handover.set_defaults(handler=_lazy("workorders_handover", "controller.ledger_cli"))
