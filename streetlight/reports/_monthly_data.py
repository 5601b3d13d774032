"""Where the monthly report's figures come from (docs/contract.md, "Reports"):

- lamps planned, installed, registered and reporting: the survey's counts
  (streetlight.survey.count_survey) at the window's end, or now while the month runs;
- lighting rate, nights, worst night, energy and savings: the controller's `kpi_night` points
  of each subdistrict and of the district, summed over the month's nights (rates as ratios of
  sums, never means of nightly rates, as the contract says of months);
- faults: the store's work orders (the ledger), by their site's subdistrict;
- roads without lamps: the survey's dark stretches of the store's inventory, now.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.contract.influx_schema import KPI_NIGHT
from streetlight.domain import DarkRoadRule, Inventory, KpiScope
from streetlight.influx import InfluxClient, to_ns
from streetlight.reports._monthly import Month, MonthlyReport, MonthlyRow, NightRate
from streetlight.reports._render import ReportError
from streetlight.store import read_inventory
from streetlight.store.workorders import OrderTimes, orders_since
from streetlight.survey import SurveyCount, count_survey, gap_report

NIGHT_FIELDS = (
    *("lamp_intervals_should_lit", "lamp_intervals_lit_ok", "lighting_rate_pct"),
    *("lighting_target_pct", "target_met", "energy_kwh", "baseline_kwh", "saved_kwh"),
)


@dataclass
class _Nights:
    """A scope's kpi_night points of the month, summed."""

    nights: int = 0
    should: int = 0
    lit: int = 0
    target_weighted: float = 0.0
    target_weight: int = 0
    below: int = 0
    energy: float = 0.0
    baseline: float = 0.0
    saved: float = 0.0
    rates: list[NightRate] = field(default_factory=list)

    def add(self, night: date, point: dict[str, Any]) -> None:
        should = int(point.get("lamp_intervals_should_lit") or 0)
        # a summary of a night with no lamp due lit (a controller started after that dawn
        # sums the morning's last marks) adds its energy, not a night
        self.nights += should > 0
        self.should += should
        self.lit += int(point.get("lamp_intervals_lit_ok") or 0)
        target = point.get("lighting_target_pct")
        if target is not None and should:
            self.target_weighted += float(target) * should
            self.target_weight += should
        self.below += point.get("target_met") is False
        self.energy += float(point.get("energy_kwh") or 0.0)
        self.baseline += float(point.get("baseline_kwh") or 0.0)
        self.saved += float(point.get("saved_kwh") or 0.0)
        rate = point.get("lighting_rate_pct")
        self.rates.append(NightRate(night, None if rate is None else float(rate),
                                    None if target is None else float(target)))  # fmt: skip


@dataclass
class _Faults:
    opened: int = 0
    closed: int = 0
    in_time: int = 0
    open_at_end: int = 0


async def night_points(
    influx: InfluxClient, start: datetime, end: datetime
) -> dict[tuple[str, str], list[tuple[date, dict[str, Any]]]]:
    """Each subdistrict's and the district's kpi_night points in [start, end), by (scope,
    id), oldest first, with the night (its evening's date, local to `start`)."""
    columns = ", ".join(f'"{name}"' for name in NIGHT_FIELDS)
    statement = (
        f"SELECT {columns} FROM {KPI_NIGHT.qualified} "  # noqa: S608 - the schema's names, integers
        f"WHERE (\"scope\" = 'subdistrict' OR \"scope\" = 'district') "
        f"AND time >= {to_ns(start)} AND time < {to_ns(end)} "
        'GROUP BY "scope", "subdistrict", "district"'
    )
    found: dict[tuple[str, str], list[tuple[date, dict[str, Any]]]] = defaultdict(list)
    tz = start.tzinfo
    for series in await influx.query(statement, epoch="ms"):
        scope = series.tags.get("scope", "")
        node = series.tags.get("subdistrict" if scope == "subdistrict" else "district", "")
        for row in series.rows():
            night = datetime.fromtimestamp(row["time"] / 1000, tz).date()
            found[(scope, node)].append((night, row))
    for points in found.values():
        points.sort(key=lambda p: p[0])
    return found


def fault_counts(
    orders: list[OrderTimes], subdistrict_of: dict[str, str], start: datetime, end: datetime
) -> dict[str, _Faults]:
    """Work orders by subdistrict (and "" for the district): opened in [start, end), closed
    (销号) in it, of those closed by their deadline, and open at `end`."""
    counts: dict[str, _Faults] = defaultdict(_Faults)
    for order in orders:
        places = ["", *([subdistrict_of[order.site]] if order.site in subdistrict_of else [])]
        for place in places:
            c = counts[place]
            c.opened += start <= order.opened_at < end
            closed = order.closed_at
            if closed is not None and start <= closed < end:
                c.closed += 1
                c.in_time += closed <= order.deadline
            c.open_at_end += order.opened_at < end and (closed is None or closed >= end)
    return counts


def _dark_roads(inventory: Inventory, rule: DarkRoadRule) -> dict[str, tuple[float, float]]:
    """Road length and dark length per subdistrict ("" for the district), in metres."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    if not inventory.roads:
        return {}
    for site in gap_report(inventory, rule).sites:
        for place in ("", site.subdistrict):
            totals[place][0] += site.road_length_m
            totals[place][1] += site.dark_length_m
    return {k: (v[0], v[1]) for k, v in totals.items()}


def _row(
    scope: str,
    ident: str,
    name: str,
    *,
    count: SurveyCount | None,
    nights: _Nights,
    faults: _Faults,
    roads: tuple[float, float],
) -> MonthlyRow:
    worst = min((r for r in nights.rates if r.lighting_rate_pct is not None),
                key=lambda r: r.lighting_rate_pct or 0.0, default=None)  # fmt: skip
    return MonthlyRow(
        scope=scope, id=ident, name=name,
        planned=count.planned if count else 0, installed=count.installed if count else 0,
        registered=count.registered if count else 0, reporting=count.reporting if count else 0,
        nights=nights.nights, lamp_intervals_should_lit=nights.should,
        lamp_intervals_lit_ok=nights.lit,
        lighting_rate_pct=100 * nights.lit / nights.should if nights.should else None,
        lighting_target_pct=(nights.target_weighted / nights.target_weight
                             if nights.target_weight else None),
        worst_night=worst.night if worst else None,
        worst_night_rate_pct=worst.lighting_rate_pct if worst else None,
        nights_below_target=nights.below,
        faults_opened=faults.opened, faults_closed=faults.closed,
        faults_closed_in_time=faults.in_time, faults_open_at_end=faults.open_at_end,
        energy_kwh=nights.energy, baseline_kwh=nights.baseline, saved_kwh=nights.saved,
        road_length_m=roads[0], dark_road_m=roads[1],
    )  # fmt: skip


async def monthly_report(
    session: AsyncSession,
    influx: InfluxClient,
    *,
    month: Month | str,
    now: datetime,
    subdistrict: str | None = None,
    reporting_s: float,
    profiles_dir: Path,
    dark_rule: DarkRoadRule,
) -> MonthlyReport:
    """The month's report of one subdistrict (or every one) and the district. Raises
    ReportError for a month not begun, an unknown subdistrict or no inventory (its `field`
    names the input); InfluxDB's errors (streetlight.influx) when it does not answer."""
    month = Month.parse(month) if isinstance(month, str) else month
    inventory = await read_inventory(session)
    if inventory is None:
        raise ReportError(
            "the store holds no inventory: load one with 'streetlight inventory load'"
        )
    if subdistrict is not None and subdistrict not in inventory.subdistricts:
        known = ", ".join(sorted(inventory.subdistricts))
        raise ReportError(f"no subdistrict {subdistrict!r} (known: {known})", "subdistrict")
    tz = inventory.district.tz
    start, end = month.window(tz)
    if start > now:
        raise ReportError(f"month {month} has not begun (now {now.astimezone(tz):%Y-%m-%d})",
                          "month")  # fmt: skip
    counted_at = min(end, now)
    options: dict[str, Any] = {"at": counted_at, "reporting_s": reporting_s,
                               "profiles_dir": profiles_dir}  # fmt: skip
    counts = {
        (c.scope, c.id): c
        for scope in (KpiScope.SUBDISTRICT, KpiScope.DISTRICT)
        for c in await count_survey(session, influx, scope=scope, **options)
    }
    orders = await orders_since(session, start)
    await session.close()  # the queries and the geometry below need no store connection
    points = await night_points(influx, start, end)
    roads = await asyncio.to_thread(_dark_roads, inventory, dark_rule)
    subdistrict_of = {s.id: inventory.communities[s.community_id].subdistrict_id
                      for s in inventory.sites.values()}  # fmt: skip
    faults = fault_counts(orders, subdistrict_of, start, counted_at)
    nights: dict[tuple[str, str], _Nights] = defaultdict(_Nights)
    for key, found in points.items():
        for night, point in found:
            nights[key].add(night, point)
    chosen = [subdistrict] if subdistrict is not None else sorted(inventory.subdistricts)
    rows = [
        _row("subdistrict", s, inventory.subdistricts[s].name,
             count=counts.get(("subdistrict", s)), nights=nights[("subdistrict", s)],
             faults=faults[s], roads=roads.get(s, (0.0, 0.0)))
        for s in chosen
    ]  # fmt: skip
    district = inventory.district
    total = _row("district", district.id, district.name,
                 count=counts.get(("district", district.id)),
                 nights=nights[("district", district.id)], faults=faults[""],
                 roads=roads.get("", (0.0, 0.0)))  # fmt: skip
    return MonthlyReport(
        month=month, district=district.id, district_name=district.name,
        timezone=district.timezone, window_start=start, window_end=end,
        counted_at=counted_at, computed_at=now, subdistrict=subdistrict, rows=rows,
        total=total, nightly={s: nights[("subdistrict", s)].rates for s in chosen},
    )  # fmt: skip
