"""Detection scored against the simulator's ground truth over a simulated week.

    .venv/bin/python bench/detection_score.py                # the sample district, 7 days
    .venv/bin/python bench/detection_score.py --days 1       # a shorter look
    .venv/bin/python bench/detection_score.py --truth T --alarms A --interval 60   # score a run

Runs the whole system as `make demo` does (its own Mosquitto and influxd; `streetlight
simulate`, `gateway` and `controller` as processes on one simulated clock) on the sample
district (2,305 lamps) for `--days` from noon on Monday 14 December 2026, with a scenario this
script writes: background faults of every kind the simulator plays, at `--rate` per lamp per
night with the simulator's measurement noise, plus the two kinds a schedule hides (a dimming
failure shows only at a dim step, day burning only after the switch-off at dawn), placed each
night where the schedule shows them. Then it exports the alarms with `streetlight alarms
export` and scores them against the simulator's truth file (bench/scoring.py): precision and
recall, and detection latency p50/p95 in simulated seconds and in reporting intervals, per
type, counted from when a fault could first be seen: its start; the switch-on, if it shows
only while the lamp is lit and began before; for cycling, the lamp's second cut-out since
then (out, back on, out again: the first moment there is a pattern); the end of an outage
above it if it began during one; for over-temperature, when the driver passed its limit (a failing
driver heats for tens of minutes first), found in the telemetry in InfluxDB and kept in
`shows.jsonl`. The p95 from the start is reported beside it. Targets (issue 6): precision
and recall >= 0.99; p95 latency <= 2 intervals for lamp faults, <= 1 for cabinet, circuit
and leakage faults.

Devices report every `--interval` (300 s by default, a common NB-IoT setting; the gateway
polls the Modbus cabinets and concentrators as often, or the cabinets every
`--cabinet-interval`), which lets a week run at `--speed` 300 in about 35 minutes on 2 cores.
Latency is counted in the lamps' interval, as the targets are. The deployment's settings
follow the interval, as an operator's would: detection's report interval and cycling window
(thresholds file; the controller's time for telemetry to confirm a command follows the
interval given there). The gateway's wait for a telemetry batch, a wall-time setting, is cut
to 5 simulated seconds (`batch_s`). While it runs, the bench follows the canonical telemetry
and reports how far readings lag the clock, so a run where the pipeline fell behind shows as
such. An alarm's `raised_at` is the time of the reading that confirmed it, so that lag comes
on top of the latencies reported; what the latencies do include is the time a poll waits for
the others on its Modbus link, which at speed 300 is 300 times its wall time.

Figures go to bench/results/detection_score.json; the run's files stay in `--var` if given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import run_directory, wait_for_file, write_results  # noqa: E402
from bench.scoring import (  # noqa: E402
    Fault,
    crossing,
    epoch_seconds,
    misses,
    read_alarms,
    read_truth,
    score,
    totals,
)
from controller.alarms import ThresholdBook, load_thresholds  # noqa: E402
from simulator.devices import cycling_shows_at  # noqa: E402
from streetlight.cli._demo import Role, _gateway_config, _prepare, _role_env  # noqa: E402
from streetlight.contract import Channel, Topics  # noqa: E402
from streetlight.domain import AlarmType, Inventory  # noqa: E402
from streetlight.influx import InfluxClient, quote_literal  # noqa: E402
from streetlight.inventory import load_inventory  # noqa: E402
from streetlight.mqtt import make_client  # noqa: E402
from streetlight.scenario import FAULT_TARGETS  # noqa: E402
from streetlight.schedule import (  # noqa: E402
    Evaluator,
    GroupRef,
    Groups,
    load_schedule_file,
    plan,
)
from streetlight.services import LocalServices, ServiceState, broker_auth  # noqa: E402
from streetlight.settings import CommonSettings, MqttUrl, load_settings  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 14, 12, 0, tzinfo=TZ)  # a Monday noon: the first night's faults
INVENTORY = ROOT / "examples" / "xunyang" / "inventory.geojson"
SCHEDULE = ROOT / "examples" / "xunyang" / "schedule.yaml"
BUS, FIELD = "score", "scorefield"
BATCH_SIMULATED_S = 5.0
# lamp faults that show only while the lamp is lit
LIT_KINDS = frozenset({AlarmType.LAMP_FAILURE, AlarmType.LOW_POWER, AlarmType.HIGH_POWER,
                       AlarmType.DIMMING_FAILURE, AlarmType.CYCLING,
                       AlarmType.OVER_TEMPERATURE})  # fmt: skip
HIDDEN = (AlarmType.DIMMING_FAILURE, AlarmType.DAY_BURNING)  # seen only where the schedule acts
# the faults detection is scored on: those with an alarm of their own (not `late_start`)
ALARM_FAULTS = [k for k in FAULT_TARGETS if isinstance(k, AlarmType)]


Changes = Callable[[str, date], tuple[tuple[datetime, int | None], ...]]


def scenario(inventory: Inventory, args: argparse.Namespace, changes: Changes) -> dict[str, Any]:
    """Background faults of every kind but the hidden two, which are placed each night on a
    few lamps, a minute before their site's schedule would show them: a dimming failure
    before the first dim step, day burning before the switch-off at dawn. Each lasts 3 h."""
    rng = random.Random(args.seed)
    lamps = sorted(inventory.lamps)
    per_night = max(1, round(args.rate * len(lamps) / len(ALARM_FAULTS)))
    faults: list[dict[str, Any]] = []
    for day in range(args.days):
        night = (START + timedelta(days=day)).date()
        for kind in HIDDEN:
            for lamp in rng.sample(lamps, per_night):
                steps = changes(inventory.place(lamp).site_id, night)
                at = _hidden_at(kind, steps) - timedelta(minutes=1)
                until = at + timedelta(hours=3)
                faults.append({"at": at.isoformat(), "target": f"lamp:{lamp}",
                               "kind": kind.value, "until": until.isoformat()})  # fmt: skip
    faults.sort(key=lambda f: datetime.fromisoformat(f["at"]))
    return {
        "start": START.isoformat(),
        "speed": args.speed,
        "seed": args.seed,
        "reporting_interval_s": args.interval,
        "faults": faults,
        "random_faults": {
            "rate_per_lamp_per_night": args.rate,
            "kinds": [k.value for k in ALARM_FAULTS if k not in HIDDEN],
            "duration_minutes": [60, 600],
        },
    }


def _hidden_at(kind: AlarmType, steps: tuple[tuple[datetime, int | None], ...]) -> datetime:
    """When a hidden fault first shows: the first dim step down, or the switch-off."""
    previous: int | None = None
    for at, level in steps:
        if kind is AlarmType.DAY_BURNING and level is None and previous is not None:
            return at
        if (
            kind is AlarmType.DIMMING_FAILURE
            and level is not None
            and previous
            and level < previous
        ):
            return at
        previous = level
    raise SystemExit(f"the schedule has no step that shows {kind.value}")


def site_changes(inventory: Inventory) -> Changes:
    """Each site's planned switching for a night, from the schedule the run loads."""
    evaluator = Evaluator(Groups(inventory), load_schedule_file(SCHEDULE))
    return lambda site, night: plan(evaluator, GroupRef("site", site), night, night)[0].changes


def lit_shows(faults: list[Fault], inventory: Inventory, changes: Changes) -> None:
    """A fault that shows only while its lamp is lit, begun while the schedule had the lamp
    off (a background fault in the minutes between sunset and the switch-on), could first be
    seen at the switch-on. A cycling lamp shows it at its second cut-out since then (out, back
    on, out again): before, there is no pattern to see (DESIGN.md §6: too many transitions).
    The switch-on is the schedule's; the lamp hears it a moment later, so a lamp switched on
    just before a cut-out may in fact miss it and show one cycle (240 s) later than counted
    here, which counts against detection."""
    for fault in faults:
        if fault.kind not in LIT_KINDS:
            continue
        site = inventory.place(fault.asset.removeprefix("lamp:")).site_id
        night = (datetime.fromtimestamp(fault.start, TZ) - timedelta(hours=12)).date()
        steps = changes(site, night)
        before = [level for at, level in steps if at.timestamp() <= fault.start]
        switch_on = next(
            (at for at, level in steps if at.timestamp() > fault.start and level is not None),
            None,
        )
        lit_from = fault.start
        if not (before and before[-1] is not None) and switch_on is not None:
            lit_from = switch_on.timestamp()  # off when it began
        if fault.kind is AlarmType.CYCLING:
            fault.visible_at = max(fault.visible_at, cycling_shows_at(fault.start, lit_from))
        elif lit_from > fault.start:
            fault.visible_at = max(fault.visible_at, lit_from)


def batch_s(speed: float) -> float:
    """The gateway's wait for a telemetry batch, in wall seconds: at most 5 simulated seconds.
    Its 0.5 s default would be 150 simulated seconds at speed 300, half a reporting interval
    of lag that a deployment at speed 1 does not have."""
    return min(0.5, BATCH_SIMULATED_S / speed)


def thresholds(interval: float) -> dict[str, Any]:
    """Detection's settings for devices reporting every `interval`: a cycling lamp (150 s on,
    90 s off) sampled every 5 minutes shows a change every 4th report or so."""
    window = max(1200.0, 12 * interval)
    return {"defaults": {"report_interval_s": interval, "cycling_window_s": window}}


class Lag:
    """How far canonical telemetry lags the simulated clock, from a sample of batches."""

    def __init__(self, settings: CommonSettings) -> None:
        self.clock = settings.clock()
        self.samples: list[float] = []
        self._seen = 0

    async def follow(self, url: str) -> None:
        topics = Topics(BUS)
        async with make_client(MqttUrl.parse(url), identifier="score-lag") as client:
            await client.subscribe(topics.subscription(Channel.TELEMETRY), qos=0)
            async for message in client.messages:
                self._seen += 1
                if self._seen % 20:
                    continue
                batch = orjson.loads(message.payload)
                now = self.clock.now().timestamp()
                for reading in batch.get("lamps", [])[:1]:
                    self.samples.append(now - datetime.fromisoformat(reading["ts"]).timestamp())

    def figures(self) -> dict[str, float | None]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"p50": None, "p99": None, "max": None}
        return {
            "p50": round(ordered[len(ordered) // 2], 1),
            "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
            "max": round(ordered[-1], 1),
        }


async def run_week(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    inventory = load_inventory(INVENTORY)
    servers = LocalServices(directory / "services", auth=broker_auth(BUS, FIELD, ROOT / "profiles"))
    state = servers.start()
    roles: list[Role] = []
    try:
        return await _run(args, directory, inventory, state, roles)
    finally:
        for role in reversed(roles):
            role.stop()
        servers.stop()


async def _run(args: argparse.Namespace, directory: Path, inventory: Inventory,
               state: ServiceState, roles: list[Role]) -> dict[str, Any]:  # fmt: skip
    end = START + timedelta(days=args.days)
    settings = load_settings(
        CommonSettings, mqtt_url=state.mqtt_url, influx_url=state.influx_url, var_dir=directory,
        db_url=f"sqlite:///{directory / 'streetlight.db'}", influx_retention="INF",
        mqtt_root=BUS, field_root=FIELD, profiles_dir=ROOT / "profiles",
        clock_start=START, clock_speed=args.speed, clock_anchor=time.time() + 20,
    )  # fmt: skip
    print(await _prepare(settings, inventory, INVENTORY, SCHEDULE), flush=True)
    document = scenario(inventory, args, site_changes(inventory))
    scenario_path = directory / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(document, sort_keys=False))
    thresholds_path = directory / "thresholds.yaml"
    thresholds_path.write_text(yaml.safe_dump(thresholds(args.interval)))
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    endpoints, truth = directory / "endpoints.yaml", directory / "truth.jsonl"
    endpoints.unlink(missing_ok=True)
    truth.unlink(missing_ok=True)

    def role(name: str, argv: list[str], extra: dict[str, str] | None = None) -> Role:
        started = Role(name, argv, logs / f"{name}.log", {**_role_env(settings, state, name),
                                                          **(extra or {})})  # fmt: skip
        roles.append(started)
        started.start()
        return started

    simulator = role("simulator", ["simulate", "--inventory", str(INVENTORY), "--scenario",
                                   str(scenario_path), "--truth", str(truth),
                                   "--endpoints", str(endpoints)])  # fmt: skip
    await wait_for_file(endpoints, simulator)
    config = _gateway_config(directory, INVENTORY, endpoints, inventory)
    document = yaml.safe_load(config.read_text())
    document["modbus"].update(cabinet_interval_s=args.cabinet_interval,
                              lamp_interval_s=args.interval)  # fmt: skip
    document["bus_batch_s"] = batch_s(args.speed)
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    role("gateway", ["gateway", "--config", str(config)])
    role("controller", ["controller", "--inventory", str(INVENTORY)], {
        "STREETLIGHT_ALARM_THRESHOLDS": str(thresholds_path),
        "STREETLIGHT_CONTROLLER_TICK_S": str(args.interval / 10),
    })  # fmt: skip
    print(f"processes started; logs in {logs}", flush=True)
    lag = Lag(settings)
    clock = settings.clock()
    wall_started = time.monotonic()
    async with asyncio.TaskGroup() as tasks:
        follower = tasks.create_task(lag.follow(state.url_for("admin")))
        report_every = timedelta(hours=12)
        next_report = START + report_every
        while clock.now() < end:
            for r in roles:
                if r.exited is not None:
                    raise SystemExit(f"{r.name} stopped (exit {r.exited}); see {r.log_path}")
            if clock.now() >= next_report:
                moment = clock.now().astimezone(TZ)
                print(f"  {moment:%a %d %b %H:%M}  lag p99 {lag.figures()['p99']} s", flush=True)
                next_report += report_every
            await asyncio.sleep(1.0)
        follower.cancel()
    wall_s = time.monotonic() - wall_started
    for r in reversed(roles):
        r.stop()  # the controller writes what it holds to the store as it stops
    alarms = directory / "alarms.jsonl"
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streetlight", "alarms", "export", "--from", START.isoformat(),
         "--to", end.isoformat(), "--output", str(alarms)],
        env=_role_env(settings, state, "admin"), check=True,
    )  # fmt: skip
    shows = directory / "shows.jsonl"
    book = load_thresholds(thresholds_path)
    await heat_shows(settings, read_truth(_lines(truth), end.timestamp()), inventory, book, shows)
    return {
        "run": {"lamps": len(inventory.lamps), "days": args.days, "speed": args.speed,
                "gateway_bus_batch_s": batch_s(args.speed),
                "cabinet_interval_s": args.cabinet_interval,
                "wall_s": round(wall_s), "telemetry_lag_s": lag.figures(),
                "rate_per_lamp_per_night": args.rate, "seed": args.seed},
        **_score(truth, alarms, inventory, args.interval, begin=START, end=end, shows=shows),
    }  # fmt: skip


async def heat_shows(settings: CommonSettings, faults: list[Fault], inventory: Inventory,
                     book: ThresholdBook, out: Path) -> None:  # fmt: skip
    """When each over-temperature fault could first be seen: when its driver passed its limit,
    between the lamp's last report under it and its first over it (linearly: the heating
    curve is smooth over one interval), from the telemetry in InfluxDB; null if it never did
    (repaired first). A failing driver heats for tens of minutes first, which no detection
    can shorten. JSON lines to `out`."""
    records = []
    async with InfluxClient.from_settings(settings) as influx:
        for fault in faults:
            if fault.kind is not AlarmType.OVER_TEMPERATURE:
                continue
            lamp = inventory.lamps[fault.asset.removeprefix("lamp:")]
            limit = book.for_asset(lamp.profile, inventory.place(lamp.id).site_id)
            series = await influx.query(
                f"SELECT driver_temp_c FROM lamp WHERE lamp = {quote_literal(lamp.id)} "  # noqa: S608
                f"AND time >= {int(fault.start * 1e9)} AND time <= {int(fault.end * 1e9)}"
            )
            readings = [(row["time"] / 1e9, row["driver_temp_c"]) for s in series
                        for row in s.rows() if row["driver_temp_c"] is not None]  # fmt: skip
            crossed = crossing(readings, limit.temperature_limit_c, fault.start)
            records.append({"asset": fault.asset, "kind": fault.kind.value,
                            "start": _iso(fault.start),
                            "shows_at": None if crossed is None else _iso(crossed)})  # fmt: skip
    text = "".join(json.dumps(record) + "\n" for record in records)
    await asyncio.to_thread(out.write_text, text)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, TZ).isoformat()


def _score(truth: Path, alarms: Path, inventory: Inventory, interval: float, *,
           begin: datetime, end: datetime, shows: Path | None) -> dict[str, Any]:  # fmt: skip
    """Faults that started in [begin, end) against the alarms, each seen from when it could be
    (lit_shows; heat_shows, kept in `shows`). (At its start the simulator plays the night
    before too, in the past: those faults are in its truth file.)"""
    faults = [f for f in read_truth(_lines(truth), end.timestamp()) if f.start >= begin.timestamp()]
    lit_shows(faults, inventory, site_changes(inventory))
    if shows is not None and shows.exists():
        seen = {
            (r["asset"], r["kind"], round(epoch_seconds(r["start"]), 3)): r["shows_at"]
            for r in _lines(shows)
        }
        for fault in faults:
            key = (fault.asset, fault.kind.value, round(fault.start, 3))
            if key in seen:
                shows_at = seen[key]
                fault.never_visible = shows_at is None
                if shows_at is not None:
                    fault.visible_at = max(fault.visible_at, epoch_seconds(shows_at))
    result = score(faults, read_alarms(_lines(alarms)), inventory, interval_s=interval)
    return {
        "reporting_interval_s": interval,
        "totals": totals(result),
        "by_type": result.by_type,
        "targets": {"precision": 0.99, "recall": 0.99, "latency_p95_intervals":
                    {"lamp faults": 2, "cabinet, circuit and leakage faults": 1}},
        "examples": misses(result),
    }  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _print(figures: dict[str, Any]) -> None:
    print(json.dumps(figures.get("run", {})))
    print(f"{'type':<17}{'faults':>7}{'masked':>7}{'found':>6}{'recall':>8}{'roots':>6}"
          f"{'precision':>10}{'p50 s':>7}{'p95 s':>7}{'p95 iv':>7}{'target':>7}"
          f"{'from start p95 s':>17}")  # fmt: skip
    for kind, row in figures["by_type"].items():
        print(f"{kind:<17}{row['faults']:>7}{row['masked']:>7}{row['found']:>6}"
              f"{_f(row['recall']):>8}{row['root_alarms']:>6}{_f(row['precision']):>10}"
              f"{_f(row['latency_s_p50']):>7}{_f(row['latency_s_p95']):>7}"
              f"{_f(row['latency_intervals_p95']):>7}"
              f"{row['latency_target_intervals']:>7}"
              f"{_f(row['latency_from_start_s_p95']):>17}")  # fmt: skip
    print("totals", json.dumps(figures["totals"]))
    for name, rows in figures["examples"].items():
        for row in rows:
            print(f"  {name}: {json.dumps(row)}")


def _f(value: object) -> str:
    return "-" if value is None else f"{value:g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--interval", type=float, default=300.0, help="reporting interval, s")
    parser.add_argument("--cabinet-interval", type=float,
                        help="seconds between the gateway's polls of a cabinet (default: "
                             "--interval)")  # fmt: skip
    parser.add_argument("--speed", type=float, default=300.0)
    parser.add_argument("--rate", type=float, default=0.01, help="faults per lamp per night")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--var", type=Path, help="keep the run's files here")
    parser.add_argument("--truth", type=Path, help="score this truth file (no run)")
    parser.add_argument("--alarms", type=Path, help="... against this alarms export")
    parser.add_argument("--inventory", type=Path, default=INVENTORY)
    parser.add_argument("--since", help="... counting faults that started then or later (ISO)")
    parser.add_argument("--shows", type=Path,
                        help="... with when faults could first be seen (default: shows.jsonl "
                             "beside the truth file, as a run writes it)")  # fmt: skip
    args = parser.parse_args()
    args.cabinet_interval = args.cabinet_interval or args.interval
    if args.truth or args.alarms:
        if not (args.truth and args.alarms):
            parser.error("--truth and --alarms go together")
        begin = (
            datetime.fromisoformat(args.since) if args.since else datetime.min.replace(tzinfo=TZ)
        )
        end = datetime.fromtimestamp(time.time(), TZ) + timedelta(days=3650)
        shows = args.shows or args.truth.parent / "shows.jsonl"
        figures = _score(args.truth, args.alarms, load_inventory(args.inventory), args.interval,
                         begin=begin, end=end, shows=shows)  # fmt: skip
        _print(figures)
        return 0
    with run_directory(args.var, "streetlight-score-") as directory:
        figures = asyncio.run(run_week(args, directory))
    _print(figures)
    print(f"figures written to {write_results('detection_score', figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
