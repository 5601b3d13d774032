"""`streetlight services up|down|status|env|install|check`: local Mosquitto and InfluxDB."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streetlight import services
from streetlight.checks import check_all
from streetlight.cli._common import settings_and_logging
from streetlight.settings import CommonSettings


def add_parser(roles: Any) -> None:
    parser = roles.add_parser(
        "services", help="start, stop or show the local Mosquitto and InfluxDB"
    )
    parser.add_argument(
        "action",
        choices=sorted(ACTIONS),
        help="up: start in the background; down: stop; status; env: print settings to export; "
        "install: install the Debian packages the servers and tests need; "
        "check: connect to the servers the STREETLIGHT_* settings name",
    )
    parser.add_argument(
        "--var", type=Path, help="directory for data and state (default: STREETLIGHT_VAR_DIR)"
    )
    parser.add_argument(
        "--as",
        dest="identity",
        default="admin",
        help="env: the broker identity to export (a role, a device class, or admin)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    return ACTIONS[args.action](settings, args.var or settings.var_dir, args)


def _check(settings: CommonSettings, _var_dir: Path, _args: argparse.Namespace) -> int:
    for line in asyncio.run(check_all(settings)):
        print(line)
    return 0


def _install(_settings: CommonSettings, _var_dir: Path, _args: argparse.Namespace) -> int:
    paths = services.ensure_programs(
        {**services.SERVER_PACKAGES, **services.TOOL_PACKAGES, **services.CONSOLE_PACKAGES}
    )
    paths["chromium"] = services.ensure_browser()
    paths.update(services.ensure_report_tools())  # WeasyPrint's Pango, fonts, poppler
    paths["cc"] = services.ensure_build_tools()  # the broker's client-id plugin is built with it
    for name, path in paths.items():
        print(f"{name:14} {path}")
    return 0


def _up(settings: CommonSettings, var_dir: Path, _args: argparse.Namespace) -> int:
    auth = services.broker_auth(settings.mqtt_root, settings.field_root, settings.profiles_dir)
    state = services.up(var_dir, auth)
    print(f"mosquitto  pid {state.pids['mosquitto']:<8} {state.mqtt_url}")
    print(f"influxd    pid {state.pids['influxd']:<8} {state.influx_url}")
    print(
        f"identities: {', '.join(sorted(state.mqtt_urls))} (passwords in {state.credentials_file})"
    )
    print(f"state: {var_dir / services.STATE_FILE}   stop with: streetlight services down")
    return 0


def _down(_settings: CommonSettings, var_dir: Path, _args: argparse.Namespace) -> int:
    stopped = services.down(var_dir)
    if stopped is None:
        print("no services recorded as running")
    else:
        print("stopped " + ", ".join(f"{name} (pid {pid})" for name, pid in stopped.pids.items()))
    return 0


def _status(_settings: CommonSettings, var_dir: Path, _args: argparse.Namespace) -> int:
    state = services.read_state(var_dir)
    if state is None:
        print("no services recorded as running")
        return 1
    alive = state.alive()
    for name, pid in state.pids.items():
        url = state.mqtt_url if name == "mosquitto" else state.influx_url
        print(f"{name:10} pid {pid:<8} {'running' if alive[name] else 'NOT RUNNING':12} {url}")
    return 0 if all(alive.values()) else 1


def _env(_settings: CommonSettings, var_dir: Path, args: argparse.Namespace) -> int:
    state = services.read_state(var_dir)
    if state is None:
        print("no services recorded as running")
        return 1
    if state.mqtt_urls and args.identity not in state.mqtt_urls:
        known = ", ".join(sorted(state.mqtt_urls))
        raise services.ServiceError(f"--as {args.identity}: no such identity; known: {known}")
    for key, value in state.env(args.identity).items():
        print(f"export {key}={value}")
    return 0


ACTIONS: dict[str, Callable[[CommonSettings, Path, argparse.Namespace], int]] = {
    "up": _up,
    "down": _down,
    "status": _status,
    "env": _env,
    "install": _install,
    "check": _check,
}
