"""Background faults: drawn night by night at a scenario's rate, the same for the same seed."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Any

from astral import Observer
from astral.sun import sunrise, sunset

from streetlight.domain import AlarmType, AssetKind, Inventory, Phase
from streetlight.scenario import FAULT_TARGETS, FaultEvent, FaultEventKind, FaultTarget, Scenario


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation: exact enough for background noise
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def random_faults_for_night(
    scenario: Scenario,
    inventory: Inventory,
    *,
    seed: int,
    night: date,
    where: Observer,
    tz: Any,
) -> list[FaultEvent]:
    """Background faults starting between sunset of `night` and sunrise after it.

    The same seed and date give the same faults, whenever they are generated.
    """
    if not scenario.random_kinds or scenario.random_rate <= 0:
        return []
    rng = random.Random(seed * 1_000_003 + night.toordinal())
    dusk = sunset(where, night, tzinfo=tz).timestamp()
    dawn = sunrise(where, night + timedelta(days=1), tzinfo=tz).timestamp()
    pools = {
        AssetKind.LAMP: sorted(inventory.lamps),
        AssetKind.CIRCUIT: sorted(inventory.circuits),
        AssetKind.CABINET: sorted(inventory.cabinets),
    }
    events: list[FaultEvent] = []
    taken: set[str] = set()
    for _ in range(_poisson(rng, scenario.random_rate * len(inventory.lamps))):
        kind = scenario.random_kinds[rng.randrange(len(scenario.random_kinds))]
        target_kind = FAULT_TARGETS[kind]
        asset = pools[target_kind][rng.randrange(len(pools[target_kind]))]
        start = dusk + rng.random() * (dawn - dusk)
        minutes = rng.uniform(*scenario.random_minutes)
        phase = (
            (Phase.A, Phase.B, Phase.C)[rng.randrange(3)] if kind is AlarmType.PHASE_LOSS else None
        )
        if asset in taken:
            continue  # one background fault per asset per night keeps the truth unambiguous
        taken.add(asset)
        target = FaultTarget(target_kind, asset)
        events.append(FaultEvent(start, target, kind, FaultEventKind.START, phase))
        events.append(FaultEvent(start + minutes * 60, target, kind, FaultEventKind.END, phase))
    events.sort(key=lambda e: e.at)
    return events
