"""Acceptance results built by hand from the fixed model, for the report's tests: a site that
passes every criterion over seven nights, and the same site with one lamp dark one night and
another switching on 20 minutes late another night (criteria 2 and 3 fail, naming them). The
findings' kinds, seen and limit and the figures' names are those the evaluation gives."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from streetlight.acceptance import (
    AcceptanceResult,
    CriterionKey,
    CriterionResult,
    Finding,
    FindingKind,
    NightSeries,
    Verdict,
)
from streetlight.acceptance import FigureName as N
from tests.simulation import SHANGHAI

SITE = "PP-S04"
SITE_NAME = "湓浦路背街小巷"
FIRST = date(2026, 12, 14)
NIGHTS = 7
DARK_LAMP, DARK_NIGHT = "PP-S04-L003", date(2026, 12, 16)
LATE_LAMP, LATE_NIGHT = "PP-S04-L011", date(2026, 12, 18)
LAMPS = 25
Figures = dict[str, float | int | str | None]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _night(day: date, rate: float = 100.0, late_min: float = 1.0) -> NightSeries:
    on = datetime(day.year, day.month, day.day, 17, 35, tzinfo=SHANGHAI)
    off = datetime(day.year, day.month, day.day, 6, 55, tzinfo=SHANGHAI) + timedelta(days=1)
    return NightSeries(
        night=day, lighting_rate_pct=rate, lighting_target_pct=96.0,
        on_plan_ms=_ms(on), on_median_ms=_ms(on + timedelta(minutes=1)),
        on_latest_ms=_ms(on + timedelta(minutes=late_min)),
        off_plan_ms=_ms(off), off_median_ms=_ms(off + timedelta(minutes=1)),
        off_latest_ms=_ms(off + timedelta(minutes=2)),
    )  # fmt: skip


def _criteria(failing: bool) -> list[CriterionResult]:
    below = Finding(
        CriterionKey.LIGHTING_RATE, FindingKind.NIGHT_BELOW_TARGET, f"site:{SITE}", DARK_NIGHT,
        95.83, 96.0, f"the night of {DARK_NIGHT}: lighting rate 95.83 % (kpi_night) below the "
        "target 96 %",
    )  # fmt: skip
    dark = Finding(
        CriterionKey.LIGHTING_RATE, FindingKind.DARK, f"lamp:{DARK_LAMP}", DARK_NIGHT, 0.0, 100.0,
        f"lamp {DARK_LAMP} was dark in 150 of 150 samples it should have been lit in the night "
        f"of {DARK_NIGHT} (lit 0.0 %)",
    )  # fmt: skip
    late = Finding(
        CriterionKey.SWITCH_TIMES, FindingKind.LATE_ON, f"lamp:{LATE_LAMP}", LATE_NIGHT, 20.0,
        5.0, f"lamp {LATE_LAMP} switched on 20.0 min late in the night of {LATE_NIGHT} (plan "
        "17:35:00, seen 17:55:00; tolerance 5 min)",
    )  # fmt: skip
    worst = (95.83, DARK_NIGHT) if failing else (100.0, FIRST)
    rows: list[tuple[CriterionKey, dict[str, float | str], Figures, list[Finding]]] = [
        (CriterionKey.COMPLETE, {N.REPORTING_PCT: 100.0},
         {N.PLANNED: LAMPS, N.INSTALLED: LAMPS, N.REGISTERED: LAMPS, N.REPORTING: LAMPS,
          N.REPORTING_PCT: 100.0}, []),
        (CriterionKey.LIGHTING_RATE, {N.TARGET_PCT: 96.0},
         {N.WORST_RATE_PCT: worst[0], N.WORST_NIGHT: worst[1].isoformat(), N.NIGHTS: NIGHTS,
          N.NIGHTS_BELOW_TARGET: int(failing)}, [below, dark] if failing else []),
        (CriterionKey.SWITCH_TIMES, {N.TOLERANCE_MIN: 5.0},
         {N.MAX_DELAY_MIN: 20.0 if failing else 2.0, N.SWITCHES_JUDGED: 2 * NIGHTS * LAMPS,
          N.LAMPS_OUTSIDE: int(failing)}, [late] if failing else []),
        (CriterionKey.ENERGY, {N.TOLERANCE_PCT: 15.0},
         {N.MAX_DEVIATION_PCT: 3.2, N.LEVELS_JUDGED: 3 * NIGHTS * LAMPS}, []),
        (CriterionKey.FAULTS_CLOSED, {N.OPEN_AT_END: 0.0},
         {N.ALARMS_OPEN_AT_END: 0, N.WORK_ORDERS: 1, N.CLOSED_IN_TIME: 1}, []),
    ]  # fmt: skip
    return [
        CriterionResult(key, Verdict.FAIL if found else Verdict.PASS, threshold, figures, found)
        for key, threshold, figures, found in rows
    ]


def passing() -> AcceptanceResult:
    nights = [_night(FIRST + timedelta(days=i)) for i in range(NIGHTS)]
    return AcceptanceResult(
        run_id="acc-test-pass", site=SITE, site_name=SITE_NAME, subdistrict="湓浦街道",
        community="湓浦社区", project="照亮工程一期", maintainer="浔阳区路灯所",
        road_class="branch", lamps=LAMPS, first_night=FIRST,
        last_night=FIRST + timedelta(days=NIGHTS - 1),
        computed_at=datetime(2026, 12, 21, 12, 30, tzinfo=SHANGHAI), verdict=Verdict.PASS,
        criteria=_criteria(failing=False), nights=nights, inputs_sha256="ab" * 32,
        timezone="Asia/Shanghai",
    )  # fmt: skip


def failing() -> AcceptanceResult:
    nights = [
        _night(day, rate=95.83 if day == DARK_NIGHT else 100.0,
               late_min=20.0 if day == LATE_NIGHT else 1.0)
        for day in (FIRST + timedelta(days=i) for i in range(NIGHTS))
    ]  # fmt: skip
    return dataclasses.replace(
        passing(), run_id="acc-test-fail", verdict=Verdict.FAIL,
        criteria=_criteria(failing=True), nights=nights,
    )  # fmt: skip
