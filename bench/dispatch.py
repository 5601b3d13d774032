"""The controller's expected-state evaluation: time and memory for 10,000 and 100,000 lamps.

    python bench/dispatch.py [--sizes 10000 100000] [--repeat 5]

For each size, a district generated from the sample's recipe (examples/xunyang/generate.py)
under the sample schedule (examples/xunyang/schedule.yaml), with an override active on one
subdistrict and every cabinet's light sensor known, is evaluated at 22:45 on the winter
solstice: the wall and CPU time of one full evaluation (median of `repeat`), and the memory
the controller's structures take (tracemalloc: the evaluator with its lamp chains, and one
result). Target: one full evaluation of 100,000 lamps in <= 1 s.

The override-to-field latency (10,000 simulated lamps, from an override being set to 99 %
of lamps acknowledged) is not measured yet: see the issue notes.

Figures go to bench/results/dispatch.json.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "xunyang"))

import generate  # noqa: E402

from bench._common import write_results  # noqa: E402
from controller.calendars import GroupRef, Groups, Override  # noqa: E402
from controller.expected import Evaluator  # noqa: E402
from controller.programs import LuxRule  # noqa: E402
from controller.schedule_file import load_schedule_file  # noqa: E402

LAMPS_PER_SCALE = 2305
MOMENT = datetime(2026, 12, 21, 22, 45, tzinfo=ZoneInfo("Asia/Shanghai"))


def _dark(_cabinet: str, _rule: LuxRule) -> tuple[bool | None, datetime | None]:
    return True, MOMENT - timedelta(hours=5)


def measure(lamps: int, repeat: int) -> dict[str, Any]:
    inventory = generate.generate(scale=math.ceil(lamps / LAMPS_PER_SCALE))
    schedule = load_schedule_file(ROOT / "examples" / "xunyang" / "schedule.yaml")
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    figures = {"evaluation": [measure(size, args.repeat) for size in args.sizes]}
    for row in figures["evaluation"]:
        print("evaluation:", row, flush=True)
    print(f"figures written to {write_results('dispatch', figures)}")
