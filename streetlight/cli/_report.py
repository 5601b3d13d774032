"""`streetlight report monthly`: the leading group's monthly progress report per subdistrict
(月度进展报告), from the store and InfluxDB as `GET /api/v1/reports/monthly` makes it.

Prints the figures as a table; `--pdf`, `--html` and `--csv` write the report's files (Chinese
by default, `--lang en` for English) and say where. "Now" is the process's clock (wall time
unless a shared simulated clock is set), so a month still running is counted up to now.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from streetlight.cli._common import settings_and_logging
from streetlight.influx import InfluxClient
from streetlight.reports import (
    LANGS,
    Lang,
    MonthlyReport,
    monthly_csv,
    monthly_html,
    monthly_pdf,
    monthly_report,
)
from streetlight.settings import CommonSettings
from streetlight.store import open_store, sessions


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("report", help="the reports: monthly progress per subdistrict")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    monthly = kinds.add_parser("monthly", help="the monthly progress report (月度进展报告)")
    monthly.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-12")
    monthly.add_argument("--subdistrict", help="one subdistrict's id (default: every one)")
    monthly.add_argument("--lang", choices=LANGS, default="zh")
    monthly.add_argument("--pdf", type=Path, metavar="PATH", help="write the report as PDF")
    monthly.add_argument("--html", type=Path, metavar="PATH", help="write the report as HTML")
    monthly.add_argument("--csv", type=Path, metavar="PATH", help="write the figures as CSV")
    monthly.set_defaults(handler=run_monthly)


async def make_monthly(
    settings: CommonSettings, month: str, subdistrict: str | None = None
) -> MonthlyReport:
    """The month's report from the store and InfluxDB the settings name (the demo's too)."""
    async with (
        open_store(settings) as engine,
        InfluxClient.from_settings(settings) as influx,
        sessions(engine)() as session,
    ):
        return await monthly_report(
            session, influx, month=month, now=settings.clock().now(), subdistrict=subdistrict,
            reporting_s=settings.survey_reporting_s, profiles_dir=settings.profiles_dir,
            dark_rule=settings.dark_road_rule(),
        )  # fmt: skip


def write_monthly(
    report: MonthlyReport,
    lang: str,
    *,
    pdf: Path | None = None,
    html: Path | None = None,
    csv: Path | None = None,
) -> list[Path]:
    """Write the files asked for; their paths."""
    written = []
    language: Lang = "en" if lang == "en" else "zh"
    if csv is not None:
        csv.write_text(monthly_csv(report), encoding="utf-8")
        written.append(csv)
    if html is not None:
        html.write_text(monthly_html(report, language), encoding="utf-8")
        written.append(html)
    if pdf is not None:
        pdf.write_bytes(monthly_pdf(report, language))
        written.append(pdf)
    return written


def run_monthly(args: argparse.Namespace) -> int:
    settings = settings_and_logging(CommonSettings)
    report = asyncio.run(make_monthly(settings, args.month, args.subdistrict))
    _print(report)
    for path in write_monthly(report, args.lang, pdf=args.pdf, html=args.html, csv=args.csv):
        print(f"written {path}")
    return 0


def _cell(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _print(report: MonthlyReport) -> None:
    print(f"monthly report {report.month} of {report.district_name}, nights from "
          f"{report.window_start.isoformat()} to {report.window_end.isoformat()}; "
          f"lamps counted at {report.counted_at.isoformat()}")  # fmt: skip
    header = ("id", "planned", "installed", "reporting", "nights", "rate %", "target %",
              "opened", "closed", "in time", "kWh", "saved kWh", "dark m")  # fmt: skip
    table = [header]
    table += [
        (row.id, str(row.planned), str(row.installed), str(row.reporting), str(row.nights),
         _cell(row.lighting_rate_pct), _cell(row.lighting_target_pct), str(row.faults_opened),
         str(row.faults_closed), str(row.faults_closed_in_time), _cell(row.energy_kwh, 1),
         _cell(row.saved_kwh, 1), _cell(row.dark_road_m, 0))
        for row in [*report.rows, report.total]
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for cells in table:
        padded = (
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        print("  ".join(padded))
