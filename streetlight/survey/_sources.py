"""Where the survey's figures come from: the store (the plan and what the system holds),
the device profiles (whether the system can take a lamp's reports) and InfluxDB (whether it
does). The CLI and the API both count through `count_survey`, so they agree."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import KpiScope, LampStatus
from streetlight.errors import StreetlightError
from streetlight.influx import InfluxClient, to_ns
from streetlight.inventory import InventoryFile
from streetlight.profiles import profile_check, read_profiles
from streetlight.store import read_assets
from streetlight.survey._counts import SurveyCount, registered_lamps, survey_counts


class SurveyError(StreetlightError):
    """The survey cannot be counted: no inventory in the store."""


async def reporting_lamps(influx: InfluxClient, at: datetime, window_s: float) -> set[str]:
    """The lamps with a `lamp` point in (at - window, at]: every point carries `dim_pct`."""
    end = to_ns(at)
    start = end - round(window_s * 1e9)
    statement = (
        f'SELECT last("dim_pct") FROM "lamp" WHERE time > {start} AND time <= {end} '  # noqa: S608 - integers only
        'GROUP BY "lamp"'
    )
    return {series.tags["lamp"] for series in await influx.query(statement) if series.values}


async def count_survey(
    session: AsyncSession,
    influx: InfluxClient,
    *,
    scope: KpiScope,
    at: datetime,
    reporting_s: float,
    profiles_dir: Path,
    plan: InventoryFile | None = None,
) -> list[SurveyCount]:
    """The survey counts at `at`: of the store's lamps, or of `plan` (a survey file) against
    the store. Raises SurveyError when the store holds no inventory; InfluxDB's errors
    (streetlight.influx) when it does not answer."""
    stored = await read_assets(session)
    if stored is None:
        raise SurveyError(
            "the store holds no inventory: load one with 'streetlight inventory load'"
        )
    profiles, _broken = await asyncio.to_thread(read_profiles, profiles_dir)
    in_store = None
    if plan is not None:
        in_store = {
            lamp_id
            for lamp_id in stored.inventory.lamps
            if stored.status.get(lamp_id, LampStatus.INSTALLED) is LampStatus.INSTALLED
        }
    else:
        plan = stored
    registered = registered_lamps(plan, profile_check(profiles), in_store)
    reporting = await reporting_lamps(influx, at, reporting_s)
    on = at.astimezone(plan.inventory.district.tz).date()
    return survey_counts(plan, scope, registered=registered, reporting=reporting, on=on)
