"""Gathering what a site's acceptance is computed from: the store (the plan of lamps with
their status, whether the system can take their reports, the schedule, fault alarms and work
orders) and InfluxDB (the KPI writer's `kpi_night` of the site, and the lamps' own `lamp`
points night by night, read into samples by streetlight.acceptance.samples).

The plan of each lamp is the schedule's evaluator (streetlight.schedule), the same that the
controller asserts: programs by calendar, and overrides. A program's light-sensor rule is not
replayed (the sensor's readings are not part of the plan): docs/contract.md says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.acceptance.criteria import AcceptanceCriteria, AcceptanceError
from streetlight.acceptance.evaluate import nights_of
from streetlight.acceptance.inputs import (
    AcceptanceInputs,
    AlarmInput,
    LampInput,
    LampNight,
    OrderInput,
    SiteNight,
)
from streetlight.acceptance.samples import Plan, Report, read_night
from streetlight.contract import KPI_NIGHT
from streetlight.contract.influx_schema import LAMP
from streetlight.domain import Inventory, KpiScope, LampStatus
from streetlight.domain.workorders import order_label
from streetlight.influx import InfluxClient, quote_literal, to_ns
from streetlight.inventory import InventoryFile
from streetlight.profiles import profile_check, read_profiles
from streetlight.schedule import Evaluator, Groups, Schedule
from streetlight.store import read_assets
from streetlight.store.acceptance import open_fault_alarms, window_orders
from streetlight.store.schedules import read_named_groups, read_schedule
from streetlight.store.times import from_store, maybe_from_store
from streetlight.survey import registered_lamps

NOON = time(12)


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A site's acceptance window: the nights `first` to `last` (evening dates, inclusive)."""

    site: str
    first: date
    last: date


def check_window(window: Window, criteria: AcceptanceCriteria, tz: Any, now: datetime) -> None:
    """Refuse an inverted, too long or unfinished window, naming the field (`from`, `to`)."""
    if window.last < window.first:
        raise AcceptanceError(f"to: {window.last} is before from {window.first}")
    nights = (window.last - window.first).days + 1
    if nights > criteria.max_nights:
        raise AcceptanceError(
            f"to: the window has {nights} nights; at most {criteria.max_nights} are judged"
        )
    end = datetime.combine(window.last + timedelta(days=1), NOON, tz)
    if end > now:
        raise AcceptanceError(
            f"to: the night of {window.last} ends at {end.isoformat()}, after now "
            f"({now.isoformat()}): a window is judged once its last night is over"
        )


async def gather(
    session: AsyncSession,
    influx: InfluxClient,
    window: Window,
    criteria: AcceptanceCriteria,
    *,
    profiles_dir: Path,
    now: datetime,
) -> AcceptanceInputs:
    """Everything the criteria need, for `window`. Raises AcceptanceError for a site the store
    does not have or a window that cannot be judged; InfluxDB's errors when it does not
    answer."""
    stored = await read_assets(session)
    if stored is None or window.site not in stored.inventory.sites:
        raise AcceptanceError(f"site: unknown site {window.site!r}: not in the store's asset tree")
    inventory = stored.inventory
    tz = inventory.district.tz
    check_window(window, criteria, tz, now)
    start = datetime.combine(window.first, NOON, tz)
    end = datetime.combine(window.last + timedelta(days=1), NOON, tz)
    site = inventory.sites[window.site]
    community = inventory.communities[site.community_id]
    lamp_ids = sorted(k for k in inventory.lamps if inventory.place(k).site_id == site.id)
    profiles, _broken = await asyncio.to_thread(read_profiles, profiles_dir)
    registered = registered_lamps(stored, profile_check(profiles))
    lamps = [
        LampInput(
            lamp,
            stored.status.get(lamp, LampStatus.INSTALLED).value,
            lamp in registered,
            inventory.lamps[lamp].rated_power_w,
        )
        for lamp in lamp_ids
    ]
    evaluator = _site_evaluator(
        stored, site.id, await read_schedule(session), await read_named_groups(session)
    )
    installed = [lamp.id for lamp in lamps if lamp.status == LampStatus.INSTALLED.value]
    lamp_nights: list[LampNight] = []
    for night in nights_of(window.first, window.last):
        lamp_nights += await _read_lamps(
            influx, evaluator, site.id, installed, night=night, criteria=criteria
        )
    project = inventory.project_of(site.id)
    alarms = await open_fault_alarms(session, site.id, end)
    orders = await window_orders(session, site.id, start, end)
    return AcceptanceInputs(
        site=site.id,
        site_name=site.name,
        subdistrict=community.subdistrict_id,
        community=community.id,
        project=None if project is None else project.id,
        maintainer=site.maintainer_id,
        road_class=site.road_class.value,
        timezone=inventory.district.timezone,
        first_night=window.first,
        last_night=window.last,
        window_start=start,
        window_end=end,
        gathered_at=now,
        lamps=lamps,
        nights=await _site_nights(influx, site.id, start, end, tz),
        lamp_nights=lamp_nights,
        alarms=[
            AlarmInput(
                f"al-{a.id}",
                f"{a.asset_kind}:{a.asset_id}",
                a.type,
                a.severity,
                from_store(a.raised_at),
                maybe_from_store(a.cleared_at),
            )
            for a in alarms
        ],
        orders=[
            OrderInput(
                order_label(o.id),
                f"{a.asset_kind}:{a.asset_id}",
                a.type,
                o.severity,
                o.state,
                from_store(o.opened_at),
                from_store(o.deadline),
                maybe_from_store(o.closed_at),
            )
            for o, a in orders
        ],
    )


# --- the plan ------------------------------------------------------------------------------------


def _site_evaluator(
    stored: InventoryFile, site: str, schedule: Schedule, named: dict[str, frozenset[str]]
) -> Evaluator:
    """The schedule's evaluator over the site's lamps alone (a few lamps, not the district):
    assignments and overrides of groups outside the site are left out, as they reach none of
    its lamps."""
    inventory = _site_inventory(stored.inventory, site)
    groups = Groups(
        inventory,
        {g: kept for g, lamps in named.items() if (kept := lamps & inventory.lamps.keys())},
    )
    mine = dataclasses.replace(
        schedule,
        assignments={g: c for g, c in schedule.assignments.items() if groups.exists(g)},
        overrides=[o for o in schedule.overrides if groups.exists(o.group)],
    )
    return Evaluator(groups, mine)


def _site_inventory(inventory: Inventory, site_id: str) -> Inventory:
    site = inventory.sites[site_id]
    community = inventory.communities[site.community_id]
    cabinets = {k: c for k, c in inventory.cabinets.items() if c.site_id == site_id}
    circuits = {k: c for k, c in inventory.circuits.items() if c.cabinet_id in cabinets}
    return Inventory(
        district=inventory.district,
        subdistricts={community.subdistrict_id: inventory.subdistricts[community.subdistrict_id]},
        communities={community.id: community},
        maintainers={site.maintainer_id: inventory.maintainers[site.maintainer_id]},
        sites={site_id: site},
        cabinets=cabinets,
        circuits=circuits,
        lamps={k: lamp for k, lamp in inventory.lamps.items() if lamp.circuit_id in circuits},
    )


def _plans(evaluator: Evaluator, lamps: list[str], night: date) -> dict[str, Plan]:
    """Each lamp's expected level through the night: evaluated at the night's start and at
    every moment something can change it (a program's step of any of the site's calendars,
    an override's start, end or cancellation)."""
    place = next(iter(evaluator.places.values()))
    start = datetime.combine(night, NOON, place.tz)
    end = start + timedelta(days=1)
    moments: set[datetime] = set()
    for calendar in {evaluator.calendar_of(lamp) for lamp in lamps}:
        program, _why = evaluator.program_for(calendar, night)
        if program is not None:
            moments.update(at for at, _level in program.changes(night, place))
    for override in evaluator.schedule.overrides:
        moments.update(
            at for at in (override.starts, override.ends, override.cancelled_at) if at is not None
        )
    first = evaluator.evaluate(start)
    levels = {lamp: first[lamp].level for lamp in lamps}
    changes: dict[str, list[tuple[float, int | None]]] = {lamp: [] for lamp in lamps}
    for moment in sorted(m for m in moments if start < m < end):
        expected = evaluator.evaluate(moment)
        for lamp in lamps:
            level = expected[lamp].level
            last = changes[lamp][-1][1] if changes[lamp] else levels[lamp]
            if level != last:
                changes[lamp].append((moment.timestamp(), level))
    return {lamp: Plan(levels[lamp], tuple(changes[lamp])) for lamp in lamps}


# --- InfluxDB ------------------------------------------------------------------------------------


async def _read_lamps(
    influx: InfluxClient,
    evaluator: Evaluator,
    site: str,
    lamps: list[str],
    *,
    night: date,
    criteria: AcceptanceCriteria,
) -> list[LampNight]:
    if not lamps:
        return []
    sampling = criteria.sampling
    plans = _plans(evaluator, lamps, night)
    tz = next(iter(evaluator.places.values())).tz
    start = datetime.combine(night, NOON, tz)
    end = start + timedelta(days=1)
    since = start - timedelta(seconds=sampling.offline_after_s)
    statement = (
        f'SELECT "relay_on", "dim_pct", "power_w" FROM {LAMP.qualified} '  # noqa: S608 - quoted
        f'WHERE "site" = {quote_literal(site)} AND time >= {to_ns(since)} '
        f'AND time < {to_ns(end)} GROUP BY "lamp"'
    )
    reports: dict[str, list[Report]] = {}
    for series in await influx.query(statement, epoch="ms"):
        column = {name: i for i, name in enumerate(series.columns)}
        reports[series.tags.get("lamp", "")] = [
            Report(
                row[column["time"]] / 1000,
                bool(row[column["relay_on"]]),
                int(row[column["dim_pct"]] or 0),
                _float(row[column["power_w"]]),
            )
            for row in series.values
            if row[column["relay_on"]] is not None
        ]
    span = (start.timestamp(), end.timestamp())
    rated = dict(_rated(evaluator.groups.inventory, lamps))
    return [
        read_night(
            lamp,
            night,
            span,
            rated_w=rated[lamp],
            plan=plans[lamp],
            reports=reports.get(lamp, []),
            sampling=sampling,
        )
        for lamp in lamps
    ]


def _rated(inventory: Inventory, lamps: Iterable[str]) -> Iterable[tuple[str, float]]:
    return ((lamp, inventory.lamps[lamp].rated_power_w) for lamp in lamps)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


async def _site_nights(
    influx: InfluxClient, site: str, start: datetime, end: datetime, tz: Any
) -> list[SiteNight]:
    """The KPI writer's `kpi_night` of the site, stamped at each night's start."""
    statement = (
        f'SELECT "lighting_rate_pct", "lighting_target_pct", "lamps_reporting" '  # noqa: S608
        f"FROM {KPI_NIGHT.qualified} WHERE \"scope\" = '{KpiScope.SITE.value}' "
        f'AND "site" = {quote_literal(site)} AND time >= {to_ns(start)} AND time < {to_ns(end)}'
    )
    out = []
    for series in await influx.query(statement, epoch="ms"):
        column = {name: i for i, name in enumerate(series.columns)}
        for row in series.values:
            night = datetime.fromtimestamp(row[column["time"]] / 1000, tz).date()
            reporting = row[column["lamps_reporting"]]
            out.append(
                SiteNight(
                    night,
                    _float(row[column["lighting_rate_pct"]]),
                    _float(row[column["lighting_target_pct"]]),
                    None if reporting is None else int(reporting),
                )
            )
    return sorted(out, key=lambda n: n.night)
