"""Acceptance inputs made by hand: a site of lamps lit and switched as planned over two nights,
and the same with one lamp dark the first night and another 20 minutes late the second (the
evaluation's tests; the console's, which stores a run made from them)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from streetlight.acceptance.inputs import (
    AcceptanceInputs,
    LampInput,
    LampNight,
    LevelPower,
    SiteNight,
)
from streetlight.domain import lamp_power_w

N1, N2 = date(2026, 12, 21), date(2026, 12, 22)
START = datetime(2026, 12, 21, 4, tzinfo=UTC)  # noon in Shanghai
END = START + timedelta(days=2)
ON = int(datetime(2026, 12, 21, 9, 30, tzinfo=UTC).timestamp() * 1000)  # 17:30 local
OFF = int(datetime(2026, 12, 21, 22, 50, tzinfo=UTC).timestamp() * 1000)  # 06:50 local
DAY_MS = 86_400_000


def lamp_night(lamp: str, night: date, **changes: object) -> LampNight:
    shift = (night - N1).days * DAY_MS
    row = LampNight(
        lamp=lamp, night=night, reports=150, should_lit=150, lit_ok=150,
        on_plan_ms=ON + shift, on_seen_ms=ON + shift + 60_000,
        off_plan_ms=OFF + shift, off_seen_ms=OFF + shift + 60_000,
        power=[LevelPower(100, 50, lamp_power_w(60, True, 100), lamp_power_w(60, True, 100)),
               LevelPower(50, 100, lamp_power_w(60, True, 50), lamp_power_w(60, True, 50))],
    )  # fmt: skip
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def inputs(lamps: int = 10, **changes: object) -> AcceptanceInputs:
    ids = [f"PP-S04-L{n:03d}" for n in range(1, lamps + 1)]
    base = AcceptanceInputs(
        site="PP-S04", site_name="site", subdistrict="PP", community="PP-C1", project=None,
        maintainer="M1", road_class="branch", timezone="Asia/Shanghai", first_night=N1,
        last_night=N2, window_start=START, window_end=END, gathered_at=END + timedelta(hours=1),
        lamps=[LampInput(i, "installed", True, 60.0) for i in ids],
        nights=[SiteNight(N1, 100.0, 96.0, lamps), SiteNight(N2, 100.0, 96.0, lamps)],
        lamp_nights=[lamp_night(i, n) for n in (N1, N2) for i in ids],
        alarms=[], orders=[],
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def failing_inputs() -> AcceptanceInputs:
    """PP-S04-L007 dark all the first night (the site's rate 90 %, its target 96 %) and
    PP-S04-L002 switched on 20 minutes late the second: criteria 2 and 3 fail, naming them."""
    data = inputs(nights=[SiteNight(N1, 90.0, 96.0, 10), SiteNight(N2, 100.0, 96.0, 10)])
    changes = {
        ("PP-S04-L007", N1): {"lit_ok": 0},
        ("PP-S04-L002", N2): {"on_seen_ms": ON + DAY_MS + 20 * 60_000},
    }
    rows = [dataclasses.replace(r, **changes.get((r.lamp, r.night), {}))  # type: ignore[arg-type]
            for r in data.lamp_nights]  # fmt: skip
    return dataclasses.replace(data, lamp_nights=rows)
