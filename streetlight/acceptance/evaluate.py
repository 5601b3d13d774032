"""The five criteria, judged from gathered inputs alone (no I/O, no clock): the same inputs
and criteria give the same result, which is what lets a stored run be reproduced.

docs/contract.md ("Acceptance") says how each is judged; in short:
1. complete: every planned lamp installed, registered and reporting in every night;
2. lighting_rate: the site's nightly lighting rate at or above its road class's target every
   night (the KPI writer's `kpi_night` rate where it wrote one, else the lamps' samples); a
   night below names the lamps that were dark in it;
3. switch_times: every lamp's switch-on and switch-off within the tolerance of the plan every
   night (never switched counts as outside);
4. energy: every lamp's mean power at each dim level within the tolerance of the curve's;
5. faults_closed: no fault alarm open at the window's end, and every work order of the window
   closed (销号) by the end and within its deadline.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from streetlight.acceptance.criteria import AcceptanceCriteria
from streetlight.acceptance.inputs import AcceptanceInputs, LampNight, SiteNight
from streetlight.acceptance.model import (
    AcceptanceResult,
    CriterionKey,
    CriterionResult,
    Finding,
    NightSeries,
    Verdict,
)
from streetlight.acceptance.model import FigureName as Name
from streetlight.acceptance.model import FindingKind as Kind

PLANNED = frozenset({"planned", "installed"})
NOON_H = 12
NEVER = {"on": Kind.NEVER_ON, "off": Kind.NEVER_OFF}
OUTSIDE = {("late", "on"): Kind.LATE_ON, ("early", "on"): Kind.EARLY_ON,
           ("late", "off"): Kind.LATE_OFF, ("early", "off"): Kind.EARLY_OFF}  # fmt: skip
ENERGY = {"high": Kind.ENERGY_HIGH, "low": Kind.ENERGY_LOW}


def nights_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def night_of(moment: datetime, tz: ZoneInfo) -> date:
    """The evening's date of the night `moment` is in (nights run from local noon)."""
    local = moment.astimezone(tz)
    return local.date() if local.hour >= NOON_H else local.date() - timedelta(days=1)


def _verdict(findings: list[Finding], passed: bool | None = None) -> Verdict:
    ok = not findings if passed is None else passed
    return Verdict.PASS if ok else Verdict.FAIL


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 3)


def _iso_ms(ms: int, tz: ZoneInfo) -> str:
    """A moment for a finding's sentence, in the site's local time."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M:%S")


def evaluate(
    inputs: AcceptanceInputs, criteria: AcceptanceCriteria, *, run_id: str, inputs_sha256: str
) -> AcceptanceResult:
    nights = nights_of(inputs.first_night, inputs.last_night)
    by_night: dict[date, list[LampNight]] = defaultdict(list)
    for row in inputs.lamp_nights:
        by_night[row.night].append(row)
    results = [
        _complete(inputs, nights),
        _lighting_rate(inputs, criteria, nights, by_night),
        _switch_times(inputs, criteria),
        _energy(inputs, criteria),
        _faults_closed(inputs),
    ]
    passed = all(r.verdict is Verdict.PASS for r in results)
    return AcceptanceResult(
        run_id=run_id,
        site=inputs.site,
        site_name=inputs.site_name,
        subdistrict=inputs.subdistrict,
        community=inputs.community,
        project=inputs.project,
        maintainer=inputs.maintainer,
        road_class=inputs.road_class,
        lamps=sum(1 for lamp in inputs.lamps if lamp.status in PLANNED),
        first_night=inputs.first_night,
        last_night=inputs.last_night,
        computed_at=inputs.gathered_at,
        verdict=Verdict.PASS if passed else Verdict.FAIL,
        criteria=results,
        nights=[_series(inputs, criteria, night, by_night[night]) for night in nights],
        inputs_sha256=inputs_sha256,
        timezone=inputs.timezone,
    )


# --- 1. complete ---------------------------------------------------------------------------------


def _complete(inputs: AcceptanceInputs, nights: list[date]) -> CriterionResult:
    key = CriterionKey.COMPLETE
    heard: dict[str, set[date]] = defaultdict(set)
    for row in inputs.lamp_nights:
        if row.reports > 0:
            heard[row.lamp].add(row.night)
    findings: list[Finding] = []
    planned = installed = registered = reporting = 0
    for lamp in sorted(inputs.lamps, key=lambda lamp: lamp.id):
        if lamp.status not in PLANNED:
            continue
        planned += 1
        asset = f"lamp:{lamp.id}"
        if lamp.status != "installed":
            findings.append(Finding(key, Kind.NOT_INSTALLED, asset, None, lamp.status, "installed",
                                    f"lamp {lamp.id} is planned but not installed"))  # fmt: skip
            continue
        installed += 1
        if not lamp.registered:
            findings.append(Finding(key, Kind.NOT_REGISTERED, asset, None, None, None,
                                    f"lamp {lamp.id} is installed but the system cannot take "
                                    "its reports (its profile or device address)"))  # fmt: skip
            continue
        registered += 1
        silent = [night for night in nights if night not in heard[lamp.id]]
        if not silent:
            reporting += 1
        findings.extend(
            Finding(key, Kind.NOT_REPORTING, asset, night, 0.0, 1.0,
                    f"lamp {lamp.id} sent no report in the night of {night}")
            for night in silent
        )  # fmt: skip
    return CriterionResult(
        key,
        _verdict(findings, passed=not findings and planned > 0),
        {Name.REPORTING_PCT: 100.0},
        {
            Name.PLANNED: planned,
            Name.INSTALLED: installed,
            Name.REGISTERED: registered,
            Name.REPORTING: reporting,
            Name.REPORTING_PCT: _pct(reporting, planned),
        },
        findings,
    )


# --- 2. lighting rate ----------------------------------------------------------------------------


def _lighting_rate(
    inputs: AcceptanceInputs,
    criteria: AcceptanceCriteria,
    nights: list[date],
    by_night: dict[date, list[LampNight]],
) -> CriterionResult:
    key = CriterionKey.LIGHTING_RATE
    target = criteria.target_of(inputs.road_class)
    site_nights = {n.night: n for n in inputs.nights}
    findings: list[Finding] = []
    worst: tuple[float, date] | None = None
    below = 0
    for night in nights:
        rate, source = _rate_of(site_nights.get(night), by_night[night])
        if rate is None:
            below += 1
            findings.append(Finding(key, Kind.NO_RATE, f"site:{inputs.site}", night, None, target,
                                    f"no lamp of the site was seen due to be lit in the night "
                                    f"of {night}: its lighting rate is not known"))  # fmt: skip
            continue
        if worst is None or rate < worst[0]:
            worst = (rate, night)
        if rate >= target:
            continue
        below += 1
        findings.append(Finding(key, Kind.NIGHT_BELOW_TARGET, f"site:{inputs.site}", night,
                                round(rate, 2), target,
                                f"the night of {night}: lighting rate {rate:.2f} % "
                                f"({source}) below the target {target:g} %"))  # fmt: skip
        dark = sorted(
            (row for row in by_night[night] if row.lit_ok < row.should_lit),
            key=lambda row: (row.lit_ok - row.should_lit, row.lamp),
        )
        for row in dark:
            lit = _pct(row.lit_ok, row.should_lit) or 0.0
            findings.append(Finding(key, Kind.DARK, f"lamp:{row.lamp}", night, lit, 100.0,
                                    f"lamp {row.lamp} was dark in {row.should_lit - row.lit_ok} "
                                    f"of {row.should_lit} samples it should have been lit in "
                                    f"the night of {night} (lit {lit:.1f} %)"))  # fmt: skip
    return CriterionResult(
        key,
        _verdict(findings, passed=below == 0),
        {Name.TARGET_PCT: target},
        {
            Name.WORST_RATE_PCT: None if worst is None else round(worst[0], 3),
            Name.WORST_NIGHT: None if worst is None else worst[1].isoformat(),
            Name.NIGHTS: len(nights),
            Name.NIGHTS_BELOW_TARGET: below,
        },
        findings,
    )


def _rate_of(site: SiteNight | None, lamps: list[LampNight]) -> tuple[float | None, str]:
    """The night's rate: the KPI writer's, else the lamps' samples."""
    if site is not None and site.lighting_rate_pct is not None:
        return site.lighting_rate_pct, "kpi_night"
    should = sum(row.should_lit for row in lamps)
    lit = sum(row.lit_ok for row in lamps)
    return (None, "") if should == 0 else (100.0 * lit / should, "lamp reports")


# --- 3. switch times -----------------------------------------------------------------------------


def _switch_times(inputs: AcceptanceInputs, criteria: AcceptanceCriteria) -> CriterionResult:
    key = CriterionKey.SWITCH_TIMES
    tolerance = criteria.switch_tolerance_min
    tz = ZoneInfo(inputs.timezone)
    installed = {lamp.id for lamp in inputs.lamps if lamp.status == "installed"}
    findings: list[Finding] = []
    judged = 0
    worst: float | None = None
    for row in sorted(inputs.lamp_nights, key=lambda r: (r.night, r.lamp)):
        if row.lamp not in installed:
            continue
        for edge, plan, seen in (
            ("on", row.on_plan_ms, row.on_seen_ms),
            ("off", row.off_plan_ms, row.off_seen_ms),
        ):
            if plan is None:
                continue
            judged += 1
            asset = f"lamp:{row.lamp}"
            if seen is None:
                findings.append(Finding(key, NEVER[edge], asset, row.night, None, tolerance,
                                        f"lamp {row.lamp} was not seen switched {edge} after "
                                        f"the plan's {_iso_ms(plan, tz)} in the night of "
                                        f"{row.night}"))  # fmt: skip
                continue
            delay = round((seen - plan) / 60_000, 2)
            if worst is None or abs(delay) > abs(worst):
                worst = delay
            if abs(delay) > tolerance:
                word = "late" if delay > 0 else "early"
                kind = OUTSIDE[word, edge]
                findings.append(Finding(key, kind, asset, row.night, delay, tolerance,
                                        f"lamp {row.lamp} switched {edge} {abs(delay):.1f} min "
                                        f"{word} in the night of {row.night} (plan "
                                        f"{_iso_ms(plan, tz)}, seen {_iso_ms(seen, tz)}; tolerance "
                                        f"{tolerance:g} min)"))  # fmt: skip
    lamps_outside = len({f.asset for f in findings})
    return CriterionResult(
        key,
        _verdict(findings, passed=not findings and judged > 0),
        {Name.TOLERANCE_MIN: tolerance},
        {
            Name.MAX_DELAY_MIN: worst,
            Name.SWITCHES_JUDGED: judged,
            Name.LAMPS_OUTSIDE: lamps_outside,
        },
        findings,
    )


# --- 4. energy -----------------------------------------------------------------------------------


def _energy(inputs: AcceptanceInputs, criteria: AcceptanceCriteria) -> CriterionResult:
    key = CriterionKey.ENERGY
    tolerance = criteria.energy_tolerance_pct
    findings: list[Finding] = []
    judged = 0
    worst: float | None = None
    for row in sorted(inputs.lamp_nights, key=lambda r: (r.night, r.lamp)):
        for level in row.power:
            if level.samples == 0 or level.expected_w <= 0:
                continue
            judged += 1
            deviation = round(100.0 * (level.mean_w - level.expected_w) / level.expected_w, 2)
            if worst is None or abs(deviation) > abs(worst):
                worst = deviation
            if abs(deviation) > tolerance:
                word = "high" if deviation > 0 else "low"
                findings.append(Finding(key, ENERGY[word], f"lamp:{row.lamp}", row.night,
                                        round(level.mean_w, 2), round(level.expected_w, 2),
                                        f"lamp {row.lamp} drew {level.mean_w:.1f} W at "
                                        f"{level.dim_pct} % in the night of {row.night}, "
                                        f"{deviation:+.1f} % of the rated curve's "
                                        f"{level.expected_w:.1f} W (tolerance "
                                        f"{tolerance:g} %)"))  # fmt: skip
    return CriterionResult(
        key,
        _verdict(findings, passed=not findings and judged > 0),
        {Name.TOLERANCE_PCT: tolerance},
        {Name.MAX_DEVIATION_PCT: worst, Name.LEVELS_JUDGED: judged},
        findings,
    )


# --- 5. faults closed ----------------------------------------------------------------------------


def _faults_closed(inputs: AcceptanceInputs) -> CriterionResult:
    key = CriterionKey.FAULTS_CLOSED
    zone = ZoneInfo(inputs.timezone)
    end = inputs.window_end
    findings = [
        Finding(key, Kind.OPEN_ALARM, alarm.asset, night_of(alarm.raised_at, zone), alarm.id, None,
                f"alarm {alarm.id} ({alarm.type}) on {alarm.asset}, raised "
                f"{alarm.raised_at.isoformat()}, was still open at the window's end")
        for alarm in inputs.alarms
    ]  # fmt: skip
    in_time = 0
    for order in inputs.orders:
        night = night_of(order.opened_at, zone)
        if order.closed_at is None or order.closed_at > end:
            findings.append(Finding(key, Kind.OPEN_ORDER, order.asset, night, order.state,
                                    "closed",
                                    f"work order {order.id} ({order.type} on {order.asset}) was "
                                    f"not closed (销号) by the window's end; it is "
                                    f"{order.state}"))  # fmt: skip
        elif order.closed_at > order.deadline:
            findings.append(Finding(key, Kind.CLOSED_LATE, order.asset, night,
                                    order.closed_at.isoformat(), order.deadline.isoformat(),
                                    f"work order {order.id} ({order.type} on {order.asset}) "
                                    f"was closed {order.closed_at.isoformat()}, after its "
                                    f"deadline {order.deadline.isoformat()}"))  # fmt: skip
        else:
            in_time += 1
    return CriterionResult(
        key,
        _verdict(findings),
        {Name.OPEN_AT_END: 0.0},
        {
            Name.ALARMS_OPEN_AT_END: len(inputs.alarms),
            Name.WORK_ORDERS: len(inputs.orders),
            Name.CLOSED_IN_TIME: in_time,
        },
        findings,
    )


# --- the report's charts -------------------------------------------------------------------------


def _series(
    inputs: AcceptanceInputs, criteria: AcceptanceCriteria, night: date, rows: list[LampNight]
) -> NightSeries:
    site = next((n for n in inputs.nights if n.night == night), None)
    rate, _source = _rate_of(site, rows)

    def med(values: list[int]) -> int | None:
        return round(median(values)) if values else None

    def latest(values: list[int]) -> int | None:
        return max(values) if values else None

    on_plan = [r.on_plan_ms for r in rows if r.on_plan_ms is not None]
    on_seen = [r.on_seen_ms for r in rows if r.on_seen_ms is not None]
    off_plan = [r.off_plan_ms for r in rows if r.off_plan_ms is not None]
    off_seen = [r.off_seen_ms for r in rows if r.off_seen_ms is not None]
    return NightSeries(
        night=night,
        lighting_rate_pct=None if rate is None else round(rate, 3),
        lighting_target_pct=criteria.target_of(inputs.road_class),
        on_plan_ms=med(on_plan),
        on_median_ms=med(on_seen),
        on_latest_ms=latest(on_seen),
        off_plan_ms=med(off_plan),
        off_median_ms=med(off_seen),
        off_latest_ms=latest(off_seen),
    )
