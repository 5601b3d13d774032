"""What the controller's KPI writer costs for a large district: CPU per 5-minute round and per
night summary, and the points it writes. Used by bench/dashboard_queries.py.

The district is the sample's, generated at a scale of about `lamps` lamps
(examples/xunyang/generate.py). Every lamp has a fresh report at every mark (devices reporting
each minute: the most work a round can have), lit at 50 % and told on since dusk; one lamp in
two hundred has an open lamp_failure alarm with its work order in the store (SQLite). The writer
runs its rounds directly, on a manual clock, in this otherwise idle process: CPU time is the
process's (the store's thread included). The points of a round and of the night are counted,
and written to InfluxDB once to time that too.
"""

from __future__ import annotations

import importlib
import math
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.alarms import AlarmBook, ThresholdBook
from controller.kpi import KpiWriter
from controller.schedule import Dispatcher
from streetlight.clock import ManualClock
from streetlight.contract import LampTelemetry, Topics
from streetlight.domain import SEVERITY, AlarmChange, AlarmType, Inventory
from streetlight.influx import InfluxClient
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.alarms import Transition, write_transitions
from streetlight.store.workorders import open_order

ROOT = Path(__file__).resolve().parents[1]
LAMPS_PER_SCALE = 2305  # the sample district at scale 1
SHANGHAI = ZoneInfo("Asia/Shanghai")
DUSK = datetime(2026, 12, 21, 17, 30, tzinfo=SHANGHAI)
MARKS = tuple(
    datetime(2026, 12, 21, 21, 0, tzinfo=SHANGHAI) + timedelta(minutes=5 * n) for n in range(5)
)
NOON = datetime(2026, 12, 22, 12, 0, tzinfo=SHANGHAI)  # the night ends: its summary
FAILED_ONE_IN = 200


def district(lamps: int) -> Inventory:
    """The sample district at the smallest scale with at least `lamps` lamps."""
    sys.path.insert(0, str(ROOT / "examples" / "xunyang"))
    generate = importlib.import_module("generate").generate
    scale = math.ceil(lamps / LAMPS_PER_SCALE)
    inventory: Inventory = generate(scale=scale)
    while len(inventory.lamps) < lamps:
        scale += 1
        inventory = generate(scale=scale)
    return inventory


def _readings(dispatcher: Dispatcher, inventory: Inventory, at: datetime, step: int) -> None:
    """A fresh report of every lamp (built without validation: the bench's, not the writer's
    cost), lit at 50 %, its counter 10 Wh on since the last."""
    for index, lamp_id in enumerate(inventory.lamps):
        dispatcher.reported[lamp_id] = LampTelemetry.model_construct(
            lamp=lamp_id, ts=at - timedelta(seconds=index % 60), relay_on=True, dim_pct=50,
            power_w=30.0, energy_wh=1000.0 + 10.0 * step, faults=[],
        )  # fmt: skip


async def _faults(writer: KpiWriter, inventory: Inventory, engine: Any) -> int:
    """Open lamp_failure alarms on one lamp in `FAILED_ONE_IN`, stored with their orders."""
    changes: list[Transition] = []
    book = writer.book
    book.on_change = lambda alarm, change, at, note: changes.append(
        alarm.transition(change, at, note)
    )
    lamps = sorted(inventory.lamps)[::FAILED_ONE_IN]
    for lamp in lamps:
        book.raise_now(AlarmType.LAMP_FAILURE, f"lamp:{lamp}", DUSK + timedelta(minutes=20))
    async with sessions(engine)() as session, session.begin():
        await write_transitions(session, changes)
        for t in changes:
            if t.change is AlarmChange.RAISED:
                await open_order(
                    session, alarm_id=t.alarm_id, maintainer="bench",
                    severity=SEVERITY[t.type], opened_at=t.at,
                    deadline=t.at + timedelta(hours=24),
                )  # fmt: skip
    return len(lamps)


async def measure(lamps: int, influx_url: str | None) -> dict[str, Any]:
    inventory = district(lamps)
    with tempfile.TemporaryDirectory(prefix="streetlight-kpi-") as directory:
        engine = await open_engine(f"sqlite:///{Path(directory) / 'store.db'}")
        try:
            async with sessions(engine)() as session, session.begin():
                await save_inventory(session, inventory, "bench")
            return await _rounds(inventory, engine, influx_url)
        finally:
            await engine.dispose()


async def _rounds(inventory: Inventory, engine: Any, influx_url: str | None) -> dict[str, Any]:
    clock = ManualClock(DUSK)
    dispatcher = Dispatcher(inventory, Topics("bench"), clock)
    for lamp in inventory.lamps:
        dispatcher.asserted[lamp], dispatcher.asserted_at[lamp] = 50, DUSK
    writer = KpiWriter(
        inventory, clock, engine, dispatcher=dispatcher, book=AlarmBook(inventory),
        thresholds=ThresholdBook(), confirm_s=180,
    )  # fmt: skip
    failed = await _faults(writer, inventory, engine)
    started = time.process_time()
    writer.look(scan=True)  # every lamp told on: the scan after the dusk commands
    scan_cpu_s = time.process_time() - started
    rounds: list[float] = []
    lines: list[int] = []
    for step, mark in enumerate(MARKS):
        _readings(dispatcher, inventory, mark, step)
        await clock.advance((mark - clock.now()).total_seconds())
        await writer.round(mark)
        rounds.append(writer.stats.last_round_cpu_s)
        lines.append(writer.stats.last_round_lines)
    started = time.process_time()
    writer.look()  # a tick with no command sent: the waiting lamps only
    look_cpu_s = time.process_time() - started
    _readings(dispatcher, inventory, NOON, len(rounds))
    await clock.advance((NOON - clock.now()).total_seconds())
    await writer.round(NOON)  # the night's end: its summary too
    night_cpu_s = writer.stats.last_night_cpu_s
    noon_round_cpu_s = writer.stats.last_round_cpu_s  # the night summary apart
    round_cpu_s = statistics.median(rounds)
    write_s = await _write(writer, influx_url) if influx_url else None
    return {
        "lamps": len(inventory.lamps),
        "sites": len(inventory.sites),
        "nodes": len(writer.tree.nodes),
        "open_alarms": failed,
        "round_cpu_s_median": round(round_cpu_s, 3),
        "round_cpu_s_max": round(max(rounds), 3),
        "noon_round_cpu_s": round(noon_round_cpu_s, 3),
        "night_summary_cpu_s": round(night_cpu_s, 3),
        "scan_after_commands_cpu_s": round(scan_cpu_s, 4),
        "tick_look_cpu_s": round(look_cpu_s, 5),
        "round_points": statistics.median(lines),
        "night_summary_points": writer.stats.last_night_lines,
        "per_night": {
            "rounds": 288,
            "cpu_s": round(288 * round_cpu_s + night_cpu_s, 1),
            "points": round(288 * statistics.median(lines) + writer.stats.last_night_lines),
        },
        "write_backlog_s": write_s,
    }


async def _write(writer: KpiWriter, influx_url: str) -> float:
    """Write every point the rounds queued (six marks and a night) to InfluxDB: wall seconds."""
    async with InfluxClient(influx_url, "dashboards", timeout=60) as client:
        started = time.perf_counter()
        done = await writer.outbox.flush(client)
        assert done, "InfluxDB did not take the KPI points"
        return round(time.perf_counter() - started, 2)
