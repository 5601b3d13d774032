"""The monthly progress report per subdistrict (月度进展报告) for the leading group: what it
holds (`MonthlyReport`), the month it is about (`Month`), and its CSV, HTML and PDF. Where its
figures come from is `_monthly_data`; docs/contract.md ("Reports") defines each.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from streetlight.reports._charts import nightly_chart
from streetlight.reports._messages import Lang, Tr
from streetlight.reports._render import ReportError, render, to_pdf

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
NIGHT_STARTS = time(12)  # a night runs noon to noon, local, as the KPIs' nights do


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 2000 <= self.year <= 2999:
            raise ReportError(f"no month {self.year:04d}-{self.month:02d}", "month")

    @classmethod
    def parse(cls, text: str) -> Month:
        found = MONTH.match(text.strip())
        if found is None:
            raise ReportError(f"month {text!r} is not YYYY-MM (e.g. 2026-12)", "month")
        return cls(int(found[1]), int(found[2]))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def window(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """From noon of its first day to noon of the next month's: its nights, whose evenings
        fall in the month."""
        start = datetime.combine(self.first_day, NIGHT_STARTS, tz)
        return start, datetime.combine(self.next().first_day, NIGHT_STARTS, tz)

    def nights(self) -> list[date]:
        last = self.next().first_day
        return [self.first_day + timedelta(days=i) for i in range((last - self.first_day).days)]


@dataclass(frozen=True, slots=True)
class MonthlyRow:
    """One subdistrict's month (scope `subdistrict`) or the district's (`district`)."""

    scope: str
    id: str
    name: str
    planned: int
    installed: int
    registered: int
    reporting: int
    nights: int  # nights with a kpi_night point
    lamp_intervals_should_lit: int
    lamp_intervals_lit_ok: int
    lighting_rate_pct: float | None
    lighting_target_pct: float | None
    worst_night: date | None
    worst_night_rate_pct: float | None
    nights_below_target: int
    faults_opened: int
    faults_closed: int
    faults_closed_in_time: int
    faults_open_at_end: int
    energy_kwh: float
    baseline_kwh: float
    saved_kwh: float
    road_length_m: float
    dark_road_m: float

    @property
    def installed_pct(self) -> float | None:
        return None if self.planned == 0 else 100 * self.installed / self.planned

    @property
    def closed_in_time_pct(self) -> float | None:
        return (
            None
            if self.faults_closed == 0
            else 100 * self.faults_closed_in_time / self.faults_closed
        )

    @property
    def saved_pct(self) -> float | None:
        return None if self.baseline_kwh == 0 else 100 * self.saved_kwh / self.baseline_kwh

    @property
    def dark_road_pct(self) -> float | None:
        return None if self.road_length_m == 0 else 100 * self.dark_road_m / self.road_length_m


@dataclass(frozen=True, slots=True)
class NightRate:
    night: date
    lighting_rate_pct: float | None
    lighting_target_pct: float | None


@dataclass(frozen=True)
class MonthlyReport:
    """A month of the district, per subdistrict (`rows`: the one asked for, or every one) and
    for the whole district (`total`); `nightly`: each row's nights, for the chart."""

    month: Month
    district: str
    district_name: str
    timezone: str
    window_start: datetime
    window_end: datetime
    counted_at: datetime  # the lamps' counts: the window's end, or now if it has not come
    computed_at: datetime
    subdistrict: str | None
    rows: list[MonthlyRow]
    total: MonthlyRow
    nightly: dict[str, list[NightRate]]


DERIVED = ("installed_pct", "closed_in_time_pct", "saved_pct", "dark_road_pct")
COLUMNS = ("month", *(f.name for f in fields(MonthlyRow)), *DERIVED)


def row_record(row: MonthlyRow) -> dict[str, object]:
    """The row with its derived percentages, JSON-ready (dates as ISO strings)."""
    record: dict[str, object] = asdict(row)
    record["worst_night"] = None if row.worst_night is None else row.worst_night.isoformat()
    for name in DERIVED:
        record[name] = getattr(row, name)
    return record


def monthly_csv(report: MonthlyReport) -> str:
    """One line per subdistrict and one for the district, with the figures' names (COLUMNS)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in [*report.rows, report.total]:
        record = {"month": str(report.month), **row_record(row)}
        writer.writerow({k: "" if v is None else _csv_value(v) for k, v in record.items()})
    return out.getvalue()


def _csv_value(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def monthly_html(report: MonthlyReport, lang: Lang = "zh") -> str:
    t = Tr(lang)
    tz = ZoneInfo(report.timezone)
    scope = t("mon.all")
    if report.subdistrict is not None and report.rows:
        scope = report.rows[0].name
    series = {
        row.id: (row.name, [(n.night, n.lighting_rate_pct) for n in report.nightly.get(row.id, [])])
        for row in report.rows
    }
    has_nights = any(points for _name, points in series.values())
    end = report.window_end.astimezone(tz) - timedelta(days=1)
    return render(
        "monthly.html",
        lang,
        title=t("mon.title"),
        subtitle=t("mon.subtitle"),
        head_left=f"{report.district_name} · {scope}",
        head_right=str(report.month),
        report=report,
        rows=[*report.rows, report.total],
        scope=scope,
        window=f"{t.day(report.window_start.astimezone(tz).date())} 12:00 – "
        f"{t.day(end.date() + timedelta(days=1))} 12:00",
        counted_at=report.counted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        computed_at=report.computed_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        chart=nightly_chart(t, series, report.total.lighting_target_pct) if has_nights else None,
    )


def monthly_pdf(report: MonthlyReport, lang: Lang = "zh") -> bytes:
    return to_pdf(monthly_html(report, lang))
