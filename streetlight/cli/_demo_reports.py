"""The demo's reports: once the simulated clock has passed a noon (when the controller's KPI
writer writes the night's summary, `kpi_night`), the leading group's monthly progress report
of the sample district (月度进展报告) for the month of the night that ended, and the
committee's acceptance report (竣工验收报告) of one site over the nights so far, each as HTML
and PDF in `<var>/demo/reports/`; written again after each later noon, their paths printed.
A report that cannot be made is logged and said; the demo goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from streetlight.acceptance import Window, load_criteria
from streetlight.cli._acceptance import record_acceptance
from streetlight.cli._report import make_monthly, write_monthly
from streetlight.domain import Inventory
from streetlight.reports import Month, acceptance_html, acceptance_pdf
from streetlight.settings import CommonSettings

logger = logging.getLogger(__name__)

SITE = "PP-S01"  # the site of the demo scenario's first fault: its report names the dark lamp
NOON = time(12)
# after noon, for the night's summary to be written and in InfluxDB (the writer's noon mark)
SETTLE = timedelta(minutes=10)
POLL_S = 1.0  # wall seconds between looks at the clock


def night_of(moment: datetime, tz: ZoneInfo) -> date:
    """The evening's date of the night `moment` is in (nights run from local noon)."""
    local = moment.astimezone(tz)
    return local.date() if local.time() >= NOON else local.date() - timedelta(days=1)


def first_due(moment: datetime, tz: ZoneInfo) -> datetime:
    """When the night `moment` is in has ended and its summary is written."""
    return datetime.combine(night_of(moment, tz) + timedelta(days=1), NOON, tz) + SETTLE


@dataclass
class DemoReports:
    """Writes the reports after each simulated noon from the demo's clock on."""

    settings: CommonSettings
    inventory: Inventory
    directory: Path
    say: Callable[[str], None]
    site: str = SITE

    def __post_init__(self) -> None:
        if self.site not in self.inventory.sites:  # another inventory: its first site
            self.site = min(self.inventory.sites)
        self.tz = self.inventory.district.tz
        self.first_night = night_of(self.settings.clock().now(), self.tz)

    def announce(self) -> str:
        """What the demo prints at its start: where, and when the first reports come."""
        clock = self.settings.clock()
        due = first_due(clock.now(), self.tz)
        wall_min = clock.wall_seconds((due - clock.now()).total_seconds()) / 60
        return (
            f"reports     monthly report and site {self.site}'s acceptance report (HTML, PDF) "
            f"into {self.directory}\n"
            f"            after each simulated noon; the first at {due:%Y-%m-%d %H:%M} "
            f"simulated, in about {wall_min:.0f} min"
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: at each due moment, write the reports (a failure is said, not
        raised)."""
        clock = self.settings.clock()
        due = first_due(clock.now(), self.tz)
        while not stop.is_set():
            if clock.now() < due:
                try:
                    await asyncio.wait_for(stop.wait(), POLL_S)
                except TimeoutError:
                    continue
                return
            await self.write_all(night_of(due, self.tz) - timedelta(days=1))
            due = first_due(clock.now(), self.tz)

    async def write_all(self, last_night: date) -> list[Path]:
        """Both reports, up to the night `last_night`; the paths written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name, write in (("monthly", self.monthly), ("acceptance", self.acceptance)):
            try:
                written += await write(last_night)
            except Exception as exc:
                logger.exception("the demo's %s report could not be written", name)
                self.say(f"reports     the {name} report could not be written: {exc}")
        for path in written:
            self.say(f"reports     written {path}")
        return written

    async def monthly(self, last_night: date) -> list[Path]:
        month = Month(last_night.year, last_night.month)
        report = await make_monthly(self.settings, str(month))
        stem = self.directory / f"monthly-{month}"
        return await asyncio.to_thread(
            write_monthly,
            report,
            "zh",
            html=stem.with_suffix(".html"),
            pdf=stem.with_suffix(".pdf"),
        )

    async def acceptance(self, last_night: date) -> list[Path]:
        first = min(self.first_night, last_night)
        window = Window(self.site, first, last_night)
        result = await record_acceptance(self.settings, window, load_criteria(None), by="demo")
        nights = (last_night - first).days + 1
        note = f"演示：模拟运行的前 {nights} 夜（正式验收一般为 7 夜）"  # noqa: RUF001
        stem = self.directory / f"acceptance-{self.site}"
        html, pdf = stem.with_suffix(".html"), stem.with_suffix(".pdf")
        body = await asyncio.to_thread(acceptance_html, result, note=note)
        html.write_text(body, encoding="utf-8")
        pdf.write_bytes(await asyncio.to_thread(acceptance_pdf, result, note=note))
        return [html, pdf]
