"""Every query of the dashboards, and the InfluxQL statement Grafana sends for each: what the
tests run on a real influxd and `bench/dashboard_queries.py` times."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any


@dataclass(frozen=True, slots=True)
class DashboardQuery:
    """One query of a dashboard: where it is, the query, and the time range it reads."""

    where: str  # "panel '<title>' A", "annotation '<name>'", "variable '<name>'"
    query: str
    time_range: str  # a panel's own relative time, else the dashboard's (``now-7d``)


def _panels(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in document["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return [panel for panel in panels if panel["type"] != "row"]


def panels(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The panels of a dashboard, rows left out (and opened)."""
    return _panels(document)


def holders(document: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, the object that carries a query and its data source) for each panel target,
    annotation and template variable."""
    found = [
        (f"panel {panel['title']!r} {target['refId']}", target)
        for panel in _panels(document)
        for target in panel["targets"]
    ]
    found += [(f"annotation {a['name']!r}", a) for a in document["annotations"].get("list", [])]
    found += [(f"variable {v['name']!r}", v) for v in document["templating"].get("list", [])]
    return found


def queries(document: Mapping[str, Any]) -> list[DashboardQuery]:
    """Every query of a dashboard with the time range Grafana runs it over."""
    default = document["time"]["from"]
    found = [
        DashboardQuery(
            f"panel {panel['title']!r} {target['refId']}",
            target["query"],
            panel.get("timeFrom") or default,
        )
        for panel in _panels(document)
        for target in panel["targets"]
    ]
    found += [
        DashboardQuery(f"annotation {a['name']!r}", a["query"], default)
        for a in document["annotations"].get("list", [])
    ]
    found += [
        DashboardQuery(f"variable {v['name']!r}", v["query"], default)
        for v in document["templating"].get("list", [])
    ]
    return found


def time_range(spec: str, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The start and end Grafana gives ``$timeFilter`` for ``now-7d``, a panel's relative time
    (``30d``, ``24h``) or ``now/M`` (this month so far, in the time zone `tz`)."""
    if spec == "now/M":
        local = now.astimezone(tz)
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0), now
    match = re.fullmatch(r"(?:now-)?(\d+)([mhdw])", spec)
    if match is None:
        raise ValueError(f"not a relative time range: {spec!r}")
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return now - timedelta(**{unit: int(match[1])}), now


def statement(
    query: str,
    start: datetime,
    end: datetime,
    variables: Mapping[str, str],
    interval: str = "5m",
    *,
    now: datetime | None = None,
) -> str:
    """`query` as Grafana sends it: ``$timeFilter`` as epoch milliseconds, ``$__interval``,
    and the dashboard's variables (values as Grafana formats them: a regex for a multi-value
    variable inside ``/.../``). With `now`, InfluxQL's ``now()`` reads as that moment too: the
    server's ``now()`` is its wall clock, and a simulated night's points sit at the simulator's
    time (a window ``time > now() - 15m`` has no end: `now` must be the data's end, as the real
    now is)."""
    time_filter = (
        f"time >= {int(start.timestamp() * 1000)}ms and time <= {int(end.timestamp() * 1000)}ms"
    )
    text = query.replace("$timeFilter", time_filter).replace("$__interval", interval)
    if now is not None:
        text = text.replace("now()", f"{int(now.timestamp() * 1000)}ms")
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace(f"${name}", variables[name])
    return text
