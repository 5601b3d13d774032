"""The API under a paced load, with 100,000 lamps in the store and one uvicorn worker.

For each backend (SQLite, then PostgreSQL):
1. a district of about 100,000 lamps (the sample's recipe, examples/xunyang/generate.py, at
   scale) with its schedule and 20,000 alarms of a year's mix (10 % open; work orders, links
   under root causes) goes into a fresh store (PostgreSQL: vacuumed and analysed, as a store
   at work is);
2. `streetlight api` starts as its own process (one worker), a report of every lamp is
   published on the bus, so its live state is full, and the API is left to settle (a second
   under 5 % of a core: the first night's sun times are worked out in slices after a start);
3. a load of `--rate` requests a second (default 500), paced (open loop: each request leaves
   at its own time whether the ones before have answered or not, so a slow server cannot
   slow the load and hide its own latency), for `--seconds` each: a lamp's state (random
   lamps), then the alarm list (300 lists as the console, crews and dashboards ask them, in
   a seeded mix of filters and orders, and the second pages of a third of them by their
   cursors); latency is counted from the moment a request was due. The load comes from a
   process of its own (bench/_paced_http.py: raw keep-alive connections, requests encoded
   beforehand), so that the load generator is not what saturates;
4. the district's state (every lamp in columns) one call after another, `--district` times;
5. freshness: 20 lamps switched off, each by a report of its own on the bus; how soon each
   shows in the lamp's state and on the event stream (target: within 2 s); and 10 alarms
   written to the store and published as the controller does: how soon each is in the list.

Prints requests/s, p50 and p99 per call; the API's CPU time per request (its process's CPU
over the paced window, divided: steady on a busy machine, where latencies move with the other
load) and the load generator's own; in each paced window, the API's full garbage collections
and the times its event loop ran a timer over 100 ms late (from its /metrics); the API's CPU
at rest and its memory; the alarm list's memory (loaded here under tracemalloc); and writes
bench/results/api_load.json. Targets (issue 16): p99 <= 25 ms for single reads at 500/s,
the district's state <= 200 ms.

    .venv/bin/python bench/api_load.py [--lamps 100000] [--rate 500] [--seconds 20]
        [--backends sqlite postgresql] [--profile DIR] [--var DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "xunyang"))

from api.alarm_index import AlarmIndex  # noqa: E402
from bench._common import local_servers, run_directory, write_results  # noqa: E402
from streetlight.contract import (  # noqa: E402
    AlarmEvent,
    LampTelemetry,
    Target,
    TargetKind,
    TelemetryBatch,
    Topics,
    encode,
)
from streetlight.domain import SEVERITY, AlarmChange, AlarmState, AlarmType, Inventory  # noqa: E402
from streetlight.mqtt import make_client, publish  # noqa: E402
from streetlight.schedule import Groups, load_schedule_file  # noqa: E402
from streetlight.services import Postgres, ServiceState, free_port  # noqa: E402
from streetlight.settings import MqttUrl  # noqa: E402
from streetlight.store import open_engine, save_inventory, sessions  # noqa: E402
from streetlight.store.alarms import Transition, write_transitions  # noqa: E402
from streetlight.store.models import AlarmRow, AlarmTransitionRow, WorkOrderRow  # noqa: E402
from streetlight.store.schedules import save_schedule  # noqa: E402
from streetlight.store.users import Role, add_key  # noqa: E402
from streetlight.store.users import add_user as add_account  # noqa: E402

SCHEDULE = ROOT / "examples" / "xunyang" / "schedule.yaml"
LAMPS_PER_SCALE = 2305
ALARMS = 20_000
ALARM_PATHS = 300  # distinct alarm lists asked in turn, besides their second pages
BUS = "benchapi"
START_WAIT_S = 300.0
CONNECTIONS = 32
ANSWER_LIMIT = 2**24  # the load generator's answer: a line with every latency (10,000 at 20 s)
SETTLE_S = 120.0
QUIET_PCT = 5.0
IDLE_S = 3.0  # the API's own CPU at rest (the bus, the schedule, ageing) measured over this


def _generate(lamps: int) -> Inventory:
    inventory: Inventory = importlib.import_module("generate").generate(
        scale=math.ceil(lamps / LAMPS_PER_SCALE)
    )
    return inventory


async def _fill(db_url: str, inventory: Inventory) -> str:
    """The district, its schedule, alarms and a machine key in a fresh store; the key."""
    engine = await open_engine(db_url)
    now = datetime.now(UTC)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "bench")
            await save_schedule(session, load_schedule_file(SCHEDULE), Groups(inventory),
                                by="bench", at=now)  # fmt: skip
        async with sessions(engine)() as session, session.begin():
            await _fill_alarms(session, inventory, now)
        key = f"slk_bench0001_{secrets.token_urlsafe(32)}"
        async with sessions(engine)() as session, session.begin():
            await add_account(session, name="bench", role=Role.VIEWER, password_hash=None,
                              maintainer_id=None, by="bench", at=now)  # fmt: skip
            await add_key(session, "bench", name="bench", prefix="bench0001",
                          digest=hashlib.sha256(key.encode()).hexdigest(), at=now)  # fmt: skip
        if engine.dialect.name == "postgresql":
            # a store at work is not bulk-loaded a minute before: without this, autovacuum
            # takes one of the two cores in the middle of the measured calls
            async with engine.connect() as connection:
                auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()
    return key


async def _fill_alarms(session: AsyncSession, inventory: Inventory, now: datetime) -> None:
    """ALARMS alarms over 90 days on lamps, circuits and cabinets, as a year of a district
    leaves them: 5 % raised, 5 % acknowledged, 10 % cleared, the rest closed; a fifth linked
    under an earlier alarm of its site; a third with a work order. Written in bulk, each with
    the transitions it went through, the way the controller and operators write them."""
    rng = random.Random(16)
    site_of = {lamp: inventory.place(lamp).site_id for lamp in inventory.lamps}
    assets = [("lamp", lamp, site) for lamp, site in site_of.items()]
    assets += [("circuit", c, inventory.cabinets[k.cabinet_id].site_id)
               for c, k in inventory.circuits.items()]  # fmt: skip
    assets += [("cabinet", c, k.site_id) for c, k in inventory.cabinets.items()]
    kinds = {"lamp": AlarmType.LAMP_FAILURE, "circuit": AlarmType.CIRCUIT_DEAD,
             "cabinet": AlarmType.DOOR_OPEN}  # fmt: skip
    maintainers = sorted(inventory.maintainers)
    alarms: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    last_of_site: dict[str, int] = {}
    for ident in range(1, ALARMS + 1):
        kind, asset, site = rng.choice(assets)
        raised = now - timedelta(days=90) + timedelta(days=90) * ident / ALARMS
        cleared = raised + timedelta(hours=rng.uniform(0.5, 48))
        fate = rng.random()
        state, steps = (
            (AlarmState.RAISED, [AlarmChange.RAISED]) if fate < 0.05 else
            (AlarmState.ACKNOWLEDGED, [AlarmChange.RAISED, AlarmChange.ACKNOWLEDGED])
            if fate < 0.10 else
            (AlarmState.CLEARED, [AlarmChange.RAISED, AlarmChange.CLEARED]) if fate < 0.20 else
            (AlarmState.CLOSED, [AlarmChange.RAISED, AlarmChange.CLEARED, AlarmChange.CLOSED])
        )  # fmt: skip
        parent = last_of_site.get(site) if rng.random() < 0.2 else None
        last_of_site[site] = ident
        alarms.append({"id": ident, "type": kinds[kind].value, "asset_kind": kind,
                       "asset_id": asset, "severity": SEVERITY[kinds[kind]].value,
                       "state": state.value, "site_id": site, "parent_id": parent,
                       "raised_at": raised, "detail": f"{kinds[kind].value} seen",
                       "cleared_at": cleared if AlarmChange.CLEARED in steps else None,
                       })  # fmt: skip
        transitions += [{"alarm_id": ident, "change": step.value, "at": raised, "by": "bench",
                         "detail": None} for step in steps]  # fmt: skip
        if rng.random() < 1 / 3:
            orders.append({"id": len(orders) + 1, "alarm_id": ident,
                           "maintainer_id": rng.choice(maintainers),
                           "severity": SEVERITY[kinds[kind]].value,
                           "state": "closed" if state is AlarmState.CLOSED else "registered",
                           "opened_at": raised, "deadline": raised + timedelta(days=1),
                           })  # fmt: skip
    for table, rows in ((AlarmRow, alarms), (AlarmTransitionRow, transitions),
                        (WorkOrderRow, orders)):  # fmt: skip
        await session.execute(insert(table), rows)


def _alarm_paths(inventory: Inventory, count: int) -> list[str]:
    """`count` alarm lists as the console, crews and dashboards ask them, in a seeded mix:
    the open queue (newest first), a site's or a subdistrict's, by severity or type, a day's,
    root causes, an asset's, the whole list; the second and later pages come from the cursors
    the API gives (added by `_with_cursors`)."""
    rng = random.Random(16)
    sites = sorted(inventory.sites)
    subdistricts = sorted(inventory.subdistricts)
    lamps = sorted(inventory.lamps)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def one() -> str:
        day = today - timedelta(days=rng.randrange(90))
        return rng.choice([
            "state=open&newest_first=true",
            "state=open",
            f"site={rng.choice(sites)}",
            f"site={rng.choice(sites)}&state=open",
            f"subdistrict={rng.choice(subdistricts)}&state=open&newest_first=true",
            f"subdistrict={rng.choice(subdistricts)}",
            "severity=emergency&state=open",
            "type=lamp_failure&newest_first=true",
            f"since={day:%Y-%m-%dT%H:%M:%SZ}&until={day + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
            "roots=true&state=open",
            f"asset=lamp:{rng.choice(lamps)}",
            "",
            "state=closed&newest_first=true",
        ])  # fmt: skip

    return [f"/api/v1/alarms?limit=50&{one()}".rstrip("&") for _ in range(count)]


async def _with_cursors(client: httpx.AsyncClient, paths: list[str]) -> list[str]:
    """Each path, and for a third of them the page after its first, by the cursor given."""
    more = []
    for path in paths[::3]:
        cursor = (await client.get(path)).json()["next"]
        if cursor is not None:
            more.append(f"{path}&cursor={cursor}")
    mixed = paths + more
    random.Random(17).shuffle(mixed)
    return mixed


async def _report_every_lamp(url: MqttUrl, inventory: Inventory) -> None:
    topic = Topics(BUS).telemetry(TargetKind.GATEWAY, "gw-bench")
    now = datetime.now(UTC)
    lamps = sorted(inventory.lamps)
    async with make_client(url, identifier="bench-api-reports") as client:
        for first in range(0, len(lamps), 1000):
            batch = TelemetryBatch(
                source="gw-bench",
                lamps=[LampTelemetry(lamp=lamp, ts=now, relay_on=True, dim_pct=100,
                                     power_w=inventory.lamps[lamp].rated_power_w)
                       for lamp in lamps[first : first + 1000]],
            )  # fmt: skip
            await publish(client, topic, encode(batch))


def _start_api(
    db_url: str, state: ServiceState, port: int, log: Path, profile: Path | None = None
) -> subprocess.Popen[bytes]:
    """`streetlight api` on `port`; under cProfile, its figures written to `profile` at exit,
    when one is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    env |= {
        "STREETLIGHT_DB_URL": db_url,
        "STREETLIGHT_MQTT_URL": state.mqtt_url,
        "STREETLIGHT_MQTT_ROOT": BUS,
        "STREETLIGHT_INFLUX_URL": state.influx_url,
        "STREETLIGHT_API_SECRET": secrets.token_urlsafe(48),
        "STREETLIGHT_LOG_LEVEL": "WARNING",
    }
    profiled = [] if profile is None else ["-m", "cProfile", "-o", str(profile)]
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, *profiled, "-m", "streetlight", "api", "--port", str(port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


async def _paced(
    port: int, key: str, paths: list[str], *, rate: float, seconds: float, server: psutil.Process
) -> dict[str, Any]:
    """`rate` calls a second for `seconds` from a load generator of its own process
    (bench/_paced_http.py), each due at its own time; latencies from then. The API's CPU
    seconds over the window and the generator's own, each per request: the steady figures on
    a machine whose other load moves the latencies."""
    spec = {"host": "127.0.0.1", "port": port, "headers": {"X-API-Key": key}, "paths": paths,
            "rate": rate, "seconds": seconds, "connections": CONNECTIONS}  # fmt: skip
    load = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench._paced_http", cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=ANSWER_LIMIT,
    )  # fmt: skip
    assert load.stdin is not None
    assert load.stdout is not None
    load.stdin.write(orjson.dumps(spec))
    load.stdin.close()
    if (await load.stdout.readline()).strip() != b"started":
        raise SystemExit("the load generator did not start; see its error above")
    before = _cpu_s(server)
    answer = await load.stdout.readline()
    used = _cpu_s(server) - before
    if await load.wait() != 0 or not answer:
        raise SystemExit("the load generator failed; see its error above")
    run = orjson.loads(answer)
    latencies: list[float] = run["latencies"]
    errors = sum(n for status, n in run["statuses"].items() if status != "200")
    return {
        **_figures(latencies, len(latencies) / run["elapsed_s"], errors),
        "server_cpu_ms_per_request": round(1000 * used / len(latencies), 3),
        "client_cpu_ms_per_request": round(1000 * run["cpu_s"] / len(latencies), 3),
    }


async def _loop_marks(client: httpx.AsyncClient) -> tuple[float, float]:
    """From the API's /metrics: its garbage collector's full runs so far, and how many times
    its event loop ran a timer more than 100 ms late."""
    full_runs = late = total = 0.0
    for family in text_string_to_metric_families((await client.get("/metrics")).text):
        for sample in family.samples:
            if sample.name == "python_gc_collections_total" and sample.labels["generation"] == "2":
                full_runs = sample.value
            elif sample.name == "streetlight_api_loop_lag_seconds_count":
                total = sample.value
            elif sample.name == "streetlight_api_loop_lag_seconds_bucket" and (
                sample.labels["le"] == "0.1"
            ):
                late = -sample.value
    return full_runs, total + late


async def _window(client: httpx.AsyncClient, paced: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A paced run's figures, with the full GC runs and the event loop held over 100 ms
    (sampled every 100 ms) while it ran."""
    before = await _loop_marks(client)
    figures = await paced
    after = await _loop_marks(client)
    figures["full_gc_runs"] = after[0] - before[0]
    figures["loop_held_over_100ms"] = after[1] - before[1]
    return figures


async def _until_quiet(server: psutil.Process) -> float:
    """Wait until the API has done what a start leaves it (the first night's sun times for
    every calendar and site, the reports of every lamp): a second under QUIET_PCT of a core,
    at most SETTLE_S; the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < SETTLE_S:
        before = _cpu_s(server)
        await asyncio.sleep(1.0)
        if 100 * (_cpu_s(server) - before) < QUIET_PCT:
            break
    return round(time.perf_counter() - started, 1)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _figures(latencies: list[float], rate: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "requests_per_s": round(rate, 1),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
        "errors": errors,
    }


async def _measure(
    port: int, key: str, inventory: Inventory, args: argparse.Namespace, server: psutil.Process
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    figures: dict[str, Any] = {}
    figures["settled_after_s"] = await _until_quiet(server)
    idle = _cpu_s(server)
    await asyncio.sleep(IDLE_S)
    figures["server_idle_cpu_pct"] = round(100 * (_cpu_s(server) - idle) / IDLE_S, 1)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key},
                                 timeout=30) as client:  # fmt: skip
        paths = set((await client.get("/api/v1/openapi.json")).json()["paths"])
        lamps = sorted(inventory.lamps)
        some = random.sample(lamps, min(len(lamps), 10_000))
        figures["lamp_state"] = await _window(client, _paced(
            port, key, [f"/api/v1/lamps/{lamp}/state" for lamp in some],
            rate=args.rate, seconds=args.seconds, server=server,
        ))  # fmt: skip
        if "/api/v1/alarms" in paths:
            pages = await _with_cursors(client, _alarm_paths(inventory, ALARM_PATHS))
            figures["alarm_list"] = await _window(client, _paced(
                port, key, pages, rate=args.rate, seconds=args.seconds, server=server
            ))  # fmt: skip
            figures["alarm_list"]["distinct_queries"] = len(pages)
        else:
            figures["alarm_list"] = "no /api/v1/alarms route in this build"
        district: list[float] = []
        size = 0
        before = _cpu_s(server)
        for _ in range(args.district):
            started = time.perf_counter()
            response = await client.get("/api/v1/district/state")
            district.append(time.perf_counter() - started)
            size = len(response.content)
        used = _cpu_s(server) - before
        figures["district_state"] = {
            **_figures(district, len(district) / sum(district), 0),
            "bytes": size,
            "server_cpu_ms_per_request": round(1000 * used / len(district), 1),
        }
    return figures


async def _freshness(
    base: str, key: str, url: MqttUrl, inventory: Inventory, times: int
) -> dict[str, Any]:
    """How soon a report on the bus shows: in the lamp's state (polled) and on the event
    stream, for `times` lamps each switched off by a report of its own."""
    lamps = random.sample(sorted(inventory.lamps), times)
    topic = Topics(BUS).telemetry(TargetKind.GATEWAY, "gw-bench")
    seen: dict[str, float] = {}

    async def listen(client: httpx.AsyncClient, ready: asyncio.Event) -> None:
        async with client.stream("GET", "/api/v1/events", timeout=None) as stream:
            ready.set()
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and '"lamps"' in line:
                    for lamp in orjson.loads(line[6:])["lamps"]["id"]:
                        seen.setdefault(lamp, time.perf_counter())

    state_ms: list[float] = []
    stream_ms: list[float] = []
    async with (
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30) as client,
        make_client(url, identifier="bench-api-fresh") as bus,
    ):
        ready = asyncio.Event()
        listener = asyncio.create_task(listen(client, ready))
        await asyncio.wait_for(ready.wait(), 10)
        for lamp in lamps:
            reading = LampTelemetry(lamp=lamp, ts=datetime.now(UTC), relay_on=False,
                                    dim_pct=0, power_w=0.0)  # fmt: skip
            await publish(bus, topic, encode(TelemetryBatch(source="gw-bench", lamps=[reading])))
            sent = time.perf_counter()
            while True:
                body = (await client.get(f"/api/v1/lamps/{lamp}/state")).json()
                if body["reported"] and body["reported"]["relay_on"] is False:
                    state_ms.append(1000 * (time.perf_counter() - sent))
                    break
                if time.perf_counter() - sent > 10:
                    raise SystemExit(f"{lamp}'s report never showed in its state")
            deadline = time.perf_counter() + 10
            while lamp not in seen and time.perf_counter() < deadline:  # noqa: ASYNC110 - a dict the listener fills
                await asyncio.sleep(0.005)
            if lamp in seen:
                stream_ms.append(1000 * (seen[lamp] - sent))
        listener.cancel()
    return {
        "lamps": times,
        "to_state_ms": {"p50": round(statistics.median(state_ms), 1),
                        "max": round(max(state_ms), 1)},
        "to_stream_ms": {"p50": round(statistics.median(stream_ms), 1) if stream_ms else None,
                         "max": round(max(stream_ms), 1) if stream_ms else None,
                         "seen": len(stream_ms)},
    }  # fmt: skip


async def _alarm_freshness(
    base: str, key: str, db_url: str, url: MqttUrl, inventory: Inventory, *, times: int
) -> dict[str, Any]:
    """How soon an alarm the controller writes shows in the alarm list: `times` alarms, each
    written to the store and then published on the bus as the controller does, the list of
    its lamp asked until it holds it (target: within 2 s of the store)."""
    engine = await open_engine(db_url)
    lamps = random.sample(sorted(inventory.lamps), times)
    shown_ms: list[float] = []
    try:
        async with (
            httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30) as client,
            make_client(url, identifier="bench-api-alarms") as bus,
        ):
            for n, lamp in enumerate(lamps, start=ALARMS + 1):
                now = datetime.now(UTC)
                raised = Transition(n, AlarmType.LAMP_FAILURE, f"lamp:{lamp}",
                                    SEVERITY[AlarmType.LAMP_FAILURE],
                                    inventory.place(lamp).site_id, now, "bench",
                                    AlarmChange.RAISED, now, AlarmState.RAISED, None, None,
                                    "")  # fmt: skip
                async with sessions(engine)() as session, session.begin():
                    await write_transitions(session, [raised])
                stored = time.perf_counter()
                event = AlarmEvent(id=f"al-{n}", type=raised.type, asset=Target(
                    kind=TargetKind.LAMP, id=lamp), severity=raised.severity,
                    state=AlarmState.RAISED, at=now, raised_at=now)  # fmt: skip
                topic = Topics(BUS).alarm(TargetKind.LAMP, lamp, raised.type.value)
                await publish(bus, topic, encode(event), retain=True)
                path = f"/api/v1/alarms?asset=lamp:{lamp}&state=open"
                while not (await client.get(path)).json()["items"]:
                    if time.perf_counter() - stored > 10:
                        raise SystemExit(f"al-{n} never showed in the alarm list")
                    await asyncio.sleep(0.005)
                shown_ms.append(1000 * (time.perf_counter() - stored))
                await publish(bus, topic, b"", retain=True)
    finally:
        await engine.dispose()
    return {"alarms": times, "to_list_ms": {"p50": round(statistics.median(shown_ms), 1),
                                            "max": round(max(shown_ms), 1)}}  # fmt: skip


async def _alarm_memory(db_url: str) -> dict[str, Any]:
    """What the API's alarm list holds in memory (api.alarm_index), loaded here from the filled
    store: the load's time, then the bytes held after a load under tracemalloc, per alarm."""
    engine = await open_engine(db_url)
    try:
        started = time.perf_counter()
        await AlarmIndex(sessions(engine), 1.0).load()
        load_s = time.perf_counter() - started
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        index = AlarmIndex(sessions(engine), 1.0)
        await index.load()
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    finally:
        await engine.dispose()
    return {"alarms": len(index), "load_s": round(load_s, 2), "mib": round(held / 2**20, 1),
            "bytes_per_alarm": round(held / len(index))}  # fmt: skip


async def run_backend(
    backend: str, inventory: Inventory, state: ServiceState, directory: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    postgres = None
    if backend == "postgresql":
        postgres = Postgres()
        postgres.start()
        db_url = postgres.create_database("bench")
    else:
        db_url = f"sqlite:///{directory / 'bench.db'}"
    try:
        filled = time.perf_counter()
        key = await _fill(db_url, inventory)
        print(f"{backend}: store filled in {time.perf_counter() - filled:.0f} s", flush=True)
        alarm_memory = await _alarm_memory(db_url)
        port = free_port()
        profile = None if args.profile is None else args.profile / f"api-{backend}.prof"
        api = _start_api(db_url, state, port, directory / f"api-{backend}.log", profile)
        base = f"http://127.0.0.1:{port}"
        try:
            await _until_up(base, api)
            await _report_every_lamp(MqttUrl.parse(state.mqtt_url), inventory)
            await asyncio.sleep(3)  # the reports reach the live state
            figures = await _measure(port, key, inventory, args, psutil.Process(api.pid))
            figures["alarm_index"] = alarm_memory
            figures["freshness"] = await _freshness(
                base, key, MqttUrl.parse(state.mqtt_url), inventory, 20
            )
            figures["alarm_freshness"] = await _alarm_freshness(
                base, key, db_url, MqttUrl.parse(state.mqtt_url), inventory, times=10
            )
            figures["api_rss_mib"] = round(psutil.Process(api.pid).memory_info().rss / 2**20, 1)
        finally:
            api.terminate()
            api.wait(30)
    finally:
        if postgres is not None:
            postgres.remove()
    return figures


async def _until_up(base: str, api: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_WAIT_S
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if api.poll() is not None:
                raise SystemExit("the API stopped at start; see its log")
            try:
                if (await client.get(f"{base}/health")).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the API did not answer in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lamps", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--district", type=int, default=30, help="district calls, in turn")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--var", type=Path, help="keep the stores and logs here")
    parser.add_argument("--profile", type=Path,
                        help="run the API under cProfile; its figures go here, one file a backend "
                        "(they cost the API CPU: not for the figures of record)")  # fmt: skip
    args = parser.parse_args()
    inventory = _generate(args.lamps)
    print(f"district: {len(inventory.lamps)} lamps, {ALARMS} alarms", flush=True)
    results: dict[str, Any] = {"lamps": len(inventory.lamps), "rate": args.rate,
                               "seconds": args.seconds}  # fmt: skip
    with local_servers() as state, run_directory(args.var, "streetlight-api-") as directory:
        for backend in args.backends:
            figures = asyncio.run(run_backend(backend, inventory, state, directory, args))
            results[backend] = figures
            print(f"{backend}: {orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode()}")
    path = write_results("api_load", results)
    print(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
