"""KPI points of a district as the controller would write them (docs/contract.md, "KPI
measurements"), made up from the inventory with a seeded random number generator: what the
dashboards' tests and `bench/dashboard_queries.py` query.

The figures are plausible and consistent (a group's counts are the sums of its sites'), not a
simulation: the proof of the figures against a simulated night comes with the KPI writer.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from streetlight.contract import (
    ACCEPTANCE,
    ACCEPTANCE_CRITERIA,
    KPI,
    KPI_NIGHT,
    OPEN_ALARM,
    SWITCHING,
    WORK_ORDER,
)
from streetlight.contract.influx_schema import ALARM
from streetlight.domain import Inventory, KpiScope, LightingTargets, scope_nodes, scope_tags
from streetlight.influx import FieldValue, encode_line, series_key, to_ns

MARK_S = 300
ON_LOCAL, OFF_LOCAL = time(17, 40), time(6, 20)  # a winter night's switching, local


@dataclass(frozen=True, slots=True)
class Lines:
    """Line protocol by retention policy."""

    kpi: list[str]
    raw: list[str]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class KpiSample:
    """KPI points of `inventory` for the `nights` nights before `now` (the last ending at the
    most recent local noon), and `kpi` marks over the last `mark_days` days up to `now` (all
    the nights' by default)."""

    def __init__(
        self,
        inventory: Inventory,
        now: datetime,
        nights: int,
        *,
        mark_days: int | None = None,
        seed: int = 17,
    ) -> None:
        self.inventory = inventory
        self.now = now
        self.nights = nights
        self.mark_days = mark_days
        self.random = random.Random(seed)
        self.tz = inventory.district.tz
        self.targets = LightingTargets()
        self.nodes = scope_nodes(inventory)
        self.series = {
            (spec.name, scope, node): series_key(spec.name, scope_tags(inventory, scope, node))
            for spec in (KPI, KPI_NIGHT, SWITCHING)
            for scope, node in self.nodes
        }
        self.site_lamps: dict[str, list[float]] = defaultdict(list)
        for lamp in inventory.lamps.values():
            circuit = inventory.circuits[lamp.circuit_id]
            self.site_lamps[inventory.cabinets[circuit.cabinet_id].site_id].append(
                lamp.rated_power_w
            )
        self.members: dict[tuple[KpiScope, str], list[str]] = defaultdict(list)
        for site_id, site in inventory.sites.items():
            community = inventory.communities[site.community_id]
            self.members[(KpiScope.SITE, site_id)].append(site_id)
            self.members[(KpiScope.COMMUNITY, community.id)].append(site_id)
            self.members[(KpiScope.SUBDISTRICT, community.subdistrict_id)].append(site_id)
            self.members[(KpiScope.DISTRICT, inventory.district.id)].append(site_id)

    def night_starts(self) -> list[datetime]:
        today_noon = datetime.combine(self.now.astimezone(self.tz).date(), time(12), self.tz)
        last = today_noon - timedelta(days=1) if today_noon > self.now else today_noon
        last -= timedelta(days=1)  # the night that ended at the most recent noon
        return [last - timedelta(days=n) for n in reversed(range(self.nights))]

    def lines(self) -> Lines:
        out = Lines([], [])
        for start in self.night_starts():
            out.kpi.extend(self._night(start))
        first = self.night_starts()[0]
        if self.mark_days is not None:
            first = max(first, self.now - timedelta(days=self.mark_days))
        mark = datetime.fromtimestamp(first.timestamp() // MARK_S * MARK_S, self.now.tzinfo)
        while mark <= self.now:
            out.kpi.extend(self._marks(mark))
            mark += timedelta(seconds=MARK_S)
        out.raw.extend(self._states())
        out.kpi.extend(self._acceptance())
        return out

    # --- per night ------------------------------------------------------------------------------

    def _night(self, start: datetime) -> Iterator[str]:
        site_figures = {site: self._site_night(site) for site in self.inventory.sites}
        ns = to_ns(start)
        for scope, node in self.nodes:
            sites = self.members[(scope, node)]
            total: dict[str, float] = defaultdict(float)
            for site in sites:
                for key, value in site_figures[site].items():
                    total[key] += value
            should, lit = total["lamp_intervals_should_lit"], total["lamp_intervals_lit_ok"]
            target = sum(
                self.targets.of(self.inventory.sites[s].road_class)
                * site_figures[s]["lamp_intervals_should_lit"]
                for s in sites
            ) / max(should, 1)
            rate = 100 * lit / should
            below = sum(
                1
                for s in sites
                if 100
                * site_figures[s]["lamp_intervals_lit_ok"]
                / site_figures[s]["lamp_intervals_should_lit"]
                < self.targets.of(self.inventory.sites[s].road_class)
            )
            fields: dict[str, FieldValue | None] = {
                **{k: int(v) for k, v in total.items() if not k.endswith(("_kwh", "_h", "hours"))},
                **{k: round(v, 3) for k, v in total.items() if k.endswith(("_kwh", "_h", "hours"))},
                "online_rate_pct": 100 * total["lamp_intervals_online"] / total["lamp_intervals"],
                "lighting_rate_pct": rate,
                "lighting_rate_min_pct": rate - self.random.uniform(0, 1.5),
                "lighting_target_pct": target,
                "target_met": rate >= target,
                "sites": len(sites),
                "sites_below_target": below,
                "integrity_pct": 100 * total["lamp_intervals_intact"] / total["lamp_intervals"],
                "dimming_saved_kwh": total["full_power_kwh"] - total["energy_kwh"],
                "saved_kwh": total["baseline_kwh"] - total["energy_kwh"],
                "saved_pct": 100 * (1 - total["energy_kwh"] / total["baseline_kwh"]),
                "mttr_h": total["repair_hours"] / total["repairs"] if total["repairs"] else None,
            }
            yield encode_line(self.series[(KPI_NIGHT.name, scope, node)], fields, ns)
            if scope is KpiScope.SITE:
                yield self._switching(start, node, int(total["lamps"]))

    def _site_night(self, site: str) -> dict[str, float]:
        r = self.random
        rated = self.site_lamps[site]
        lamps = len(rated)
        marks = 12 * 24
        lit_marks = 12 * 12 + 8
        dark = r.choice((0, 0, 0, 1, 1, 2, 3))
        offline = r.choice((0, 0, 0, 1))
        hours = lit_marks / 12
        full = sum(rated) * hours / 1000
        repairs = r.choice((0, 0, 1))
        return {
            "lamps": lamps,
            "lamps_planned": lamps,
            "lamps_installed": lamps,
            "lamps_reporting": lamps - offline,
            "lamp_intervals": lamps * marks,
            "lamp_intervals_online": (lamps - offline) * marks,
            "lamp_intervals_should_lit": lamps * lit_marks,
            "lamp_intervals_lit_ok": (lamps - dark) * lit_marks,
            "lamp_intervals_intact": (lamps - dark - offline) * marks,
            "burning_hours": (lamps - dark) * hours,
            "planned_hours": lamps * hours,
            "energy_kwh": full * r.uniform(0.55, 0.7),
            "full_power_kwh": full,
            "baseline_kwh": sum(rated) * (hours + 0.6) / 1000,
            "alarms_raised": dark + offline,
            "alarms_cleared": r.randint(0, dark + offline),
            "work_orders_opened": dark + offline,
            "work_orders_closed": repairs,
            "work_orders_closed_in_time": repairs,
            "work_orders_open": r.randint(0, 2),
            "work_orders_overdue": r.choice((0, 0, 0, 1)),
            "repairs": repairs,
            "repair_hours": repairs * r.uniform(2, 30),
        }

    def _switching(self, start: datetime, site: str, lamps: int) -> str:
        r = self.random
        on = datetime.combine(start.date(), ON_LOCAL, self.tz)
        off = datetime.combine(start.date() + timedelta(days=1), OFF_LOCAL, self.tz)
        on_delay, off_delay = r.uniform(0, 1.5), r.uniform(0, 1.5)
        late = r.choice((0, 0, 0, 0, 1))
        fields: dict[str, FieldValue | None] = {
            "tolerance_min": 5.0,
            "lamps": lamps,
            "on_plan_ms": _ms(on),
            "on_median_ms": _ms(on + timedelta(minutes=on_delay)),
            "on_delay_median_min": on_delay,
            "on_delay_max_min": 20.0 if late else on_delay + 1,
            "lamps_switched_on": lamps,
            "lamps_on_outside": late,
            "off_plan_ms": _ms(off),
            "off_median_ms": _ms(off + timedelta(minutes=off_delay)),
            "off_delay_median_min": off_delay,
            "off_delay_max_min": off_delay + 1,
            "lamps_switched_off": lamps,
            "lamps_off_outside": 0,
        }
        return encode_line(self.series[(SWITCHING.name, KpiScope.SITE, site)], fields, to_ns(start))

    # --- every mark -----------------------------------------------------------------------------

    def _marks(self, mark: datetime) -> Iterator[str]:
        local = mark.astimezone(self.tz).time()
        night = local >= ON_LOCAL or local < OFF_LOCAL
        ns = to_ns(mark)
        site_now = {site: self._site_mark(site, night) for site in self.inventory.sites}
        for scope, node in self.nodes:
            sites = self.members[(scope, node)]
            total: dict[str, float] = defaultdict(float)
            for site in sites:
                for key, value in site_now[site].items():
                    total[key] += value
            fields: dict[str, FieldValue | None] = {
                k: (round(v, 2) if k in ("power_w", "energy_tonight_kwh") else int(v))
                for k, v in total.items()
            }
            fields["online_rate_pct"] = 100 * total["lamps_online"] / total["lamps"]
            fields["integrity_pct"] = 100 * total["lamps_intact"] / total["lamps"]
            if total["lamps_should_lit"]:
                fields["lighting_rate_pct"] = (
                    100 * total["lamps_lit_ok"] / total["lamps_should_lit"]
                )
                fields["lighting_target_pct"] = (
                    sum(
                        self.targets.of(self.inventory.sites[s].road_class)
                        * site_now[s]["lamps_should_lit"]
                        for s in sites
                    )
                    / total["lamps_should_lit"]
                )
            yield encode_line(self.series[(KPI.name, scope, node)], fields, ns)

    def _site_mark(self, site: str, night: bool) -> dict[str, float]:
        rated = self.site_lamps[site]
        lamps = len(rated)
        dark = self.random.choice((0, 0, 0, 0, 1))
        offline = self.random.choice((0, 0, 0, 0, 0, 1))
        on = lamps - offline - dark if night else 0
        alarms = dark + offline
        return {
            "lamps": lamps,
            "lamps_online": lamps - offline,
            "lamps_on": on,
            "lamps_off": lamps - offline - on,
            "lamps_should_lit": lamps if night else 0,
            "lamps_lit_ok": on,
            "lamps_day_burning": 0,
            "lamps_intact": lamps - alarms,
            "power_w": sum(rated[:on]) * 0.6,
            "energy_tonight_kwh": sum(rated) * 0.004 if night else 0.0,
            "alarms_open": alarms,
            "alarms_open_emergency": 0,
            "alarms_open_serious": offline,
            "alarms_open_ordinary": dark,
            "work_orders_open": alarms,
            "work_orders_overdue": offline,
        }

    # --- states and events ----------------------------------------------------------------------

    def _states(self) -> Iterator[str]:
        """Open alarms and work orders at the last marks, and the alarm events behind them."""
        last = datetime.fromtimestamp(self.now.timestamp() // MARK_S * MARK_S, self.now.tzinfo)
        lamps = sorted(self.inventory.lamps)[:: max(1, len(self.inventory.lamps) // 40)]
        for index, lamp_id in enumerate(lamps):
            place = self.inventory.place(lamp_id)
            location = self.inventory.lamps[lamp_id].location
            raised = last - timedelta(hours=1 + index % 30)
            alarm_id, order = f"al-{index + 1}", f"wo-{index + 1}"
            tags = {
                "type": "lamp_failure",
                "severity": "ordinary",
                "asset_kind": "lamp",
                "asset": lamp_id,
                "site": place.site_id,
                "subdistrict": place.subdistrict_id,
            }
            still_open = index % 5 != 0
            for step in (2, 1, 0):
                at = last - timedelta(seconds=MARK_S * step)
                fields: dict[str, FieldValue | None] = {
                    "open": still_open or step > 0,
                    "alarm_id": alarm_id,
                    "root": True,
                    "lat": location.lat,
                    "lon": location.lon,
                    "raised_at_ms": _ms(raised),
                    "work_order": order,
                }
                yield encode_line(series_key(OPEN_ALARM.name, tags), fields, to_ns(at))
                deadline = raised + timedelta(hours=24)
                order_fields: dict[str, FieldValue | None] = {
                    "open": True,
                    "state": "registered",
                    "alarm_id": alarm_id,
                    "type": "lamp_failure",
                    "asset": f"lamp:{lamp_id}",
                    "opened_at_ms": _ms(raised),
                    "deadline_ms": _ms(deadline),
                    "overdue": at > deadline,
                    "overdue_h": (at - deadline).total_seconds() / 3600,
                }
                order_tags = {
                    "work_order": order,
                    "severity": "ordinary",
                    "site": place.site_id,
                    "subdistrict": place.subdistrict_id,
                    "maintainer": self.inventory.sites[place.site_id].maintainer_id,
                }
                yield encode_line(series_key(WORK_ORDER.name, order_tags), order_fields, to_ns(at))
            event_tags = {
                "type": "lamp_failure",
                "severity": "ordinary",
                "asset_kind": "lamp",
                "state": "raised",
                "subdistrict": place.subdistrict_id,
            }
            event: dict[str, FieldValue | None] = {
                "alarm_id": alarm_id,
                "asset": lamp_id,
                "parent": "",
                "detail": "0.5 W of 60 W expected",
            }
            yield encode_line(series_key(ALARM.name, event_tags), event, to_ns(raised))

    def _acceptance(self) -> Iterator[str]:
        starts = self.night_starts()
        window_end = starts[-1] + timedelta(days=1)
        for site_id, site in self.inventory.sites.items():
            subdistrict = self.inventory.communities[site.community_id].subdistrict_id
            lamps = len(self.site_lamps[site_id])
            for criterion in ACCEPTANCE_CRITERIA:
                fields: dict[str, FieldValue | None] = {
                    "passed": True,
                    "value": 100.0,
                    "threshold": 100.0,
                    "unit": "%",
                    "failures": 0,
                    "evidence": "",
                    "run_id": f"acc-{site_id}",
                    "window_from": starts[0].date().isoformat(),
                    "window_to": starts[-1].date().isoformat(),
                    "nights": len(starts),
                }
                if criterion == "lamps_complete":
                    fields |= {
                        "lamps_planned": lamps,
                        "lamps_installed": lamps,
                        "lamps_registered": lamps,
                        "lamps_reporting": lamps,
                    }
                tags = {"site": site_id, "subdistrict": subdistrict, "criterion": criterion}
                yield encode_line(series_key(ACCEPTANCE.name, tags), fields, to_ns(window_end))
