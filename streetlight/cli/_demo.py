"""`streetlight demo`: the whole system on the sample district, until Ctrl-C.

Starts its own Mosquitto and InfluxDB on free loopback ports, loads the sample inventory into
the store and creates the InfluxDB database, then runs each role as its own process, as a
deployment does (`streetlight simulate`, and the roles that have landed), with their logs in
`<var>/demo/logs/`. On Ctrl-C or SIGTERM, or when a role stops by itself, it stops every
process it started, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from streetlight.cli._common import run_until_signal, settings_and_logging
from streetlight.cli._inventory import load_into_store
from streetlight.contract.influx_schema import ensure_database
from streetlight.influx import InfluxClient
from streetlight.inventory import load_inventory
from streetlight.services import LocalServices, die_with_parent
from streetlight.settings import ENV_PREFIX, CommonSettings, load_settings

EXAMPLES = Path("examples/xunyang")
STOP_GRACE_S = 15.0


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("demo", help="run the whole system on the sample district")
    parser.add_argument("--inventory", type=Path, default=EXAMPLES / "inventory.geojson")
    parser.add_argument("--scenario", type=Path, default=EXAMPLES / "demo-scenario.yaml")
    parser.add_argument(
        "--speed", type=float, help="simulated seconds per second (default: the scenario's)"
    )
    parser.add_argument("--var", type=Path, help="data directory (default: STREETLIGHT_VAR_DIR)")
    parser.set_defaults(handler=run)


@dataclass
class Role:
    """One role of the system, run as a child process with its log in a file."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "streetlight", *self.argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops the roles in order
            preexec_fn=die_with_parent,  # noqa: PLW1509 - and if the demo is killed, so are they
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def exited(self) -> int | None:
        return self.process.poll() if self.process is not None else None


def run(args: argparse.Namespace) -> int:
    base = settings_and_logging(CommonSettings)
    var_dir: Path = (args.var or base.var_dir) / "demo"
    inventory = load_inventory(args.inventory)  # a bad file stops us before any server starts
    logs = var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    servers = LocalServices(var_dir / "services")
    roles: list[Role] = []
    state = servers.start()
    try:
        print(f"mosquitto   pid {state.pids['mosquitto']:<8} {state.mqtt_url}")
        print(f"influxd     pid {state.pids['influxd']:<8} {state.influx_url}")
        settings = load_settings(
            CommonSettings,
            mqtt_url=state.mqtt_url,
            influx_url=state.influx_url,
            var_dir=var_dir,
            db_url=f"sqlite:///{(var_dir / 'streetlight.db').resolve()}",
            # the demo's simulated night may lie outside a 35-day window of wall time
            influx_retention="INF",
        )
        env = _role_env(settings)
        summary = asyncio.run(_prepare(settings, inventory, args.inventory))
        print(summary)
        simulate = [
            "simulate",
            *("--inventory", str(args.inventory), "--scenario", str(args.scenario)),
            *("--truth", str(var_dir / "truth.jsonl")),
            *("--endpoints", str(var_dir / "endpoints.yaml")),
        ]
        if args.speed:
            simulate += ["--speed", str(args.speed)]
        roles.append(Role("simulator", simulate, logs / "simulator.log"))
        for role in roles:
            role.start(env)
            assert role.process is not None
            print(f"{role.name:<11} pid {role.process.pid:<8} log {role.log_path}")
        print(f"fault truth {var_dir / 'truth.jsonl'}")
        print("demo running; press Ctrl-C to stop")
        return run_until_signal(lambda stop: _watch(roles, stop))
    finally:
        for role in reversed(roles):
            role.stop()
        servers.stop()
        print("demo stopped; every process it started is stopped")


def _role_env(settings: CommonSettings) -> dict[str, str]:
    """The environment of every role: the demo's own settings, as STREETLIGHT_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    for name in ("mqtt_url", "influx_url", "influx_db", "influx_retention", "db_url", "var_dir"):
        clean[ENV_PREFIX + name.upper()] = str(getattr(settings, name))
    return clean


async def _prepare(settings: CommonSettings, inventory: Any, path: Path) -> str:
    report = await load_into_store(settings.db_url, inventory, str(path))
    async with InfluxClient.from_settings(settings) as influx:
        await ensure_database(influx, settings.influx_retention)
    return (
        f"inventory   {path}: {inventory.summary()}\n"
        f"store       {settings.db_url}: {report.summary()}\n"
        f"influxdb    database {settings.influx_db!r} ready"
    )


async def _watch(roles: list[Role], stop: asyncio.Event) -> int:
    """Wait for Ctrl-C; if a role stops by itself meanwhile, say so and end the demo."""
    while not stop.is_set():
        for role in roles:
            code = role.exited
            if code is not None:
                print(
                    f"{role.name} stopped by itself (exit {code}); see {role.log_path}",
                    file=sys.stderr,
                )
                return 1
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            continue
    return 0
