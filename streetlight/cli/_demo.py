"""`streetlight demo`: the whole system on the sample district, until Ctrl-C.

Starts its own Mosquitto (closed: one identity per role and device class) and InfluxDB on
free loopback ports, loads the sample inventory and schedule into the store and creates the
InfluxDB database, then runs each role as its own process, as a deployment does
(`streetlight simulate`, `streetlight gateway`, `streetlight controller`, and
`streetlight api` with a demo admin whose password is made up and printed), each with its own
broker identity and all on one simulated clock (`STREETLIGHT_CLOCK_*`: the scenario's start and
speed), with their logs in `<var>/demo/logs/`. After each simulated noon it writes the monthly
report and one site's acceptance report into `<var>/demo/reports/` (`_demo_reports`). On
Ctrl-C or SIGTERM, or when a role stops by itself, it stops every process it started, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

from streetlight.cli._common import run_until_signal, settings_and_logging
from streetlight.cli._demo_reports import DemoReports
from streetlight.cli._receiver import WebhookReceiver
from streetlight.contract.influx_schema import ensure_database
from streetlight.domain import Inventory
from streetlight.influx import InfluxClient
from streetlight.inventory import load_inventory
from streetlight.scenario import load_scenario
from streetlight.schedule import Groups, load_schedule_file
from streetlight.services import (
    LocalServices,
    ServiceError,
    ServiceState,
    broker_auth,
    die_with_parent,
    free_port,
)
from streetlight.settings import ENV_PREFIX, CommonSettings, load_settings
from streetlight.store import open_store, save_inventory, sessions
from streetlight.store.schedules import save_schedule

EXAMPLES = Path("examples/xunyang")
PROVISIONING = Path("dashboards/provisioning")  # Grafana's provisioning folder (dashboards/)
STOP_GRACE_S = 15.0
ENDPOINTS_WAIT_S = 120.0  # for the simulator to open its Modbus ports
GATEWAY_ID = "gw-demo"
DEMO_ADMIN = "demo-admin"
TELEMETRY_QUERY = "SELECT count(power_w), mean(power_w) FROM lamp GROUP BY subdistrict"


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("demo", help="run the whole system on the sample district")
    parser.add_argument("--inventory", type=Path, default=EXAMPLES / "inventory.geojson")
    parser.add_argument("--scenario", type=Path, default=EXAMPLES / "demo-scenario.yaml")
    parser.add_argument("--schedule", type=Path, default=EXAMPLES / "schedule.yaml")
    parser.add_argument(
        "--notify",
        type=Path,
        default=EXAMPLES / "notify.yaml",
        help="who hears of alarms; its loopback webhooks go to the receiver the demo starts",
    )
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
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "streetlight", *self.argv],
            env=self.env,
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
    var_dir: Path = ((args.var or base.var_dir) / "demo").resolve()
    inventory = load_inventory(args.inventory)  # a bad file stops us before any server starts
    scenario = load_scenario(args.scenario, inventory)
    logs = var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    auth = broker_auth(base.mqtt_root, base.field_root, base.profiles_dir)
    servers = LocalServices(var_dir / "services", auth=auth)
    roles: list[Role] = []
    receiver = WebhookReceiver(var_dir / "notifications.jsonl", _say, inventory.district.tz)
    state = servers.start()
    try:
        receiver.start()
        print(f"mosquitto   pid {state.pids['mosquitto']:<8} {_without_password(state.mqtt_url)}")
        print(f"            identities and passwords in {state.credentials_file}")
        print(f"influxd     pid {state.pids['influxd']:<8} {state.influx_url}")
        settings = load_settings(
            CommonSettings,
            mqtt_url=state.mqtt_url,
            influx_url=state.influx_url,
            var_dir=var_dir,
            db_url=f"sqlite:///{var_dir / 'streetlight.db'}",
            # the demo's simulated night may lie outside a 35-day window of wall time
            influx_retention="INF",
            # one simulated clock for every role: the scenario's start, at the demo's speed
            clock_start=scenario.start or datetime.now(UTC),
            clock_speed=args.speed or scenario.speed or 1.0,
            clock_anchor=time.time(),
        )
        summary = asyncio.run(_prepare(settings, inventory, args.inventory, args.schedule))
        print(summary)
        print(f"clock       simulated, from {settings.clock_start} at {settings.clock_speed:g}x")
        endpoints = var_dir / "endpoints.yaml"
        endpoints.unlink(missing_ok=True)
        simulator = Role(
            "simulator",
            [
                "simulate",
                *("--inventory", str(args.inventory), "--scenario", str(args.scenario)),
                *("--truth", str(var_dir / "truth.jsonl"), "--endpoints", str(endpoints)),
            ],
            logs / "simulator.log",
            env=_role_env(settings, state, "simulator"),
        )
        gateway_config = _gateway_config(var_dir, args.inventory.resolve(), endpoints, inventory)
        gateway = Role(
            "gateway",
            ["gateway", "--config", str(gateway_config)],
            logs / "gateway.log",
            env=_role_env(settings, state, "gateway"),
        )
        roles.append(simulator)
        _start(simulator)
        if not _wait_for(endpoints, simulator):
            print(
                f"the simulator opened no Modbus ports; see {simulator.log_path}", file=sys.stderr
            )
            return 1
        roles.append(gateway)
        _start(gateway)
        notify = _notify_config(args.notify, receiver.url, var_dir)
        controller = Role(
            "controller",
            ["controller", "--inventory", str(args.inventory.resolve())],
            logs / "controller.log",
            env={
                **_role_env(settings, state, "controller"),
                "STREETLIGHT_NOTIFY_CONFIG": notify,
                "STREETLIGHT_LEDGER_CONFIG": str((EXAMPLES / "ledger.yaml").resolve()),
            },
        )
        roles.append(controller)
        _start(controller)
        roles.append(_start_api(settings, state, logs))
        print(f"fault truth {var_dir / 'truth.jsonl'}")
        print(f"crews       webhook receiver {receiver.url}, bodies in {receiver.out}")
        operator = _operator_env(settings, state, var_dir)
        print(f"operators   . {operator}; streetlight alarms list; streetlight workorders list")
        _print_views(settings.influx_db, state.influx_url)
        reports = DemoReports(settings, inventory, var_dir / "reports", _say)
        print(reports.announce())
        print("demo running; press Ctrl-C to stop", flush=True)
        return run_until_signal(lambda stop: _run_and_report(roles, reports, stop))
    finally:
        for role in reversed(roles):
            role.stop()
        receiver.stop()
        servers.stop()
        print("demo stopped; every process it started is stopped")


def _print_views(database: str, influx_url: str) -> None:
    """How to look at the telemetry, and how a Grafana 11.3 shows the dashboards on the demo's
    InfluxDB (Grafana's own packages: Debian has none)."""
    query = shlex.quote(f"q={TELEMETRY_QUERY}")
    print(f"telemetry   InfluxQL on database {database!r}: {TELEMETRY_QUERY}")
    print(
        f"            curl -sG {influx_url}/query "
        f"--data-urlencode db={database} --data-urlencode {query}"
    )
    provisioning = PROVISIONING.resolve()
    print(f"dashboards  Grafana provisioning folder {provisioning} (KPIs every 5 simulated min)")
    print(
        f"            INFLUX_URL={influx_url} GF_PATHS_PROVISIONING={provisioning} "
        "grafana server --homepath /usr/share/grafana"
    )


def _start_api(settings: CommonSettings, state: ServiceState, logs: Path) -> Role:
    """The API, with a secret and a demo admin made up for this run; says where it is."""
    env = {**_role_env(settings, state, "api"), "STREETLIGHT_API_SECRET": secrets.token_urlsafe(48)}
    password = _demo_admin(env)
    port = free_port()
    api = Role("api", ["api", "--port", str(port)], logs / "api.log", env=env)
    _start(api)
    print(f"api         http://127.0.0.1:{port}/api/v1/docs")
    print(f"console     http://127.0.0.1:{port}/")
    print(f"            log in as {DEMO_ADMIN} with {password}  (made up for this run)")
    return api


def _demo_admin(env: dict[str, str]) -> str:
    """The demo's admin account, with a password made up for this run (set again if the
    demo's store already has the account)."""
    password = secrets.token_urlsafe(15)
    for verb in (["add", "--role", "admin"], ["password"]):
        result = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "streetlight", "api", "user", verb[0], "--name", DEMO_ADMIN,
             *verb[1:], "--password-stdin"],
            input=password + "\n", env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return password
    raise ServiceError(f"cannot make the demo's admin: {result.stderr.strip()}")


def _say(line: str) -> None:
    print(line, flush=True)


def _operator_env(settings: CommonSettings, state: ServiceState, var_dir: Path) -> Path:
    """A shell file that points the operators' commands at the demo's store, clock and bus (as
    `operator`), so their steps (acknowledged, repaired, closed) carry the demo's simulated
    time and the controller hears of an override at once."""
    values = {
        "DB_URL": settings.db_url,
        "MQTT_URL": state.url_for("operator"),
        "MQTT_ROOT": settings.mqtt_root,
        "CLOCK_START": settings.clock_start.isoformat() if settings.clock_start else "",
        "CLOCK_SPEED": str(settings.clock_speed),
        "CLOCK_ANCHOR": repr(settings.clock_anchor),
    }
    path = var_dir / "operator.env"
    path.write_text(
        "".join(f"export {ENV_PREFIX}{k}={shlex.quote(v)}\n" for k, v in values.items())
    )
    return path


def _notify_config(path: Path, receiver_url: str, var_dir: Path) -> str:
    """The notification file with its loopback webhooks sent to the demo's receiver."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for targets in (document.get("maintainers") or {}).values():
        for target in targets:
            url = str(target.get("url", ""))
            if target.get("kind") == "webhook" and url.startswith("http://127.0.0.1"):
                target["url"] = receiver_url + "/" + url.split("/", 3)[3]
    written = var_dir / "notify.yaml"
    written.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return str(written)


def _start(role: Role) -> None:
    role.start()
    assert role.process is not None
    print(f"{role.name:<11} pid {role.process.pid:<8} log {role.log_path}", flush=True)


def _wait_for(path: Path, role: Role) -> bool:
    """Wait until `role` has written `path`; False if it stopped or took too long."""
    deadline = time.monotonic() + ENDPOINTS_WAIT_S
    while not path.exists():
        if role.exited is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _gateway_config(
    var_dir: Path, inventory_path: Path, endpoints: Path, inventory: Inventory
) -> Path:
    """One gateway for the whole district: the simulator's Modbus endpoints, its MQTT lamps."""
    mqtt_profiles = sorted(
        {lamp.profile for lamp in inventory.lamps.values() if lamp.profile.startswith("slc-mqtt")}
    )
    document = {
        "id": GATEWAY_ID,
        "inventory": str(inventory_path),
        "modbus": {"endpoints_file": str(endpoints)},
        "mqtt": {"profiles": mqtt_profiles},
        "spool": {"dir": str(var_dir / "gateway-spool")},
        "health_interval_s": 30,
    }
    path = var_dir / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _role_env(settings: CommonSettings, state: ServiceState, identity: str) -> dict[str, str]:
    """A role's environment: the demo's settings as STREETLIGHT_* variables, its own broker
    identity, and (for the simulator) the device classes' identities."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    names = (
        *("influx_url", "influx_db", "influx_retention", "db_url", "var_dir", "profiles_dir"),
        *("mqtt_root", "field_root", "clock_speed"),
    )
    for name in names:
        clean[ENV_PREFIX + name.upper()] = str(getattr(settings, name))
    if settings.clock_start is not None:
        clean[ENV_PREFIX + "CLOCK_START"] = settings.clock_start.isoformat()
    if settings.clock_anchor is not None:
        clean[ENV_PREFIX + "CLOCK_ANCHOR"] = repr(settings.clock_anchor)
    clean[ENV_PREFIX + "MQTT_URL"] = state.url_for(identity)
    if identity == "simulator" and state.credentials_file:
        clean[ENV_PREFIX + "SIM_DEVICE_CREDENTIALS"] = state.credentials_file
    return clean


async def _prepare(
    settings: CommonSettings, inventory: Inventory, path: Path, schedule_path: Path
) -> str:
    schedule = load_schedule_file(schedule_path)
    async with open_store(settings) as engine:
        async with sessions(engine)() as session, session.begin():
            report = await save_inventory(session, inventory, str(path))
        async with sessions(engine)() as session, session.begin():
            at = settings.clock().now()
            await save_schedule(session, schedule, Groups(inventory), by="demo", at=at)
    async with InfluxClient.from_settings(settings) as influx:
        await ensure_database(influx, settings.influx_retention, settings.influx_kpi_retention)
    return (
        f"inventory   {path}: {inventory.summary()}\n"
        f"store       {settings.db_url}: {report.summary()}\n"
        f"schedule    {schedule_path}: {len(schedule.programs)} programs, "
        f"{len(schedule.calendars)} calendars\n"
        f"influxdb    database {settings.influx_db!r} ready"
    )


async def _run_and_report(roles: list[Role], reports: DemoReports, stop: asyncio.Event) -> int:
    """Watch the roles, and write the reports after each simulated noon, until either ends
    the demo."""
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(reports.run(stop), name="demo-reports")
        code = await _watch(roles, stop)
        stop.set()  # a role stopped by itself: the reports' task ends too
    return code


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
