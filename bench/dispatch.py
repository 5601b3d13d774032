"""The controller's dispatch: expected-state evaluation, and override-to-field latency.

    python bench/dispatch.py [--only evaluation|latency] [--sizes 10000 100000] [--repeat 5]
                             [--lamps 10000] [--var DIR]

A. evaluation: for each size, a district generated from the sample's recipe
   (examples/xunyang/generate.py) under the sample schedule (examples/xunyang/schedule.yaml),
   with an override active on one subdistrict and every cabinet's light sensor known, is
   evaluated at 22:45 on the winter solstice: the wall and CPU time of one full evaluation
   (median of `repeat`), and the memory the controller's structures take (tracemalloc: the
   evaluator with its lamp chains, and one result). Target: 100,000 lamps in <= 1 s.

B. latency: the real system as separate processes, as `streetlight demo` runs it (its own
   Mosquitto with the project's identities and influxd; the store loaded with the district and
   the sample schedule; `streetlight simulate`, `gateway` and `controller`, each with its own
   identity, on one simulated clock from 21:00 on the winter solstice at speed 1, so the lamps
   are lit). The controller's grace is cut to 5 s (STREETLIGHT_CONTROLLER_GRACE_S) so its
   first wave of commands comes soon; the rest of its settings are the defaults. Once the
   field is steady (the first wave acknowledged and quiet for a few seconds), an override of
   40 % on the whole district is committed to the store and announced on the bus, as
   `streetlight controller override set` does. Watching the bus's commands and
   acknowledgements as `admin`, each lamp's time is the first acknowledgement of a command
   carrying the new level that covers it (a group ack covers the group's lamps less its
   `failed` list; groups are the controller's, one per site or circuit), counted from the wall
   time just before the commit. This includes the notice's trip (streetlight.schedule.notice),
   the controller's read of the store and its evaluation, its paced sending (`rate_per_s`,
   500 a second by default), the gateway's Modbus writes and vendor commands, and the
   devices' acknowledgements; not their reporting interval. Also: the commands sent, by
   target, and CPU seconds and peak RSS (sampled) of each process over the window.
   Target: 99 % of 10,000 lamps in <= 2 s.

Figures go to bench/results/dispatch.json; a part run alone keeps the other part's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import math
import secrets
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "xunyang"))

from bench._common import RESULTS, run_directory, wait_for_file, write_results  # noqa: E402
from controller.schedule import RATE_PER_S  # noqa: E402
from streetlight.cli._demo import (  # noqa: E402
    DEMO_ADMIN,
    Role,
    _demo_admin,
    _gateway_config,
    _prepare,
    _role_env,
)
from streetlight.contract import (  # noqa: E402
    AckOutcome,
    Channel,
    Command,
    CommandAck,
    ScheduleChange,
    TargetKind,
    Topics,
    decode,
)
from streetlight.domain import Inventory  # noqa: E402
from streetlight.inventory import dump_geojson  # noqa: E402
from streetlight.mqtt import make_client  # noqa: E402
from streetlight.schedule import (  # noqa: E402
    Evaluator,
    GroupRef,
    Groups,
    LuxRule,
    Override,
    announce,
    load_schedule_file,
)
from streetlight.services import LocalServices, ServiceState, broker_auth, free_port  # noqa: E402
from streetlight.settings import CommonSettings, MqttUrl, load_settings  # noqa: E402
from streetlight.store import open_store, sessions  # noqa: E402
from streetlight.store.schedules import add_override  # noqa: E402

LAMPS_PER_SCALE = 2305
TZ = ZoneInfo("Asia/Shanghai")
MOMENT = datetime(2026, 12, 21, 22, 45, tzinfo=TZ)
SCHEDULE = ROOT / "examples" / "xunyang" / "schedule.yaml"

# part B
NIGHT = datetime(2026, 12, 21, 21, 0, tzinfo=TZ)  # a Monday: the evening program, at 100 %
LEVEL = 40
BUS, FIELD = "bench", "benchfield"
CONTROLLER_ENV = {"STREETLIGHT_CONTROLLER_GRACE_S": "5"}
SETTLE_LIMIT_S = 150.0  # for the first wave to be acknowledged
QUIET_S = 5.0  # no acknowledgement for this long: the field is steady
WINDOW_S = 120.0  # at most this long for the override's acknowledgements
GIVE_UP_QUIET_S = 20.0  # after the last one, if some lamps are never acknowledged
SAMPLE_S = 0.25


def _generate(scale: int) -> Inventory:
    """The sample's district at `scale` (examples/xunyang/generate.py: a script, so imported
    from its folder by name, which mypy cannot follow when given this file alone)."""
    inventory: Inventory = importlib.import_module("generate").generate(scale=scale)
    return inventory


# --- A: evaluation ------------------------------------------------------------------------------


def _dark(_cabinet: str, _rule: LuxRule) -> tuple[bool | None, datetime | None]:
    return True, MOMENT - timedelta(hours=5)


def measure(lamps: int, repeat: int) -> dict[str, Any]:
    inventory = _generate(math.ceil(lamps / LAMPS_PER_SCALE))
    schedule = load_schedule_file(SCHEDULE)
    subdistrict = min(inventory.subdistricts)
    schedule.overrides.append(
        Override(1, GroupRef("subdistrict", subdistrict), 40, MOMENT - timedelta(minutes=5),
                 MOMENT + timedelta(minutes=5), "bench", "bench")
    )  # fmt: skip
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    started = time.perf_counter()
    evaluator = Evaluator(Groups(inventory), schedule)
    build_s = time.perf_counter() - started
    built = tracemalloc.take_snapshot()
    result = evaluator.evaluate(MOMENT, _dark)
    evaluated = tracemalloc.take_snapshot()
    tracemalloc.stop()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = evaluator.evaluate(MOMENT, _dark)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    overridden = sum(1 for e in result.values() if e.source.startswith("override"))

    def mib(later: tracemalloc.Snapshot, earlier: tracemalloc.Snapshot) -> float:
        return sum(s.size_diff for s in later.compare_to(earlier, "filename")) / 2**20

    return {
        "lamps": len(inventory.lamps),
        "evaluation_s_median": round(statistics.median(walls), 4),
        "evaluation_cpu_s_median": round(statistics.median(cpus), 4),
        "evaluation_s_max": round(max(walls), 4),
        "evaluator_build_s": round(build_s, 3),
        "evaluator_mib": round(mib(built, before), 1),
        "result_mib": round(mib(evaluated, built), 1),
        "lamps_under_override": overridden,
        "target_s_for_100k": 1.0,
    }


# --- B: override-to-field latency ---------------------------------------------------------------


@dataclass
class BusLog:
    """Controller commands and gateway acknowledgements as `admin` sees them, with wall times."""

    commands: list[tuple[float, Command]] = field(default_factory=list)
    acks: list[tuple[float, CommandAck]] = field(default_factory=list)

    async def follow(self, client: Any, topics: Topics) -> None:
        ack_prefix = f"{topics.base}/{Channel.ACK.value}/"
        async for message in client.messages:
            at = time.perf_counter()
            if str(message.topic).startswith(ack_prefix):
                self.acks.append((at, decode(CommandAck, message.payload)))
            else:
                self.commands.append((at, decode(Command, message.payload)))

    def last_ack(self) -> float:
        return self.acks[-1][0] if self.acks else 0.0


@dataclass
class Progress:
    """What became of the override: each lamp's first acknowledgement of a command carrying
    `level` sent after `t0`."""

    t0: float
    level: int
    lamps: set[str]
    groups: dict[str, list[str]]  # the controller's group ids (sites, circuits) -> lamps
    acked: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    ours: dict[str, Command] = field(default_factory=dict)  # command id -> command
    sent: dict[str, float] = field(default_factory=dict)  # command id -> seen on the bus
    answered: dict[str, float] = field(default_factory=dict)  # command id -> its ack
    outcomes: Counter[str] = field(default_factory=Counter)
    _commands_seen: int = 0
    _acks_seen: int = 0
    last_event: float = 0.0

    def update(self, log: BusLog) -> None:
        for at, command in log.commands[self._commands_seen :]:
            if at >= self.t0 and command.on and command.level_pct == self.level:
                self.ours[command.id] = command
                self.sent[command.id] = at
        self._commands_seen = len(log.commands)
        for at, ack in log.acks[self._acks_seen :]:
            acked = self.ours.get(ack.command_id)
            if acked is None:
                continue
            self.last_event = at
            self.answered.setdefault(ack.command_id, at)
            self.outcomes[ack.outcome.value] += 1
            target = acked.target
            members = self.members(acked)
            if target.kind is TargetKind.GROUP:
                failed = set(ack.failed)
            else:
                failed = set() if ack.outcome is AckOutcome.DONE else {target.id}
            self.failed |= failed
            for lamp in members:
                if lamp not in failed:
                    self.acked.setdefault(lamp, at)
        self._acks_seen = len(log.acks)

    def figures(self, inventory: Inventory) -> dict[str, Any]:
        sent = sorted(at - self.t0 for at in self.sent.values())
        acked = [at - self.t0 for at in self.acked.values()]
        return {
            "first_command_s": round(sent[0], 3) if sent else None,
            "last_command_s": round(sent[-1], 3) if sent else None,
            "acked_s": {
                f"p{q}": _quantile(acked, q / 100, len(self.lamps)) for q in (50, 90, 99, 100)
            },
            "by_device_kind": _by_device_kind(self, inventory),
            "lamps_acked": len(self.acked),
            "lamps_failed_in_acks": len(self.failed),
            "lamps_never_acked": len(self.lamps - self.acked.keys()),
            "commands": self.command_counts(set(inventory.sites)),
            "acks_by_outcome": dict(self.outcomes),
        }

    def members(self, command: Command) -> list[str]:
        target = command.target
        return self.groups[target.id] if target.kind is TargetKind.GROUP else [target.id]

    def command_counts(self, sites: set[str]) -> dict[str, int]:
        counts = Counter(
            ("site" if c.target.id in sites else "circuit")
            if c.target.kind is TargetKind.GROUP
            else "lamp"
            for c in self.ours.values()
        )
        counts["retries"] = sum(1 for c in self.ours.values() if c.reason)
        return {kind: counts[kind] for kind in ("site", "circuit", "lamp", "retries")}


class Usage:
    """CPU seconds and peak RSS (sampled) of some processes, from now to `figures()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak: dict[str, int] = dict.fromkeys(pids, 0)
        self.cpu = self._cpu()

    def _cpu(self) -> dict[str, float]:
        return {name: sum(p.cpu_times()[:2]) for name, p in self.processes.items()}

    async def sample(self) -> None:
        while True:
            for name, process in self.processes.items():
                self.peak[name] = max(self.peak[name], process.memory_info().rss)
            await asyncio.sleep(SAMPLE_S)

    def figures(self, window: float) -> dict[str, dict[str, float]]:
        end = self._cpu()
        return {
            name: {
                "cpu_s": round(end[name] - self.cpu[name], 2),
                "cpu_pct_of_one_core": round(100 * (end[name] - self.cpu[name]) / window, 1),
                "rss_mib_peak": round(self.peak[name] / 2**20, 1),
            }
            for name in self.processes
        }


def _district(directory: Path, lamps: int) -> tuple[Inventory, Path]:
    inventory = _generate(math.ceil(lamps / LAMPS_PER_SCALE))
    path = directory / "district.geojson"
    path.write_text(json.dumps(dump_geojson(inventory)))
    return inventory, path


def _groups(inventory: Inventory) -> dict[str, list[str]]:
    """The groups the controller commands (controller/schedule/dispatch.py): sites, then
    circuits."""
    groups: dict[str, list[str]] = {}
    for lamp in inventory.lamps.values():
        circuit = inventory.circuits[lamp.circuit_id]
        groups.setdefault(inventory.cabinets[circuit.cabinet_id].site_id, []).append(lamp.id)
        groups.setdefault(circuit.id, []).append(lamp.id)
    return groups


def _first_wave(log: BusLog) -> dict[str, Any]:
    """The controller's commands before the override: every lamp to the schedule's level."""
    return {
        "commands": len(log.commands),
        "acks_by_outcome": dict(Counter(ack.outcome.value for _, ack in log.acks)),
        "first_command_to_last_ack_s": round(log.last_ack() - log.commands[0][0], 2),
    }


def _check(roles: list[Role]) -> None:
    for role in roles:
        if role.exited is not None:
            raise SystemExit(f"{role.name} stopped (exit {role.exited}); see {role.log_path}")


async def _settle(log: BusLog, roles: list[Role]) -> float:
    """Wait for the controller's first wave to be acknowledged and the bus to go quiet."""
    started = time.perf_counter()
    while not log.acks or time.perf_counter() - log.last_ack() < QUIET_S:
        _check(roles)
        if time.perf_counter() - started > SETTLE_LIMIT_S:
            raise SystemExit(f"the field was not steady within {SETTLE_LIMIT_S:g} s")
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


async def _set_override(settings: CommonSettings, inventory: Inventory) -> float:
    """A district-wide override to LEVEL, saved and announced as `controller override set`
    does; the wall time just before its commit."""
    async with open_store(settings) as engine, sessions(engine)() as session, session.begin():
        now = settings.clock().now()
        override = await add_override(
            session, Groups(inventory), group=GroupRef("district", inventory.district.id),
            level=LEVEL, starts=now, ends=now + timedelta(minutes=30), reason="bench",
            by="bench", at=now,
        )  # fmt: skip
        t0 = time.perf_counter()
    change = ScheduleChange(what="override", id=override.id, by="bench", at=now)
    problem = await announce(settings, change)
    if problem is not None:
        raise SystemExit(f"the override was saved but not announced: {problem}")
    return t0


async def _follow_override(override: Progress, log: BusLog, roles: list[Role]) -> None:
    while len(override.acked) + len(override.failed - override.acked.keys()) < len(override.lamps):
        _check(roles)
        now = time.perf_counter()
        if now - override.t0 > WINDOW_S:
            return
        if override.last_event and now - override.last_event > GIVE_UP_QUIET_S:
            return
        await asyncio.sleep(0.2)
        override.update(log)


def _quantile(seconds: list[float], q: float, out_of: int) -> float | None:
    """The time by which a fraction `q` of `out_of` things were done (None: never)."""
    wanted = math.ceil(q * out_of)
    done = sorted(seconds)
    return round(done[wanted - 1], 3) if 0 < wanted <= len(done) else None


def _by_device_kind(progress: Progress, inventory: Inventory) -> dict[str, dict[str, Any]]:
    """Lamps behind Modbus concentrators and MQTT nodes apart (the district's sites hold one
    kind each): when each kind's lamps were acknowledged, and how long the gateway and the
    devices took per command, from the command on the bus to its acknowledgement."""
    kind = {lamp.id: lamp.profile.split("-")[1] for lamp in inventory.lamps.values()}
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(kind.values())):
        lamps = [lamp for lamp in progress.lamps if kind[lamp] == name]
        acked = [progress.acked[lamp] - progress.t0 for lamp in lamps if lamp in progress.acked]
        turnaround = [
            progress.answered[c] - progress.sent[c]
            for c, command in progress.ours.items()
            if c in progress.answered and {kind[m] for m in progress.members(command)} == {name}
        ]
        out[name] = {
            "lamps": len(lamps),
            "acked_s_p50": _quantile(acked, 0.5, len(lamps)),
            "acked_s_p99": _quantile(acked, 0.99, len(lamps)),
            "commands": len(turnaround),
            "command_to_ack_s_p50": _quantile(turnaround, 0.5, len(turnaround)),
            "command_to_ack_s_max": _quantile(turnaround, 1.0, len(turnaround)),
        }
    return out


async def latency(lamps: int, var: Path | None, via: str = "cli") -> dict[str, Any]:
    with run_directory(var, "streetlight-dispatch-") as directory:
        servers = LocalServices(
            directory / "services", auth=broker_auth(BUS, FIELD, ROOT / "profiles")
        )
        state = servers.start()
        roles: list[Role] = []
        try:
            return await _run_system(state, directory, lamps, roles, via)
        finally:
            for role in reversed(roles):
                role.stop()
            servers.stop()


async def _run_system(
    state: ServiceState, directory: Path, lamps: int, roles: list[Role], via: str
) -> dict[str, Any]:
    inventory, path = _district(directory, lamps)
    settings = load_settings(
        CommonSettings, mqtt_url=state.mqtt_url, influx_url=state.influx_url, var_dir=directory,
        db_url=f"sqlite:///{directory / 'streetlight.db'}", influx_retention="INF",
        mqtt_root=BUS, field_root=FIELD, profiles_dir=ROOT / "profiles",
        clock_start=NIGHT, clock_speed=1.0, clock_anchor=time.time(),
    )  # fmt: skip
    print(await _prepare(settings, inventory, path, SCHEDULE), flush=True)
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    endpoints = directory / "endpoints.yaml"
    endpoints.unlink(missing_ok=True)

    def role(name: str, argv: list[str], extra: dict[str, str] | None = None) -> Role:
        env = {**_role_env(settings, state, name), **(extra or {})}
        started = Role(name, argv, logs / f"{name}.log", env)
        roles.append(started)
        started.start()
        return started

    simulator = role(
        "simulator", ["simulate", "--inventory", str(path), "--endpoints", str(endpoints)]
    )
    api = await _api(role, settings, state) if via == "api" else None
    await wait_for_file(endpoints, simulator)
    config = _gateway_config(directory, path, endpoints, inventory)
    role("gateway", ["gateway", "--config", str(config)])
    topics = Topics(BUS)
    log = BusLog()
    async with make_client(MqttUrl.parse(state.url_for("admin")), identifier="bench") as client:
        await client.subscribe(topics.subscription(Channel.ACK), qos=1)
        await client.subscribe(topics.subscription(Channel.COMMAND), qos=1)
        async with asyncio.TaskGroup() as tasks:
            follower = tasks.create_task(log.follow(client, topics), name="bench-bus")
            role("controller", ["controller", "--inventory", str(path)], CONTROLLER_ENV)
            print(f"processes started; logs in {logs}", flush=True)
            settle_s = await _settle(log, roles)
            first_wave = _first_wave(log)
            print(f"steady after {settle_s:.1f} s; first wave {first_wave}", flush=True)
            pids = {r.name: r.process.pid for r in roles if r.process is not None}
            usage = Usage({**pids, "mosquitto": state.pids["mosquitto"]})
            sampler = tasks.create_task(usage.sample(), name="bench-usage")
            groups = _groups(inventory)
            if api is None:
                t0 = await _set_override(settings, inventory)
            else:
                t0 = await _set_override_through(api, inventory)
            override = Progress(t0, LEVEL, set(inventory.lamps), groups)
            await _follow_override(override, log, roles)
            window = time.perf_counter() - t0
            processes = usage.figures(window)
            sampler.cancel()
            follower.cancel()
    return {
        "lamps": len(inventory.lamps),
        "lamps_under_override": len(override.lamps),
        "level_pct": LEVEL,
        "clock_speed": 1.0,
        "override_set_through": "the API (POST /api/v1/overrides)" if api else "the store (CLI)",
        "controller_told_by": "schedule_change notice on the bus",
        "controller_rate_per_s": RATE_PER_S,  # the default, not set here
        "settle_s": round(settle_s, 1),
        "first_wave": first_wave,
        **override.figures(inventory),
        "window_s": round(window, 1),
        "processes": processes,
        "target_s_p99": 2.0,
    }


async def _api(
    role: Callable[[str, list[str], dict[str, str] | None], Role],
    settings: CommonSettings,
    state: ServiceState,
) -> tuple[str, dict[str, str]]:
    """The API as its own process, and an admin's headers for it."""
    env = {**_role_env(settings, state, "api"), "STREETLIGHT_API_SECRET": secrets.token_urlsafe(48)}
    password = _demo_admin(env)
    port = free_port()
    role(
        "api",
        ["api", "--port", str(port)],
        {"STREETLIGHT_API_SECRET": env["STREETLIGHT_API_SECRET"]},
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(600):
            try:
                form = {"username": DEMO_ADMIN, "password": password}
                answer = await client.post("/api/v1/auth/token", data=form)
                if answer.status_code == 200:
                    return base, {"Authorization": f"Bearer {answer.json()['access_token']}"}
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("the API did not let its admin in within 120 s")


async def _set_override_through(api: tuple[str, dict[str, str]], inventory: Inventory) -> float:
    """The same override, set by an operator through the API; the wall time as it leaves."""
    base, headers = api
    body = {"group": f"district:{inventory.district.id}", "level": LEVEL, "minutes": 30,
            "reason": "bench"}  # fmt: skip
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        t0 = time.perf_counter()
        answer = await client.post("/api/v1/overrides", json=body)
    if answer.status_code != 201 or not answer.json().get("told_controller"):
        raise SystemExit(f"the API did not set and announce the override: {answer.text}")
    return t0


# --- main ---------------------------------------------------------------------------------------


def _save(figures: dict[str, Any]) -> Path:
    """Write the figures, keeping the other part's from the last run."""
    try:
        previous = json.loads((RESULTS / "dispatch.json").read_text())
    except (OSError, ValueError):
        previous = {}
    kept = {k: previous[k] for k in ("evaluation", "override_latency") if k in previous}
    return write_results("dispatch", {**kept, **figures})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("evaluation", "latency"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lamps", type=int, default=10_000, help="part B's district (at least)")
    parser.add_argument("--var", type=Path, help="part B's directory, kept (default: a temp one)")
    parser.add_argument(
        "--via", choices=("cli", "api"), default="cli", help="part B: as the CLI does, or the API"
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if args.only in (None, "evaluation"):
        figures["evaluation"] = [measure(size, args.repeat) for size in args.sizes]
        for row in figures["evaluation"]:
            print("evaluation:", row, flush=True)
    if args.only in (None, "latency"):
        try:
            figures["override_latency"] = asyncio.run(latency(args.lamps, args.var, args.via))
        except KeyboardInterrupt:
            raise SystemExit("interrupted: every process it started is stopped") from None
        row = figures["override_latency"]
        print("override_latency:", json.dumps(row), flush=True)
        print(
            f"override to {row['lamps_under_override']} lamps: acknowledged p50 "
            f"{row['acked_s']['p50']} s, p90 {row['acked_s']['p90']} s, p99 "
            f"{row['acked_s']['p99']} s, all {row['acked_s']['p100']} s (target p99 <= 2 s)"
        )
    print(f"figures written to {_save(figures)}")
