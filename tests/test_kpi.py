"""The KPI writer, proven: every dashboard query, run on a real influxd after a simulated night
of three sites (tests/kpi_night.py), returns the figure this test computes from the simulator's
own state and truth file, the scenario, the inventory and the sun; and the writer keeps its
points through an InfluxDB outage, within its bound.

Where a figure follows from alarms (integrity, alarms, work orders, MTTR) the test takes the
alarms' times from the store: detection is proven against the truth in test_alarm_flow.py;
here it is the writer's arithmetic and the panels that are under test. Panels reading the
`acceptance` measurement find nothing: the acceptance run (issue 18) writes it, not the
controller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest
from astral import Observer
from astral.sun import dawn, dusk, sunrise, sunset
from sqlalchemy import select

import dashboards
from controller.alarms import AlarmBook, ThresholdBook
from controller.kpi import KpiConfig, KpiWriter, Outbox
from controller.schedule import Dispatcher
from dashboards.queries import queries, statement, time_range
from streetlight.clock import ManualClock
from streetlight.contract import KPI, LampTelemetry, Topics
from streetlight.contract.influx_schema import ensure_database
from streetlight.domain import DarkRoadRule, Inventory
from streetlight.domain.workorders import OrderState
from streetlight.influx import InfluxClient, quote_ident
from streetlight.profiles import DEFAULT_DIR
from streetlight.reports import monthly_report
from streetlight.services import Influxd, ServiceState, find_program
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.models import LampRow, WorkOrderRow
from streetlight.store.times import from_store
from tests.conftest import FAST_RETRY
from tests.helpers import eventually, subset
from tests.kpi_night import (
    DARK_LAMPS,
    END,
    EVENING,
    INTERVAL_S,
    MARK_S,
    MORNING,
    NIGHT,
    REPAIRED_LAMP,
    SITES,
    SWITCH_TOLERANCE_MIN,
    Night,
    marks,
    simulate,
)
from tests.simulation import SHANGHAI

EVENING_NOW = EVENING + timedelta(minutes=2)  # when "now" panels are looked at
MORNING_NOW = END  # and the night's summaries
# panels of the state of alarms and orders ask InfluxDB for the last points since `now() -
# 15m` with no end: they are looked at when the night's data ends, as Grafana would see them
END_NOW = END + timedelta(minutes=2)
TICK_S = 30  # the controller evaluates every lamp this often (kpi_night.CONFIG)


# --- what the night should give, from the truth --------------------------------------------------


@dataclass
class Expect:
    """The figures of the night, computed without the KPI writer."""

    inventory: Inventory
    lamps: dict[str, int]
    rated_w: dict[str, float]
    on_plan: dict[str, datetime]  # the program's sunset+5 at each site
    off_plan: dict[str, datetime]  # sunrise-10
    dark_h: dict[str, float]  # civil dusk to civil dawn
    energy_wh: dict[str, float]  # the simulator's meters, noon to noon
    evening_wh: dict[str, float]  # noon to the evening's mark
    lit_h: dict[str, float]  # lamp-hours lit: switched on to off, less the faults' dark hours
    full_wh: dict[str, float]  # rated power over those hours
    power_w: dict[datetime, float]  # the district's draw at each mark
    should_marks: tuple[int, int]  # marks a lamp should be lit, settled (a tick either way)
    faulty_marks: dict[str, tuple[int, int]]  # per site: lamp-marks with an open fault alarm
    repaired_dark_marks: tuple[int, int]  # settled marks the repaired lamp was dark
    mttr_h: float
    alarm_ids: dict[str, str] = field(default_factory=dict)
    order_states: dict[str, str] = field(default_factory=dict)  # asset -> state at the end

    def sum(self, table: dict[str, float], sites: tuple[str, ...] = SITES) -> float:
        return sum(table[s] for s in sites)

    @property
    def all_lamps(self) -> int:
        return sum(self.lamps.values())


def _place(inventory: Inventory, site: str) -> Observer:
    cabinets = [c for c in inventory.cabinets.values() if c.site_id == site]
    return Observer(
        fmean(c.location.lat for c in cabinets), fmean(c.location.lon for c in cabinets)
    )


def _fault_windows(night: Night) -> dict[str, list[tuple[float, float]]]:
    """Each lamp's lamp_failure windows from the truth file (epoch s; open: to the end)."""
    opened: dict[str, float] = {}
    windows: dict[str, list[tuple[float, float]]] = {}
    for line in night.truth.faults:
        if line["kind"] != "lamp_failure":
            continue
        lamp = line["target"].removeprefix("lamp:")
        at = datetime.fromisoformat(line["at"]).timestamp()
        if line["event"] == "start":
            opened[lamp] = at
        else:
            windows.setdefault(lamp, []).append((opened.pop(lamp), at))
    for lamp, start in opened.items():
        windows.setdefault(lamp, []).append((start, END.timestamp()))
    return windows


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _mark_count(start: datetime, end: datetime) -> int:
    return sum(1 for m in marks(NIGHT, MORNING) if start <= m < end)


def expect_of(night: Night) -> Expect:
    inventory = subset(SITES)
    site_of = {
        lamp: inventory.cabinets[
            inventory.circuits[inventory.lamps[lamp].circuit_id].cabinet_id
        ].site_id
        for lamp in inventory.lamps
    }
    lamps = {s: sum(1 for lamp in site_of if site_of[lamp] == s) for s in SITES}
    rated = {
        s: sum(inventory.lamps[lamp].rated_power_w for lamp in site_of if site_of[lamp] == s)
        for s in SITES
    }
    day, morning = NIGHT.date(), MORNING.date()
    places = {s: _place(inventory, s) for s in SITES}
    on_plan = {s: sunset(places[s], day, tzinfo=SHANGHAI) + timedelta(minutes=5) for s in SITES}
    off_plan = {
        s: sunrise(places[s], morning, tzinfo=SHANGHAI) - timedelta(minutes=10) for s in SITES
    }
    dark_h = {
        s: (
            dawn(places[s], morning, tzinfo=SHANGHAI) - dusk(places[s], day, tzinfo=SHANGHAI)
        ).total_seconds()
        / 3600
        for s in SITES
    }
    meters = night.truth.energy_wh
    energy = {s: meters[MORNING][s] - meters[NIGHT][s] for s in SITES}
    evening = {s: meters[EVENING][s] - meters[NIGHT][s] for s in SITES}
    faults = _fault_windows(night)
    lit_h = dict.fromkeys(SITES, 0.0)
    full = dict.fromkeys(SITES, 0.0)
    for lamp, site in site_of.items():
        on, off = night.truth.switched_on[lamp], night.truth.switched_off[lamp]
        seconds = off - on - sum(_overlap((on, off), w) for w in faults.get(lamp, []))
        lit_h[site] += seconds / 3600
        full[site] += inventory.lamps[lamp].rated_power_w * seconds / 3600
    power = {m: sum(p.values()) for m, p in night.truth.power_w.items()}
    # a lamp should be lit, settled, from the tick after sunset+5 plus the confirm time (900 s)
    # to the tick after sunrise-10 (the sites' sun times lie within a few seconds)
    confirm = timedelta(seconds=3 * INTERVAL_S)
    on_at, off_at = on_plan[SITES[0]], off_plan[SITES[0]]
    tick = timedelta(seconds=TICK_S)
    should = sorted(
        _mark_count(on_at + confirm + a, off_at + b)
        for a in (timedelta(0), tick)
        for b in (timedelta(0), tick)
    )
    alarms = {a["asset"]: a for a in night.alarms if a["parent"] is None}
    faulty: dict[str, list[int]] = {s: [0, 0] for s in SITES}
    for alarm in alarms.values():
        if alarm["type"] == "door_open" or not alarm["site"]:
            continue  # not a fault of the facility; or the gateway's data_stale, in no site
        raised = datetime.fromisoformat(alarm["raised_at"])
        cleared = datetime.fromisoformat(alarm["cleared_at"]) if alarm["cleared_at"] else END
        count = _mark_count(raised, cleared)
        faulty[alarm["site"]][0] += count - 1  # a mark either side, as the book hears it
        faulty[alarm["site"]][1] += count + 1
    repaired = alarms[f"lamp:{REPAIRED_LAMP}"]
    (window,) = faults[REPAIRED_LAMP]
    fault_from = datetime.fromtimestamp(window[0], UTC)
    fault_to = datetime.fromtimestamp(window[1], UTC)
    dark = _mark_count(fault_from, fault_to)  # its newest report lags by up to an interval
    mttr = night.crew[OrderState.REPAIRED] - datetime.fromisoformat(repaired["raised_at"])
    return Expect(
        inventory=inventory, lamps=lamps, rated_w=rated, on_plan=on_plan, off_plan=off_plan,
        dark_h=dark_h, energy_wh=energy, evening_wh=evening, lit_h=lit_h, full_wh=full,
        power_w=power, should_marks=(should[0], should[-1]),
        faulty_marks={s: (v[0], v[1]) for s, v in faulty.items()},
        repaired_dark_marks=(dark - 1, dark + 1), mttr_h=mttr.total_seconds() / 3600,
        alarm_ids={asset: a["id"] for asset, a in alarms.items()},
        order_states={o["asset"]: o["state"] for o in night.orders},
    )  # fmt: skip


def night_rate(expect: Expect, sites: tuple[str, ...]) -> tuple[float, float]:
    """The night's lighting rate of `sites` (lowest and highest, over a tick's doubt about when
    lamps were told, and a mark's about when the repaired lamp's reports showed it dark)."""
    rates = []
    for k in expect.should_marks:
        for d in expect.repaired_dark_marks:
            should = sum(expect.lamps[s] for s in sites) * k
            dark = ("PP-S09" in sites) * len(DARK_LAMPS) * k + ("PP-S04" in sites) * d
            rates.append(100 * (should - dark) / should)
    return min(rates), max(rates)


def target(expect: Expect, sites: tuple[str, ...]) -> float:
    """The sites' targets weighted by their lamps (each site's lamps should be lit as long)."""
    own = {"PP-S04": 96.0, "PP-S07": 95.0, "PP-S09": 95.0}  # branch street, residential paths
    return sum(own[s] * expect.lamps[s] for s in sites) / sum(expect.lamps[s] for s in sites)


# --- the night, and each query's answer ----------------------------------------------------------


@pytest.fixture(scope="module")
def night(service_state: ServiceState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    result = asyncio.run(simulate(service_state, tmp_path_factory.mktemp("night")))
    yield result

    async def drop() -> None:
        async with InfluxClient(result.influx_url, result.database, retry=FAST_RETRY) as client:
            await client.execute(f"DROP DATABASE {quote_ident(result.database)}")

    asyncio.run(drop())


@pytest.fixture(scope="module")
def expect(night: Night) -> Expect:
    return expect_of(night)


@dataclass(frozen=True)
class Row:
    tags: dict[str, str]
    time: int | None  # epoch ms
    values: list[Any]  # the columns after `time`, in order


@dataclass(frozen=True)
class Answer:
    rows: list[Row]

    def one(self) -> list[Any]:
        """The values of the only row."""
        assert len(self.rows) == 1, self.rows
        return self.rows[0].values

    def at(self, moment: datetime) -> list[Any]:
        found = [r for r in self.rows if r.time == int(moment.timestamp() * 1000)]
        assert len(found) == 1, (moment, self.rows)
        return found[0].values


async def answer(night: Night, query: str, time_spec: str, now: datetime) -> Answer:
    start, end = time_range(time_spec, now, SHANGHAI)
    sent = statement(query, start, end, {"subdistrict": ".*", "site": "PP-S09"}, now=now)
    async with InfluxClient(night.influx_url, night.database, retry=FAST_RETRY) as client:
        series = await client.query(sent, epoch="ms")
    rows = []
    for s in series:
        timed = "time" in s.columns
        for values in s.values:
            row = dict(zip(s.columns, values, strict=True))
            rows.append(Row(s.tags, row.pop("time") if timed else None, list(row.values())))
    return Answer(rows)


def near(value: float | None, expected: float, rel: float = 0.0, abs_: float = 1e-6) -> bool:
    return value is not None and abs(value - expected) <= max(abs_, rel * abs(expected))


def within(value: float | None, bounds: tuple[float, float], slack: float = 1e-6) -> bool:
    return value is not None and bounds[0] - slack <= value <= bounds[1] + slack


# --- each query's figure -------------------------------------------------------------------------

Check = Callable[[Answer, Expect], None]
RATE_EVENING = 100 * 117 / 120  # 00:20: three lamps of 120 dark, the repaired one lit again


def open_orders(e: Expect) -> set[tuple[str, str]]:
    """The orders not closed at the end, and their states (from the store)."""
    return {(asset, state) for asset, state in e.order_states.items() if state != "closed"}


def _kwh(e: Expect, table: dict[str, float], sites: tuple[str, ...] = SITES) -> float:
    return e.sum(table, sites) / 1000


def _baseline_kwh(e: Expect, sites: tuple[str, ...] = SITES) -> float:
    return sum(e.rated_w[s] * e.dark_h[s] for s in sites) / 1000


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# city overview


def overview_rate(a: Answer, e: Expect) -> None:
    rate, goal = a.one()
    assert near(rate, RATE_EVENING), rate
    assert near(goal, target(e, SITES)), goal


def overview_lamps(a: Answer, e: Expect) -> None:
    assert a.one() == [117, 3, 0, 3]  # on, off (the dark ones), offline, faulty


def overview_energy_tonight(a: Answer, e: Expect) -> None:
    (kwh,) = a.one()
    assert near(kwh, _kwh(e, e.evening_wh), rel=0.01), (kwh, _kwh(e, e.evening_wh))


def overview_energy_month(a: Answer, e: Expect) -> None:
    used, saved = a.one()
    energy = _kwh(e, e.energy_wh)
    assert near(used, energy, rel=0.005), (used, energy)
    assert near(saved, _baseline_kwh(e) - energy, rel=0.01), (saved, _baseline_kwh(e) - energy)


def open_by_severity(a: Answer, e: Expect) -> None:
    assert a.one() == [0, 0, 3]  # emergency, serious, ordinary: the three dark lamps


def overview_rate_bars(a: Answer, e: Expect) -> None:
    ((rate, goal),) = [row.values for row in a.rows]
    assert within(rate, night_rate(e, SITES)), (rate, night_rate(e, SITES))
    assert near(goal, target(e, SITES)), goal


def overview_subdistricts(a: Answer, e: Expect) -> None:
    lamps, online, integrity, alarms, overdue = a.one()
    assert (lamps, online, alarms, overdue) == (120, 100.0, 3, 1)
    assert near(integrity, RATE_EVENING), integrity


def overview_nightly(a: Answer, e: Expect) -> None:
    ((rate,),) = [row.values for row in a.rows]
    assert within(rate, night_rate(e, SITES)), rate


def overview_every_mark(a: Answer, e: Expect) -> None:
    values = [row.values[0] for row in a.rows]
    assert {round(v, 6) for v in values} <= {round(RATE_EVENING, 6), round(100 * 116 / 120, 6)}
    assert within(len(values), e.should_marks), len(values)
    dimmer = sum(1 for v in values if v < RATE_EVENING - 0.1)
    assert within(dimmer, e.repaired_dark_marks), dimmer


# maintenance


def maintenance_orders(a: Answer, e: Expect) -> None:
    assert a.one() == [1, 5]  # overdue (the door's), open


def maintenance_mttr(a: Answer, e: Expect) -> None:
    (mttr,) = a.one()
    assert near(mttr, e.mttr_h, abs_=0.001), (mttr, e.mttr_h)
    assert 3.9 < mttr < 4.1  # from about 19:03, when the dark lamp was first seen, to 23:05


def maintenance_map(a: Answer, e: Expect) -> None:
    seen = {row.tags["asset"]: row.values for row in a.rows}
    assert set(seen) == set(DARK_LAMPS)
    for lamp, (lat, lon, alarm_id, raised_ms) in seen.items():
        where = e.inventory.lamps[lamp].location
        assert (lat, lon) == (where.lat, where.lon)
        assert alarm_id == e.alarm_ids[f"lamp:{lamp}"]
        assert raised_ms > 0


def maintenance_by_type(a: Answer, e: Expect) -> None:
    assert [(r.tags["site"], r.tags["type"], r.values) for r in a.rows] == [
        ("PP-S09", "lamp_failure", [3])
    ]


def maintenance_work_orders(a: Answer, e: Expect) -> None:
    seen = {(row.values[2], row.values[0]) for row in a.rows}
    assert seen == open_orders(e)
    assert len(seen) == 4  # the three dark lamps' and the door's (the repaired one is closed)
    for row in a.rows:
        _state, _type, asset, opened_ms, deadline_ms, overdue_h = row.values
        assert opened_ms < deadline_ms
        assert (overdue_h > 0) == asset.startswith("cabinet:"), row


def maintenance_per_night(a: Answer, e: Expect) -> None:
    totals = [sum(row.values[i] for row in a.rows) for i in (0, 1)]
    assert totals == [5, 2]  # raised: 3 dark lamps, the repaired one, the door; cleared: 2


def maintenance_mttr_nightly(a: Answer, e: Expect) -> None:
    ((mttr,),) = [row.values for row in a.rows]
    assert near(mttr, e.mttr_h, abs_=0.001)


def maintenance_events(a: Answer, e: Expect) -> None:
    seen = sorted((row.values[2], row.values[1]) for row in a.rows)  # type, asset
    assert seen == sorted(
        [("lamp_failure", lamp) for lamp in (*DARK_LAMPS, REPAIRED_LAMP)]
        + [("door_open", "PP-S07-K1")]
    )


def subdistricts(a: Answer, e: Expect) -> None:
    assert [row.values[-1] for row in a.rows] == ["PP"]


# energy


def energy_totals(a: Answer, e: Expect) -> None:
    used, saved, dimming = a.one()
    energy, full = _kwh(e, e.energy_wh), _kwh(e, e.full_wh)
    assert near(used, energy, rel=0.005), (used, energy)
    assert near(saved, _baseline_kwh(e) - energy, rel=0.01), (saved, _baseline_kwh(e) - energy)
    assert near(dimming, full - energy, abs_=0.01 * full), (dimming, full - energy)


def energy_saved_share(a: Answer, e: Expect) -> None:
    (share,) = a.one()
    baseline = _baseline_kwh(e)
    expected = 100 * (baseline - _kwh(e, e.energy_wh)) / baseline
    assert near(share, expected, abs_=0.5), (share, expected)


def energy_power(a: Answer, e: Expect) -> None:
    """At each mark the lamps have been steady at for ten minutes (no step of the program, no
    fault beginning or ending), the district's draw within 1 % of the simulator's."""
    changes = [*e.on_plan.values(), *e.off_plan.values()]
    changes += [
        datetime(2026, 12, 21, h, 30 if h == 22 else 0, tzinfo=SHANGHAI) for h in (19, 22, 23)
    ]
    changes += [datetime(2026, 12, 22, 0, 30, tzinfo=SHANGHAI)]
    checked = 0
    for row in a.rows:
        moment = datetime.fromtimestamp(row.time / 1000, UTC) if row.time else None
        if moment is None or moment not in e.power_w:
            continue
        if any(timedelta(0) <= moment - c <= timedelta(minutes=10) for c in changes):
            continue
        (power,) = row.values
        assert near(power, e.power_w[moment], rel=0.01), (moment, power, e.power_w[moment])
        checked += 1
    assert checked > 250, checked


def energy_nightly(a: Answer, e: Expect) -> None:
    (kwh,) = a.at(NIGHT)
    assert near(kwh, _kwh(e, e.energy_wh), rel=0.005)


def energy_savings_nightly(a: Answer, e: Expect) -> None:
    day = datetime(2026, 12, 21, tzinfo=UTC)  # the night's point, 04:00 UTC, in its day
    dimming, saved, used = a.at(day)
    energy, full = _kwh(e, e.energy_wh), _kwh(e, e.full_wh)
    assert near(used, energy, rel=0.005)
    assert near(saved, _baseline_kwh(e) - energy, rel=0.01)
    assert near(dimming, full - energy, abs_=0.01 * full)


def energy_per_lamp(a: Answer, e: Expect) -> None:
    used, rated = a.one()
    assert near(used, _kwh(e, e.energy_wh) / 120, rel=0.005), used
    assert near(rated, _kwh(e, e.full_wh) / 120, rel=0.01), rated


def energy_sites(a: Answer, e: Expect) -> None:
    rows = {row.tags["site"]: row.values for row in a.rows}
    assert set(rows) == set(SITES)
    for site, (lamps, used, rated, baseline, saved_pct, hours) in rows.items():
        sites = (site,)
        assert lamps == e.lamps[site]
        assert near(used, _kwh(e, e.energy_wh, sites), rel=0.005), (site, used)
        assert near(rated, _kwh(e, e.full_wh, sites), rel=0.01), (site, rated)
        assert near(baseline, _baseline_kwh(e, sites), rel=0.002), (site, baseline)
        share = 100 * (1 - _kwh(e, e.energy_wh, sites) / _baseline_kwh(e, sites))
        assert near(saved_pct, share, abs_=0.5), (site, saved_pct, share)
        assert near(hours, e.lit_h[site] / e.lamps[site], rel=0.01), (site, hours)


# acceptance (site PP-S09: 58 lamps, three of them dark)


def nothing(a: Answer, e: Expect) -> None:
    assert a.rows == []  # the acceptance run (issue 18) writes these, not the controller


def acceptance_lamps(a: Answer, e: Expect) -> None:
    assert a.one() == [58, 58]  # registered, reporting


def acceptance_rate(a: Answer, e: Expect) -> None:
    rate, lowest, goal = a.at(NIGHT)
    assert near(rate, 100 * 55 / 58), rate  # every mark of the night: 55 of 58 lit
    assert near(lowest, 100 * 55 / 58), lowest
    assert goal == 95.0  # a residential path's


def acceptance_delays(a: Answer, e: Expect) -> None:
    late = (0.0, INTERVAL_S / 60 + 1)  # a report's wait, and the command's trip
    for value in a.at(NIGHT):
        assert within(value, late), a.at(NIGHT)


def acceptance_switch_times(a: Answer, e: Expect) -> None:
    on_plan, on_seen, on_outside, off_plan, off_seen, off_outside = a.at(NIGHT)
    for plan, program, seen in ((on_plan, e.on_plan, on_seen), (off_plan, e.off_plan, off_seen)):
        expected = _ms(program["PP-S09"])
        # the next of the controller's evaluations (sun times of the site's centre, which the
        # controller takes to four decimals, lie a few seconds from the cabinet's)
        assert expected - 10_000 <= plan <= expected + (2 * TICK_S + 10) * 1000, (plan, expected)
        assert plan <= seen <= plan + (INTERVAL_S + 60) * 1000, (plan, seen)
    assert (on_outside, off_outside) == (3, 0)  # the dark lamps never showed lit
    assert SWITCH_TOLERANCE_MIN * 60 > INTERVAL_S  # so the others are all within it


def acceptance_faults(a: Answer, e: Expect) -> None:
    assert a.at(NIGHT) == [3, 0, 0, 3]  # raised, cleared, orders closed, orders open


def sites(a: Answer, e: Expect) -> None:
    assert [row.values[-1] for row in a.rows] == list(SITES)


FIGURES: dict[str, list[tuple[datetime, Check]]] = {
    "city-overview": [
        (EVENING_NOW, overview_rate),
        (EVENING_NOW, overview_lamps),
        (EVENING_NOW, overview_energy_tonight),
        (MORNING_NOW, overview_energy_month),
        (EVENING_NOW, open_by_severity),
        (MORNING_NOW, overview_rate_bars),
        (EVENING_NOW, overview_subdistricts),
        (MORNING_NOW, overview_nightly),
        (MORNING_NOW, overview_every_mark),
    ],
    "maintenance": [
        (EVENING_NOW, open_by_severity),
        (EVENING_NOW, maintenance_orders),
        (MORNING_NOW, maintenance_mttr),
        (END_NOW, maintenance_map),
        (END_NOW, maintenance_by_type),
        (END_NOW, maintenance_work_orders),
        (MORNING_NOW, maintenance_per_night),
        (MORNING_NOW, maintenance_mttr_nightly),
        (EVENING_NOW, maintenance_events),
        (MORNING_NOW, subdistricts),
    ],
    "energy": [
        (MORNING_NOW, energy_totals),
        (MORNING_NOW, energy_saved_share),
        (MORNING_NOW, energy_power),
        (MORNING_NOW, energy_nightly),
        (MORNING_NOW, energy_savings_nightly),
        (MORNING_NOW, energy_per_lamp),
        (MORNING_NOW, energy_sites),
        (MORNING_NOW, subdistricts),
    ],
    "acceptance": [
        (MORNING_NOW, nothing),
        (MORNING_NOW, nothing),
        (MORNING_NOW, acceptance_lamps),
        (MORNING_NOW, acceptance_rate),
        (MORNING_NOW, acceptance_delays),
        (MORNING_NOW, acceptance_switch_times),
        (MORNING_NOW, acceptance_faults),
        (MORNING_NOW, sites),
    ],
}
PANELS = [
    (lang, name, index)
    for lang in dashboards.LANGS
    for name in dashboards.BUILDERS
    for index in range(len(queries(dashboards.build(name, lang))))
]


def test_every_query_has_its_figure() -> None:
    """A new panel comes with the figure it must show after the simulated night."""
    for lang in dashboards.LANGS:
        for name in dashboards.BUILDERS:
            assert len(queries(dashboards.build(name, lang))) == len(FIGURES[name]), (lang, name)


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "name", "index"), PANELS)
async def test_the_panel_shows_the_figure_of_the_simulated_night(
    night: Night, expect: Expect, lang: dashboards.Lang, name: str, index: int
) -> None:
    query = queries(dashboards.build(name, lang))[index]
    now, check = FIGURES[name][index]
    check(await answer(night, query.query, query.time_range, now), expect)


NODES: dict[tuple[str, str], tuple[str, ...]] = {
    **{("site", s): (s,) for s in SITES},
    ("community", "PP-C1"): ("PP-S09",),
    ("community", "PP-C2"): ("PP-S04", "PP-S07"),
    ("subdistrict", "PP"): SITES,
    ("district", "XY"): SITES,
}
NIGHT_ALARMS = {"PP-S04": (1, 1), "PP-S07": (1, 1), "PP-S09": (3, 0)}  # raised, cleared
# opened, closed, closed in time, open at the end, overdue at the end, repairs
NIGHT_ORDERS = {
    "PP-S04": (1, 1, 1, 0, 0, 1),  # the repaired lamp's: dispatched, repaired, verified, closed
    "PP-S07": (1, 0, 0, 1, 1, 0),  # the door's: an hour to make safe, and nobody came
    "PP-S09": (3, 0, 0, 3, 0, 0),  # the dark lamps': a day to repair them, not yet up
}


@pytest.mark.slow
async def test_the_nights_summary_holds_every_figure_for_every_node(
    night: Night, expect: Expect
) -> None:
    """The `kpi_night` fields no panel shows, per node, against the truth (the panels' are
    proven above)."""
    async with InfluxClient(night.influx_url, night.database, retry=FAST_RETRY) as client:
        (series,) = await client.query(
            f'SELECT * FROM "kpi"."kpi_night" WHERE time = {_ms(NIGHT)}ms', epoch="ms"
        )
    rows = {(r["scope"], r[r["scope"]]): r for r in series.rows()}
    assert set(rows) == set(NODES)
    marks_n = len(list(marks(NIGHT, MORNING)))
    for (scope, node), members in NODES.items():
        row, lamps = rows[(scope, node)], sum(expect.lamps[s] for s in members)
        where = f"{scope} {node}"
        assert (row["lamps"], row["lamps_reporting"]) == (lamps, lamps), where
        assert row["lamp_intervals"] == row["lamp_intervals_online"] == marks_n * lamps, where
        assert row["online_rate_pct"] == 100.0, where
        assert within(row["lamp_intervals_should_lit"] / lamps, expect.should_marks), where
        assert within(row["lighting_rate_pct"], night_rate(expect, members)), where
        assert near(row["lighting_target_pct"], target(expect, members)), where
        assert row["target_met"] == (row["lighting_rate_pct"] >= row["lighting_target_pct"])
        below = int("PP-S09" in members)  # 55 of 58 is below a residential path's 95 %
        assert (row["sites"], row["sites_below_target"]) == (len(members), below), where
        faulty = [sum(expect.faulty_marks[s][i] for s in members) for i in (0, 1)]
        intact = marks_n * lamps - row["lamp_intervals_intact"]
        assert within(intact, (faulty[0], faulty[1])), (where, intact, faulty)
        assert near(row["burning_hours"], e_sum(expect.lit_h, members), rel=0.01), where
        told_h = [k * MARK_S / 3600 * lamps for k in expect.should_marks]
        planned = row["planned_hours"] - 3 * INTERVAL_S / 3600 * lamps  # less the confirm time
        assert within(planned, (told_h[0], told_h[1]), slack=lamps * MARK_S / 3600), where
        assert near(row["energy_kwh"], _kwh(expect, expect.energy_wh, members), rel=0.005)
        assert near(row["full_power_kwh"], _kwh(expect, expect.full_wh, members), rel=0.01)
        assert near(row["baseline_kwh"], _baseline_kwh(expect, members), rel=0.002), where
        for field_, table in (("alarms_raised", 0), ("alarms_cleared", 1)):
            assert row[field_] == sum(NIGHT_ALARMS[s][table] for s in members), (where, field_)
        names = ("work_orders_opened", "work_orders_closed", "work_orders_closed_in_time",
                 "work_orders_open", "work_orders_overdue", "repairs")  # fmt: skip
        for index, name in enumerate(names):
            assert row[name] == sum(NIGHT_ORDERS[s][index] for s in members), (where, name)
        if "PP-S04" in members:  # the one repair of the night
            assert near(row["mttr_h"], expect.mttr_h, abs_=0.001), where
        else:
            assert row["mttr_h"] is None, where


def e_sum(table: dict[str, float], sites: tuple[str, ...]) -> float:
    return sum(table[s] for s in sites)


@pytest.mark.slow
async def test_the_monthly_report_of_the_night_equals_the_store_and_the_truth(
    night: Night, expect: Expect
) -> None:
    """December 2026's report (issue 18's 月度进展报告) over the night's store and InfluxDB:
    lamps as the store's inventory has them, energy and lighting rate as the simulator's truth gives
    them, faults as the store's work orders, counted here from their rows."""
    engine = await open_engine(night.store_url)
    try:
        async with (
            InfluxClient(night.influx_url, night.database, retry=FAST_RETRY) as influx,
            sessions(engine)() as session,
        ):
            report = await monthly_report(
                session, influx, month="2026-12", now=END, reporting_s=3 * INTERVAL_S,
                profiles_dir=DEFAULT_DIR, dark_rule=DarkRoadRule(),
            )  # fmt: skip
        async with sessions(engine)() as session:
            orders = list(await session.scalars(select(WorkOrderRow)))
            statuses = list(await session.scalars(select(LampRow.status)))
    finally:
        await engine.dispose()
    inventory = expect.inventory
    start, end = datetime(2026, 12, 1, 12, tzinfo=SHANGHAI), END
    opened = [o for o in orders if start <= from_store(o.opened_at) < end]
    closed = [o for o in orders if o.closed_at and start <= from_store(o.closed_at) < end]
    in_time = [o for o in closed if o.closed_at and o.closed_at <= o.deadline]
    faults = (len(opened), len(closed), len(in_time), len(orders) - len(closed))
    assert faults == (5, 1, 1, 4)  # as the night's summary counted them (NIGHT_ORDERS)
    rows = {row.id: row for row in report.rows}
    assert set(rows) == set(inventory.subdistricts) == {"PP"}
    # the night's sites are all of subdistrict PP: its row and the district's hold them all
    planned = sum(1 for status in statuses if status in {"planned", "installed"})
    installed = sum(1 for status in statuses if status == "installed")
    assert planned == installed == len(inventory.lamps) == expect.all_lamps == 120
    for row, sites in ((rows["PP"], SITES), (report.total, SITES)):
        assert (row.planned, row.installed, row.reporting) == (planned, installed, installed)
        # the writer, started at 11:45 on the 21st, also summed the last quarter hour of the
        # night of the 20th at that noon: no lamp due lit, so its standby energy, not a night
        assert row.nights == 1
        assert near(row.energy_kwh, _kwh(expect, expect.energy_wh, sites), rel=0.005), row
        assert near(row.baseline_kwh, _baseline_kwh(expect, sites), rel=0.002), row
        saved = _baseline_kwh(expect, sites) - _kwh(expect, expect.energy_wh, sites)
        assert near(row.saved_kwh, saved, rel=0.01), row
        assert within(row.lighting_rate_pct, night_rate(expect, sites)), row
        assert near(row.lighting_target_pct, target(expect, sites)), row
        assert (row.faults_opened, row.faults_closed, row.faults_closed_in_time,
                row.faults_open_at_end) == faults  # fmt: skip


# --- the writer on its own: an InfluxDB outage, the backlog's bound -----------------------------


async def _marks_done(writer: KpiWriter, rounds: int) -> None:
    await eventually(lambda: writer.stats.rounds == rounds, what=f"{rounds} marks")


def _reading(lamp: str, at: datetime, energy_wh: float) -> LampTelemetry:
    return LampTelemetry(
        lamp=lamp, ts=at, relay_on=False, dim_pct=100, power_w=0.5, energy_wh=energy_wh
    )


async def test_the_writer_keeps_its_points_and_the_nights_summary_through_an_outage(
    tmp_path: Path,
) -> None:
    """InfluxDB stops before noon and comes back after: every mark's points and the summary
    of the night that ended at noon reach it, none lost, none refused."""
    program = find_program("influxd")
    assert program is not None
    server = Influxd(program, tmp_path / "influx")
    server.start()
    inventory = subset(("PP-S04",))
    clock = ManualClock(datetime(2026, 12, 21, 11, 50, tzinfo=SHANGHAI))
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    stop = asyncio.Event()
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "test")
        dispatcher = Dispatcher(inventory, Topics("test"), clock)
        book = AlarmBook(inventory)
        writer = KpiWriter(
            inventory, clock, engine, dispatcher=dispatcher, book=book,
            thresholds=ThresholdBook(), confirm_s=180, config=KpiConfig(retry_s=0.05),
        )  # fmt: skip
        async with InfluxClient(server.url(), "kpi", retry=FAST_RETRY) as client:
            await ensure_database(client)
            running = asyncio.create_task(writer.run(client, stop))
            try:
                await _marks_done(writer, 1)
                server.stop()
                # marks 11:55, 12:00 (the night of the 20th ends there), 12:05 and 12:10
                for step in range(4):
                    for lamp in inventory.lamps:
                        dispatcher.hear(_reading(lamp, clock.now(), 1000.0 + step))
                    await clock.advance(MARK_S)
                    await _marks_done(writer, step + 2)
                await asyncio.sleep(0.3)  # tried and failed meanwhile, a few times
                assert writer.outbox.lines > 0
                assert any(batch.night for batch in writer.outbox.batches)
                await asyncio.to_thread(server.start)
                await eventually(lambda: writer.outbox.lines == 0, what="the backlog written")
                nights = await client.query('SELECT "lamps", "energy_kwh" FROM "kpi"."kpi_night"')
                counts = await client.query(
                    'SELECT count("lamps") FROM "kpi"."kpi" GROUP BY "scope"'
                )
            finally:
                stop.set()
                await running
    finally:
        server.stop()
        await engine.dispose()
    assert writer.outbox.stats.dropped == writer.outbox.stats.refused == 0
    (night_points,) = nights
    assert len(night_points.values) == 4  # the site, its community, subdistrict and district
    assert {row["lamps"] for row in night_points.rows()} == {25}
    # the counters' increase from the reading of 11:50 (counted at 11:55) to noon: 1 Wh a lamp
    assert {row["energy_kwh"] for row in night_points.rows()} == {25 * 1.0 / 1000}
    assert {s.tags["scope"]: s.values[0][1] for s in counts} == dict.fromkeys(
        ("site", "community", "subdistrict", "district"), 5
    )


def test_the_backlog_drops_the_oldest_marks_first_and_keeps_the_nights() -> None:
    outbox = Outbox(max_lines=10)
    outbox.add("kpi", ["mark-1"] * 4)
    outbox.add("kpi", ["night"] * 4, night=True)
    outbox.add("raw", ["mark-2"] * 4)  # 12 lines: the oldest mark goes
    assert [b.lines[0] for b in outbox.batches] == ["night", "mark-2"]
    assert (outbox.lines, outbox.stats.dropped) == (8, 4)
    outbox.add("kpi", ["mark-3"] * 4)  # then the next oldest mark, never the night
    assert [b.lines[0] for b in outbox.batches] == ["night", "mark-3"]
    assert (outbox.lines, outbox.stats.dropped) == (8, 8)


def test_a_kpi_point_has_the_schemas_fields_and_types() -> None:
    line = KPI.encode(
        "kpi,scope=site", {"lamps": 25.0, "power_w": 40, "lighting_rate_pct": None}, 1
    )
    assert line == "kpi,scope=site lamps=25i,power_w=40.0 1"
    with pytest.raises(ValueError, match=r"kpi has no field 'lamp'"):
        KPI.encode("kpi,scope=site", {"lamp": 1}, 1)
    with pytest.raises(ValueError, match=r"kpi\.lamps is integer"):
        KPI.encode("kpi,scope=site", {"lamps": 2.5}, 1)
