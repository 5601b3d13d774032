"""A night's figures (docs/contract.md, `kpi_night`): the sums of its marks' counts per site,
its energy, and at its end the alarms and work orders of its window from the store.

Counts are kept per site and summed over a node's sites when the night is written, so a
group's rates are ratios of sums, never means of rates. The lowest lighting rate of the night
is kept per node, as each mark's is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from controller.kpi.lamps import SiteCounts
from controller.kpi.tree import MARK_S, KpiTree, Node
from streetlight.domain import KpiScope, LightingTargets, RoadClass
from streetlight.domain.workorders import overdue
from streetlight.store.workorders import OrderTimes

Fields = dict[str, float | int | bool | None]


def ratio_pct(part: float, whole: float) -> float | None:
    """100 x part / whole; None (left out of the point) when `whole` is 0."""
    return 100.0 * part / whole if whole else None


def target_of(
    targets: LightingTargets, tree: KpiTree, node: Node, should: Sequence[float]
) -> float | None:
    """A site's own target; a group's weighted by its sites' lamps that should be lit."""
    if node.scope is KpiScope.SITE:
        return tree.site_target[node.sites[0]]
    by_road: dict[RoadClass, int] = {}
    for site in node.sites:
        road = tree.site_road[site]
        by_road[road] = by_road.get(road, 0) + int(should[site])
    return targets.aggregate(by_road)


def total(values: Sequence[float], sites: tuple[int, ...]) -> float:
    return sum(values[site] for site in sites)


@dataclass(frozen=True, slots=True)
class OrderFigures:
    """Work-order figures per site over a window, or at a moment."""

    opened: dict[str, int]
    closed: dict[str, int]
    closed_in_time: dict[str, int]
    open: dict[str, int]
    overdue: dict[str, int]
    repairs: dict[str, int]
    repair_hours: dict[str, float]


def order_figures(orders: Sequence[OrderTimes], start: datetime, end: datetime) -> OrderFigures:
    """What the orders did in [start, end), and where they stood at `end`."""
    figures = OrderFigures({}, {}, {}, {}, {}, {}, {})

    def add(table: dict[str, int], site: str) -> None:
        table[site] = table.get(site, 0) + 1

    for order in orders:
        site = order.site
        if start <= order.opened_at < end:
            add(figures.opened, site)
        if order.closed_at is not None and start <= order.closed_at < end:
            add(figures.closed, site)
            if order.closed_at <= order.deadline:
                add(figures.closed_in_time, site)
        if order.opened_at < end and (order.closed_at is None or order.closed_at >= end):
            add(figures.open, site)
            done = [t for t in (order.verified_at, order.closed_at) if t is not None and t < end]
            if order.deadline < end and not done:
                add(figures.overdue, site)
        if order.verified_at is not None and start <= order.verified_at < end:
            add(figures.repairs, site)
            repaired = order.repaired_at or order.verified_at
            hours = (repaired - order.raised_at).total_seconds() / 3600
            figures.repair_hours[site] = figures.repair_hours.get(site, 0.0) + hours
    return figures


def orders_now(
    orders: Sequence[OrderTimes], now: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Per site: orders not closed, and of them those overdue (`workorders list` says so)."""
    open_: dict[str, int] = {}
    late: dict[str, int] = {}
    for order in orders:
        if order.closed_at is not None or order.opened_at > now:
            continue
        open_[order.site] = open_.get(order.site, 0) + 1
        if overdue(order.state.value, order.deadline, now):
            late[order.site] = late.get(order.site, 0) + 1
    return open_, late


class NightTally:
    """The marks of one night, per site."""

    def __init__(self, tree: KpiTree, night: date) -> None:
        self.tree = tree
        self.night = night
        self.start = tree.night_start(night)
        self.end = tree.night_end(night)
        sites = len(tree.sites)
        self.marks = 0
        self.lamps = [0] * sites
        self.online = [0] * sites
        self.should = [0] * sites
        self.lit_ok = [0] * sites
        self.intact = [0] * sites
        self.on = [0] * sites
        self.told_on = [0] * sites
        self.energy_wh = [0.0] * sites
        self.full_wh = [0.0] * sites
        self.reporting = [0] * sites
        self.lowest_rate: dict[int, float] = {}  # node index -> its lowest mark rate
        self.first_mark: datetime | None = None
        self._baseline_wh: list[float] | None = None

    @property
    def baseline_wh(self) -> list[float]:
        """Per site: its lamps' rated power from civil dusk to civil dawn, over the part of the
        night counted (from its first mark: a night the controller joined late is compared
        with the same hours)."""
        if self._baseline_wh is None:
            tree = self.tree
            since = self.first_mark or self.start
            self._baseline_wh = []
            for site in range(len(tree.sites)):
                dark = tree.dark(site, self.night)
                hours = 0.0
                if dark is not None:
                    seconds = (min(dark[1], self.end) - max(dark[0], since)).total_seconds()
                    hours = max(0.0, seconds) / 3600
                self._baseline_wh.append(tree.site_rated_w[site] * hours)
        return self._baseline_wh

    def add_samples(
        self, mark: datetime, counts: SiteCounts, rates: Sequence[float | None]
    ) -> None:
        """One mark's samples, and each node's lighting rate at it (by node index)."""
        self.marks += 1
        if self.first_mark is None:
            self.first_mark = mark
        tree = self.tree
        for site in range(len(tree.sites)):
            self.lamps[site] += tree.site_lamps[site]
            self.online[site] += counts.online[site]
            self.should[site] += counts.should[site]
            self.lit_ok[site] += counts.lit_ok[site]
            self.intact[site] += counts.intact[site]
            self.on[site] += counts.on[site]
            self.told_on[site] += counts.told_on[site]
            self.full_wh[site] += counts.full_wh[site]
        for index, rate in enumerate(rates):
            if rate is not None and rate < self.lowest_rate.get(index, 101.0):
                self.lowest_rate[index] = rate

    def add_interval(self, energy_wh: Sequence[float], reporting: Sequence[int]) -> None:
        for site in range(len(self.tree.sites)):
            self.energy_wh[site] += energy_wh[site]
            self.reporting[site] += reporting[site]

    def figures(
        self,
        index: int,
        node: Node,
        targets: LightingTargets,
        alarms: Mapping[str, tuple[int, int]],
        orders: OrderFigures,
    ) -> Fields:
        """The `kpi_night` fields of one node."""
        tree, sites = self.tree, node.sites
        names = [tree.sites[s] for s in sites]
        intervals = total(self.lamps, sites)
        should, lit_ok = total(self.should, sites), total(self.lit_ok, sites)
        rate = ratio_pct(lit_ok, should)
        target = target_of(targets, tree, node, self.should)
        below = 0
        for site in sites:
            own = ratio_pct(self.lit_ok[site], self.should[site])
            if own is not None and own < tree.site_target[site]:
                below += 1
        energy = total(self.energy_wh, sites) / 1000
        full = total(self.full_wh, sites) / 1000
        baseline = total(self.baseline_wh, sites) / 1000
        repairs = sum(orders.repairs.get(n, 0) for n in names)
        repair_hours = sum(orders.repair_hours.get(n, 0.0) for n in names)
        mark_h = MARK_S / 3600
        return {
            "lamps": total(tree.site_lamps, sites),
            "lamps_reporting": total(self.reporting, sites),
            "lamp_intervals": intervals,
            "lamp_intervals_online": total(self.online, sites),
            "online_rate_pct": ratio_pct(total(self.online, sites), intervals),
            "lamp_intervals_should_lit": should,
            "lamp_intervals_lit_ok": lit_ok,
            "lighting_rate_pct": rate,
            "lighting_rate_min_pct": self.lowest_rate.get(index),
            "lighting_target_pct": target,
            "target_met": None if rate is None or target is None else rate >= target,
            "sites": len(sites),
            "sites_below_target": below,
            "lamp_intervals_intact": total(self.intact, sites),
            "integrity_pct": ratio_pct(total(self.intact, sites), intervals),
            "burning_hours": total(self.on, sites) * mark_h,
            "planned_hours": total(self.told_on, sites) * mark_h,
            "energy_kwh": energy,
            "full_power_kwh": full,
            "baseline_kwh": baseline,
            "dimming_saved_kwh": full - energy,
            "saved_kwh": baseline - energy,
            "saved_pct": ratio_pct(baseline - energy, baseline),
            "alarms_raised": sum(alarms.get(n, (0, 0))[0] for n in names),
            "alarms_cleared": sum(alarms.get(n, (0, 0))[1] for n in names),
            "work_orders_opened": sum(orders.opened.get(n, 0) for n in names),
            "work_orders_closed": sum(orders.closed.get(n, 0) for n in names),
            "work_orders_closed_in_time": sum(orders.closed_in_time.get(n, 0) for n in names),
            "work_orders_open": sum(orders.open.get(n, 0) for n in names),
            "work_orders_overdue": sum(orders.overdue.get(n, 0) for n in names),
            "repairs": repairs,
            "repair_hours": repair_hours,
            "mttr_h": repair_hours / repairs if repairs else None,
        }
