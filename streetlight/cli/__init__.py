"""`streetlight <role>`: the one command that starts every part of the system.

Each subcommand's handler lives in its own module here and imports its role's package only
when run, so `streetlight services status` does not load FastAPI or pymodbus.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from streetlight.errors import NotYetAvailableError, StreetlightError

Handler = Callable[[argparse.Namespace], int]


def _not_yet(role: str, issue: int | None = None) -> Handler:
    tracked = f" (tracked in issue {issue})" if issue else ""

    def handler(_args: argparse.Namespace) -> int:
        raise NotYetAvailableError(f"'streetlight {role}' is not yet available{tracked}")

    return handler


def _role(module: str) -> Handler:
    """The handler `run(args)` of a role's module, imported only when the role runs."""

    def handler(args: argparse.Namespace) -> int:
        run: Handler = importlib.import_module(module).run
        return run(args)

    return handler


def build_parser() -> argparse.ArgumentParser:
    # imported here so that --help stays fast and each handler module stays small
    from streetlight.cli import (
        _contract,
        _controller,
        _dashboards,
        _demo,
        _inventory,
        _services,
    )

    parser = argparse.ArgumentParser(
        prog="streetlight",
        description="Street lighting monitoring and control: run one role of the system.",
    )
    roles = parser.add_subparsers(dest="role", required=True, metavar="ROLE")

    _services.add_parser(roles)

    simulate = roles.add_parser("simulate", help="play lamp controllers and cabinets")
    simulate.add_argument("--inventory", type=Path, required=True, help="inventory file")
    simulate.add_argument("--scenario", type=Path, help="scenario file (YAML) of injected faults")
    simulate.add_argument("--speed", type=float, help="simulated seconds per wall second")
    simulate.add_argument("--start", help="simulated start time, ISO 8601 with offset")
    simulate.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    simulate.add_argument(
        "--truth", type=Path, help="append fault starts and ends here (JSON lines)"
    )
    simulate.add_argument(
        "--endpoints", type=Path, help="write the Modbus endpoint map here (YAML)"
    )
    simulate.set_defaults(handler=_role("simulator.cli"))

    gateway = roles.add_parser("gateway", help="read devices into InfluxDB and the bus")
    gateway.add_argument("--config", type=Path, help="gateway configuration (YAML)")
    gateway.set_defaults(handler=_role("gateway.cli"))

    _controller.add_parsers(roles)

    api = roles.add_parser("api", help="serve operators, crews and acceptance committees")
    api.set_defaults(handler=_not_yet("api"))

    _dashboards.add_parser(roles)

    _demo.add_parser(roles)
    _inventory.add_parser(roles)
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
