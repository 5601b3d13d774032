"""`streetlight <role>`: the one command that starts every part of the system.

The core's own commands (services, inventory, survey, report, contract, plan, alarms,
workorders, acceptance, demo) live in the modules here. Each process package declares its
role's arguments next to their handlers, in its own `cli.py`, and registers it under the
`streetlight.roles` entry points (pyproject.toml): the core finds the roles there and never
imports a process package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from streetlight.cli._common import moment_option, run_until_signal, settings_and_logging
from streetlight.errors import StreetlightError

Handler = Callable[[argparse.Namespace], int]
ROLES = "streetlight.roles"  # entry points: name -> `package.cli:add_parser`

__all__ = ["build_parser", "main", "moment_option", "run_until_signal", "settings_and_logging"]


def build_parser() -> argparse.ArgumentParser:
    # imported here so that --help stays fast and each handler module stays small
    from streetlight.cli import (
        _acceptance,
        _alarms,
        _contract,
        _demo,
        _inventory,
        _plan,
        _report,
        _services,
        _survey,
        _workorders,
    )

    parser = argparse.ArgumentParser(
        prog="streetlight",
        description="Street lighting monitoring and control: run one role of the system.",
    )
    roles = parser.add_subparsers(dest="role", required=True, metavar="ROLE")

    _services.add_parser(roles)
    for role in sorted(entry_points(group=ROLES), key=lambda point: point.name):
        role.load()(roles)

    _plan.add_parser(roles)
    _alarms.add_parser(roles)
    _workorders.add_parser(roles)
    _acceptance.add_parser(roles)
    _demo.add_parser(roles)
    _inventory.add_parser(roles)
    _survey.add_parser(roles)
    _report.add_parser(roles)
    _contract.add_parser(roles)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except StreetlightError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"streetlight {args.role}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
