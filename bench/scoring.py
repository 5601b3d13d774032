"""Scoring alarms against the simulator's ground truth: precision, recall and latency per type.

The truth is the simulator's `--truth` file (a JSON line per fault start and end); the alarms
are `streetlight alarms export` lines. A fault is found by the first alarm of its type on its
asset raised while it lasted (or within `late_s` after it ended: evidence taken during the
fault may arrive a little later). Its latency is that alarm's `raised_at` minus the fault's
start, in simulated seconds, or from when it could first be seen if that is later: the end of
an outage above its asset if it began during one (the lamp had no supply to show it by), or a
time the caller knows from the telemetry (`Fault.visible_at`: when a heating driver passed its
limit). The latency from the start is reported beside it.

Recall is over the faults that could be seen. A lamp fault during an outage of its supply (its
cabinet without supply, its phase lost, its circuit dead) cannot be told from the outage, and
the outage's alarm stands for it: such a fault counts as masked, unless an alarm found it.

Precision is over root alarms, the ones crews are told of; an alarm linked under a root cause
is that cause's consequence. A root alarm that found no fault is one of:
- duplicate: a second alarm for a fault already found (it cleared and was raised again);
- consequence: raised on an asset (or under one) that had another fault at the time, i.e. a
  second alarm for one root cause;
- false: no fault anywhere near it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streetlight.domain import ASSET_KINDS, AlarmType, AssetKind, Inventory

# the lamp faults, whose alarms must come within 2 reporting intervals; the rest within 1
LAMP_KINDS = frozenset(k for k, assets in ASSET_KINDS.items() if assets == {AssetKind.LAMP})
OUTAGES = frozenset({AlarmType.SUPPLY_LOSS, AlarmType.PHASE_LOSS, AlarmType.CIRCUIT_DEAD})


@dataclass
class Fault:
    kind: AlarmType
    asset: str  # lamp:<id>, circuit:<id> or cabinet:<id>
    start: float  # seconds since the epoch, simulated
    end: float
    phase: str | None = None
    found_by: str | None = None  # the alarm's id
    latency_s: float | None = None
    masked: bool = False
    visible_at: float = 0.0  # when it could first be seen, if later than its start
    never_visible: bool = False  # the caller knows it never showed (a driver that never got hot)


@dataclass
class Alarm:
    id: str
    type: AlarmType
    asset: str
    raised_at: float
    parent: str | None
    verdict: str = "false"  # found, duplicate, consequence or false


@dataclass
class Score:
    faults: list[Fault]
    alarms: list[Alarm]
    interval_s: float
    by_type: dict[str, dict[str, Any]] = field(default_factory=dict)


def epoch_seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def read_truth(records: Iterable[Mapping[str, Any]], end: float) -> list[Fault]:
    """Pair each fault's start with its end; a fault still on at `end` lasts until then."""
    open_: dict[tuple[str, str], Fault] = {}
    faults: list[Fault] = []
    for record in records:
        key = (record["target"], record["kind"])
        if record["event"] == "start":
            fault = Fault(
                AlarmType(record["kind"]), record["target"], epoch_seconds(record["at"]), end,
                record.get("phase"),
            )  # fmt: skip
            open_[key] = fault
            faults.append(fault)
        elif key in open_:
            open_.pop(key).end = epoch_seconds(record["at"])
    return faults


def read_alarms(records: Iterable[Mapping[str, Any]]) -> list[Alarm]:
    return [
        Alarm(r["id"], AlarmType(r["type"]), r["asset"], epoch_seconds(r["raised_at"]), r["parent"])
        for r in records
    ]


class _Tree:
    """Which assets lie above a lamp or a circuit, for masking and consequences."""

    def __init__(self, inventory: Inventory) -> None:
        self.up: dict[str, list[str]] = {}
        self.phase: dict[str, str] = {}
        for lamp in inventory.lamps.values():
            circuit = inventory.circuits[lamp.circuit_id]
            self.up[f"lamp:{lamp.id}"] = [f"circuit:{circuit.id}", f"cabinet:{circuit.cabinet_id}"]
            self.phase[f"lamp:{lamp.id}"] = lamp.phase.value
        for circuit in inventory.circuits.values():
            self.up[f"circuit:{circuit.id}"] = [f"cabinet:{circuit.cabinet_id}"]

    def above(self, asset: str) -> list[str]:
        return [asset, *self.up.get(asset, ())]


def score(
    faults: list[Fault],
    alarms: list[Alarm],
    inventory: Inventory,
    *,
    interval_s: float,
    late_s: float | None = None,
) -> Score:
    late = interval_s if late_s is None else late_s
    tree = _Tree(inventory)
    on_asset: dict[str, list[Fault]] = defaultdict(list)
    for fault in faults:
        on_asset[fault.asset].append(fault)
    alarms = sorted(alarms, key=lambda a: a.raised_at)
    for alarm in alarms:  # each fault is found by the first alarm that fits it
        for fault in on_asset.get(alarm.asset, ()):
            if (
                fault.kind is alarm.type
                and fault.found_by is None
                and fault.start - 1 <= alarm.raised_at <= fault.end + late
            ):
                fault.found_by = alarm.id
                # found after an outage that hid it (the masking rule's outages): seen from
                # the outage's end; found during one (as a consequence): from its start
                outage = _outage_over(fault, tree, on_asset, before_s=2 * interval_s)
                if outage is not None and alarm.raised_at >= outage.end:
                    fault.visible_at = max(fault.visible_at, outage.end)
                fault.visible_at = max(fault.start, fault.visible_at)
                fault.latency_s = alarm.raised_at - fault.visible_at
                alarm.verdict = "found"
                break
    for alarm in alarms:
        if alarm.verdict == "found":
            continue
        nearby = [
            fault
            for asset in tree.above(alarm.asset)
            for fault in on_asset.get(asset, ())
            if fault.start - 1 <= alarm.raised_at <= fault.end + late
        ]
        if any(f.kind is alarm.type and f.asset == alarm.asset for f in nearby):
            alarm.verdict = "duplicate"
        elif nearby:
            alarm.verdict = "consequence"
    for fault in faults:
        # a fault that started during an outage, or so close before one that there was no
        # time to see it (2 reporting intervals), cannot be told from the outage
        fault.masked = fault.found_by is None and (
            fault.never_visible
            or _outage_over(fault, tree, on_asset, before_s=2 * interval_s) is not None
        )
    result = Score(faults, alarms, interval_s)
    result.by_type = _by_type(result)
    return result


def _outage_over(
    fault: Fault, tree: _Tree, on_asset: Mapping[str, list[Fault]], *, before_s: float = 0.0
) -> Fault | None:
    """The outage above a lamp or circuit fault's asset that lasted longest past the fault's
    start, among those on when it started (or starting at most `before_s` after it)."""
    found: Fault | None = None
    for asset in tree.above(fault.asset)[1:]:
        for outage in on_asset.get(asset, ()):
            if outage.kind not in OUTAGES:
                continue
            if outage.kind is AlarmType.PHASE_LOSS and outage.phase != tree.phase.get(fault.asset):
                continue
            if outage.start - before_s <= fault.start <= outage.end and (
                found is None or outage.end > found.end
            ):
                found = outage
    return found


def crossing(readings: list[tuple[float, float]], limit: float, start: float) -> float | None:
    """When a rising series of (time, value) first passed `limit`, interpolated; `start` if
    the first reading is already over it, None if none is."""
    under: tuple[float, float] | None = None
    for at, value in readings:
        if value > limit:
            if under is None:
                return start
            before, low = under
            return before + (at - before) * (limit - low) / (value - low)
        under = (at, value)
    return None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _by_type(result: Score) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    interval = result.interval_s
    for kind in AlarmType:
        faults = [f for f in result.faults if f.kind is kind]
        roots = [a for a in result.alarms if a.type is kind and a.parent is None]
        if not faults and not roots:
            continue
        seen = [f for f in faults if not f.masked]
        found = [f for f in seen if f.found_by is not None]
        latencies = [f.latency_s for f in found if f.latency_s is not None]
        from_start = [
            f.latency_s + f.visible_at - f.start for f in found if f.latency_s is not None
        ]
        verdicts: dict[str, int] = defaultdict(int)
        for alarm in roots:
            verdicts[alarm.verdict] += 1
        limit = 2 if kind in LAMP_KINDS else 1
        p95 = _quantile(latencies, 0.95)
        table[kind.value] = {
            "faults": len(faults),
            "masked": len(faults) - len(seen),
            "found": len(found),
            "recall": round(len(found) / len(seen), 4) if seen else None,
            "root_alarms": len(roots),
            "root_alarms_by_verdict": dict(verdicts),
            "precision": round(verdicts["found"] / len(roots), 4) if roots else None,
            "latency_s_p50": _rounded(_quantile(latencies, 0.5)),
            "latency_s_p95": _rounded(p95),
            "latency_intervals_p95": _rounded(p95 / interval if p95 is not None else None, 2),
            "latency_from_start_s_p95": _rounded(_quantile(from_start, 0.95)),
            "latency_target_intervals": limit,
        }
    return table


def _rounded(value: float | None, digits: int = 0) -> float | None:
    return None if value is None else round(value, digits)


def totals(result: Score) -> dict[str, Any]:
    seen = [f for f in result.faults if not f.masked]
    found = [f for f in seen if f.found_by is not None]
    roots = [a for a in result.alarms if a.parent is None]
    right = [a for a in roots if a.verdict == "found"]
    verdicts: dict[str, int] = defaultdict(int)
    for alarm in roots:
        verdicts[alarm.verdict] += 1
    return {
        "faults": len(result.faults),
        "masked": len(result.faults) - len(seen),
        "found": len(found),
        "recall": round(len(found) / len(seen), 4) if seen else None,
        "alarms": len(result.alarms),
        "root_alarms": len(roots),
        "root_alarms_by_verdict": dict(verdicts),
        "precision": round(len(right) / len(roots), 4) if roots else None,
    }


def misses(result: Score, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
    """Examples of what went wrong, for whoever reads the figures."""

    def when(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")

    missed = [f for f in result.faults if f.found_by is None and not f.masked]
    wrong = [a for a in result.alarms if a.parent is None and a.verdict != "found"]
    return {
        "missed_faults": [
            {"kind": f.kind.value, "asset": f.asset, "start": when(f.start), "end": when(f.end)}
            for f in missed[:limit]
        ],
        "wrong_root_alarms": [
            {
                "id": a.id,
                "type": a.type.value,
                "asset": a.asset,
                "raised_at": when(a.raised_at),
                "verdict": a.verdict,
            }
            for a in wrong[:limit]
        ],
    }
