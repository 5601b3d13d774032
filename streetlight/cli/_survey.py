"""`streetlight survey counts|gaps`: the renovation programme's survey (调查摸底).

`counts` prints, per site (or community, subdistrict, the district), the lamps planned,
installed, registered and reporting, counted from the store and InfluxDB as the API's
`GET /api/v1/survey` counts them; `--inventory PATH` counts a survey file's lamps against the
store instead. `gaps` finds the roads without lamps (有路无灯) of the store's inventory (or of
`--inventory PATH`) and prints them per site; `--geojson PATH` writes the dark stretches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from streetlight.cli._common import moment_option, settings_and_logging
from streetlight.domain import KpiScope
from streetlight.influx import InfluxClient
from streetlight.inventory import load_inventory_file
from streetlight.settings import CommonSettings
from streetlight.store import inventory_from, open_store, sessions
from streetlight.survey import (
    SurveyCount,
    count_survey,
    counts_csv,
    gap_report,
    gaps_geojson,
    site_rows,
    sites_csv,
)


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("survey", help="survey counts and roads without lamps")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    counts = actions.add_parser("counts", help="lamps planned, installed, registered, reporting")
    counts.add_argument("--scope", choices=[s.value for s in KpiScope], default="site")
    counts.add_argument("--csv", action="store_true", help="CSV instead of a table")
    counts.add_argument("--at", help="the moment counted, ISO 8601 with offset (default: now)")
    counts.add_argument("--inventory", type=Path, help="a survey file to count against the store")
    counts.set_defaults(handler=run_counts)
    gaps = actions.add_parser("gaps", help="roads without lamps (有路无灯)")
    gaps.add_argument("--geojson", type=Path, metavar="PATH", help="write the dark stretches")
    gaps.add_argument("--csv", action="store_true", help="the per-site table as CSV")
    gaps.add_argument("--inventory", type=Path, help="an inventory file instead of the store")
    gaps.set_defaults(handler=run_gaps)


def run_counts(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    at = moment_option("--at", args.at) if args.at else settings.clock().now()
    plan = load_inventory_file(args.inventory) if args.inventory else None

    async def count() -> list[SurveyCount]:
        async with (
            open_store(settings) as engine,
            InfluxClient.from_settings(settings) as influx,
            sessions(engine)() as session,
        ):
            return await count_survey(
                session, influx, scope=KpiScope(args.scope), at=at,
                reporting_s=settings.survey_reporting_s, profiles_dir=settings.profiles_dir,
                plan=plan,
            )  # fmt: skip

    rows = asyncio.run(count())
    if args.csv:
        print(counts_csv(rows), end="")
        return 0
    window = settings.survey_reporting_s
    print(f"survey at {at.isoformat()} (reporting: a report within {window:g} s)")
    table: list[tuple[str, ...]] = [
        ("id", "name", "planned", "installed", "registered", "reporting")
    ]
    table += [(r.id, r.name, str(r.planned), str(r.installed), str(r.registered),
               str(r.reporting)) for r in rows]  # fmt: skip
    total = [sum(getattr(r, key) for r in rows)
             for key in ("planned", "installed", "registered", "reporting")]  # fmt: skip
    table.append(("total", "", *(str(n) for n in total)))
    _print_table(table)
    return 0


def run_gaps(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    inventory = asyncio.run(
        inventory_from(args.inventory, settings, or_else=", or give --inventory PATH")
    )
    report = gap_report(inventory, settings.dark_road_rule())
    if args.geojson is not None:
        args.geojson.write_text(
            json.dumps(gaps_geojson(report), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    if args.csv:
        print(sites_csv(report), end="")
        return 0
    rows = site_rows(report)
    table: list[tuple[str, ...]] = [("site", "name", "roads", "road m", "dark", "dark m", "dark %")]
    table += [(r["site"], r["name"], str(r["roads"]), f"{r['road_length_m']:.0f}",
               str(r["stretches"]), f"{r['dark_length_m']:.0f}",
               "" if r["dark_pct"] is None else f"{r['dark_pct']:.1f}")
              for r in rows if r["stretches"]]  # fmt: skip
    _print_table(table)
    dark = sum(s.length_m for s in report.stretches)
    written = f"; written to {args.geojson}" if args.geojson else ""
    print(f"{len(report.stretches)} dark stretches, {dark:.0f} m, on {len(table) - 1} of "
          f"{len(rows)} sites with roads{written}")  # fmt: skip
    return 0


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)
        ]
        print("  ".join(cells).rstrip())


def _width(text: str) -> int:
    """Columns a terminal gives the text: a CJK character takes two."""
    return sum(2 if ord(char) > 0x2E80 else 1 for char in text)
