"""The reports, read back as a person reads them: the committee's acceptance report rendered
to PDF and its text extracted with poppler's pdftotext (the real program), in Chinese and
English; and the monthly progress report, whose figures must equal those this test computes
itself from the points and rows it wrote into a real influxd and a real store."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streetlight.acceptance import AcceptanceResult, FigureName, FindingKind
from streetlight.cli._demo_reports import DemoReports
from streetlight.contract.influx_schema import KPI_NIGHT, KPI_POLICY, ensure_database
from streetlight.domain import DarkRoadRule, Inventory
from streetlight.influx import InfluxClient, series_key, to_ns
from streetlight.inventory import load_inventory_file
from streetlight.reports import (
    Month,
    MonthlyReport,
    ReportError,
    acceptance_html,
    acceptance_pdf,
    monthly_csv,
    monthly_pdf,
    monthly_report,
)
from streetlight.reports._messages import FIGURE_LABELS, FINDINGS_ZH
from streetlight.services import ServiceState, ensure_report_tools
from streetlight.settings import CommonSettings, load_settings
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.models import AlarmRow, WorkOrderRow
from streetlight.store.times import to_store
from streetlight.survey import gap_report
from tests import acceptance_results as acc
from tests.conftest import ROOT, SAMPLE_INVENTORY
from tests.helpers import subset
from tests.simulation import SHANGHAI
from tests.test_cli import run

SITES = ("PP-S04", "PP-S09", "GT-S01")  # two subdistricts; PP-S09 has its own maintainer
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=SHANGHAI)
REPORTING = ("PP-S04-L001", "PP-S04-L002", "PP-S04-L003", "GT-S01-L001", "GT-S01-L002")


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The PDF's text as pdftotext extracts it, with every space and line break taken out
    (a table cell may wrap a lamp's id)."""
    pdftotext = ensure_report_tools()["pdftotext"]
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run([str(pdftotext), str(path), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    return re.sub(r"\s+", "", text)


# --- the acceptance report ----------------------------------------------------------------


HEADINGS_ZH = ("竣工验收报告", "一、验收项目", "二、逐夜情况", "三、异常清单", "四、签字")
SIGNERS_ZH = ("施工单位", "监理单位", "街道办事处", "接管养护单位")


def test_a_passing_site_s_report_says_so_in_chinese(tmp_path: Path) -> None:
    text = pdf_text(acceptance_pdf(acc.passing()), tmp_path)
    for words in (*HEADINGS_ZH, *SIGNERS_ZH, acc.SITE, acc.SITE_NAME, "验收结论：通过"):
        assert words in text, words
    assert "不通过" not in text
    assert "验收期内无异常" in text
    assert "2026年12月14日–2026年12月20日" in text  # the window, 7 nights
    assert text.count("通过") == 1 + 5  # the verdict and the five criteria


def test_a_failing_site_s_report_names_the_lamp_and_the_night(tmp_path: Path) -> None:
    text = pdf_text(acceptance_pdf(acc.failing()), tmp_path)
    for words in (*HEADINGS_ZH, *SIGNERS_ZH, acc.SITE, "验收结论：不通过"):
        assert words in text, words
    # criteria 2 and 3 fail, 1, 4 and 5 pass
    assert text.count("不通过") == 1 + 2
    # each finding in its own sentence, its seen and limit as its kind means them
    assert f"站点{acc.SITE}在2026年12月16日夜亮灯率95.83%，低于目标96%" in text
    assert f"路灯{acc.DARK_LAMP}在2026年12月16日夜未正常亮灯（应亮时段亮灯0%，应为100%）" in text
    assert f"路灯{acc.LATE_LAMP}在2026年12月18日夜开灯晚于计划20分钟（允许偏差5分钟）" in text
    assert "，实测" not in text  # no finding worded generically


def test_the_catalogue_words_every_finding_kind_and_figure_name_and_no_other() -> None:
    assert set(FINDINGS_ZH) == set(FindingKind)
    assert set(FIGURE_LABELS) == set(FigureName)
    for zh, en in FIGURE_LABELS.values():
        assert zh
        assert en


def test_the_english_report(tmp_path: Path) -> None:
    failing = pdf_text(acceptance_pdf(acc.failing(), "en"), tmp_path)
    for words in ("Handoveracceptancereport", "1.Criteria", "3.Exceptions", "4.Signatures",
                  "Constructionunit", "Supervisionunit", "Subdistrictoffice",
                  "Receivingmaintainer", "Verdict:FAIL", acc.DARK_LAMP, "2026-12-16",
                  acc.LATE_LAMP, "2026-12-18"):  # fmt: skip
        assert words in failing, words
    passing = pdf_text(acceptance_pdf(acc.passing(), "en"), tmp_path)
    assert "Verdict:PASS" in passing
    assert "FAIL" not in passing


def test_the_html_escapes_what_it_is_given() -> None:
    hostile = dataclasses.replace(acc.passing(), site_name="<script>alert(1)</script>")
    html = acceptance_html(hostile, note='a "note" <b>')
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;" in html


def test_a_result_without_nights_or_with_unknown_words_still_renders(tmp_path: Path) -> None:
    result: AcceptanceResult = acc.failing()
    odd = dataclasses.replace(result.criteria[1].findings[1], key="something_new", night=None)
    criteria = [dataclasses.replace(result.criteria[1], findings=[odd]), *result.criteria[2:]]
    bare = dataclasses.replace(result, nights=[], criteria=criteria, road_class="footpath")
    text = pdf_text(acceptance_pdf(bare), tmp_path)
    assert (
        f"每夜亮灯率达到道路等级目标：路灯{acc.DARK_LAMP}" in text
    )  # a later kind: worded generically
    assert "footpath" in text


# --- the monthly report ---------------------------------------------------------------------


def _inventory() -> Inventory:
    sample = load_inventory_file(SAMPLE_INVENTORY).inventory
    roads = {k: r for k, r in sample.roads.items() if r.site_id in SITES}
    return dataclasses.replace(subset(SITES), roads=roads)


def _night_point(tags: dict[str, str], night: date, should: int, lit: int,
                 energy: float) -> str:  # fmt: skip
    target = 96.0 if tags.get("subdistrict") == "PP" else 95.0
    rate = 100 * lit / should
    fields: dict[str, Any] = {
        "lamp_intervals_should_lit": should, "lamp_intervals_lit_ok": lit,
        "lighting_rate_pct": rate, "lighting_target_pct": target, "target_met": rate >= target,
        "energy_kwh": energy, "baseline_kwh": 2.5 * energy, "saved_kwh": 1.5 * energy,
    }  # fmt: skip
    moment = datetime(night.year, night.month, night.day, 12, tzinfo=SHANGHAI)
    return KPI_NIGHT.encode(series_key(KPI_NIGHT.name, tags), fields, to_ns(moment))


# (night, should, lit, kWh) per scope; nights outside December must not count
NIGHTS: dict[str, list[tuple[date, int, int, float]]] = {
    "PP": [(date(2026, 11, 30), 1000, 500, 99.0), (date(2026, 12, 1), 3000, 2990, 40.0),
           (date(2026, 12, 2), 3000, 2850, 41.5), (date(2026, 12, 3), 2900, 2900, 39.0),
           (date(2027, 1, 1), 1000, 0, 99.0)],
    "GT": [(date(2026, 12, 1), 2000, 1990, 20.0), (date(2026, 12, 3), 2000, 1900, 22.25)],
    "XY": [(date(2026, 12, 1), 5000, 4980, 60.0), (date(2026, 12, 2), 3000, 2850, 41.5),
           (date(2026, 12, 3), 4900, 4800, 61.25)],
}  # fmt: skip


async def _write_nights(influx: InfluxClient, inventory: Inventory) -> None:
    await ensure_database(influx)
    district = inventory.district.id
    lines = []
    for node, nights in NIGHTS.items():
        if node == "XY":
            tags = {"scope": "district", "district": district, "name": "浔阳区"}
        else:
            tags = {"scope": "subdistrict", "district": district, "subdistrict": node, "name": node}
        lines += [_night_point(tags, *night) for night in nights]
    # a site's point, with its subdistrict's tag: not the subdistrict's figure
    site = {"scope": "site", "district": district, "subdistrict": "PP", "site": "PP-S04",
            "name": "x", "road_class": "branch"}  # fmt: skip
    lines.append(_night_point(site, date(2026, 12, 2), 100, 0, 5.0))
    lines += [f"lamp,lamp={lamp},site={lamp[:6]} dim_pct=100i {to_ns(NOW - timedelta(seconds=60))}"
              for lamp in REPORTING]  # fmt: skip
    await influx.write_lines([line for line in lines if line.startswith("kpi_night")],
                             retention_policy=KPI_POLICY)  # fmt: skip
    await influx.write_lines([line for line in lines if line.startswith("lamp")])


def _local(day: int, hour: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


# (site, opened, deadline, closed): what each order does for the month of December
ORDERS = (
    ("PP-S04", _local(2, 20), _local(3, 20), _local(3, 10)),  # opened, closed in time
    ("PP-S04", _local(2, 21), _local(3, 21), _local(5, 10)),  # opened, closed late
    ("GT-S01", _local(28, 10, 11), _local(29, 10, 11), _local(2, 9)),  # closed late only
    ("GT-S01", _local(3, 1), _local(4, 1), None),  # opened, open at the end
    ("GT-S01", _local(1, 11), _local(2, 11), None),  # before the first night: open at the end
    ("PP-S04", _local(20, 10, 11), _local(21, 10, 11), _local(21, 9, 11)),  # November's
)
FAULTS = {"PP": (2, 2, 1, 0), "GT": (1, 1, 0, 2), "XY": (3, 3, 1, 2)}


async def _write_store(db_url: str, inventory: Inventory) -> None:
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "test")
        async with sessions(engine)() as session, session.begin():
            for index, (site, opened, deadline, closed) in enumerate(ORDERS, start=1):
                lamp = f"{site}-L001"
                session.add(AlarmRow(id=index, type="lamp_failure", asset_kind="lamp",
                                     asset_id=lamp, severity="ordinary", state="cleared",
                                     site_id=site, parent_id=None, raised_at=to_store(opened),
                                     cleared_at=None, detail="test"))  # fmt: skip
                await session.flush()
                session.add(WorkOrderRow(id=index, alarm_id=index,
                                         maintainer_id=inventory.sites[site].maintainer_id,
                                         severity="ordinary",
                                         state="closed" if closed else "registered",
                                         opened_at=to_store(opened),
                                         deadline=to_store(deadline),
                                         closed_at=closed and to_store(closed)))  # fmt: skip
    finally:
        await engine.dispose()


async def _report(db_url: str, influx: InfluxClient, **options: Any) -> MonthlyReport:
    engine = await open_engine(db_url)
    try:
        async with sessions(engine)() as session:
            return await monthly_report(
                session, influx, now=NOW, reporting_s=180, profiles_dir=ROOT / "profiles",
                dark_rule=DarkRoadRule(), **{"month": "2026-12", **options},
            )  # fmt: skip
    finally:
        await engine.dispose()


def _expected_nights(node: str) -> dict[str, Any]:
    nights = [n for n in NIGHTS[node] if n[0].month == 12]
    should = sum(n[1] for n in nights)
    lit = sum(n[2] for n in nights)
    target = 96.0 if node == "PP" else 95.0
    rates = {n[0]: 100 * n[2] / n[1] for n in nights}
    worst = min(rates, key=lambda k: rates[k])
    energy = sum(n[3] for n in nights)
    return {
        "nights": len(nights), "lamp_intervals_should_lit": should,
        "lamp_intervals_lit_ok": lit, "lighting_rate_pct": pytest.approx(100 * lit / should),
        "lighting_target_pct": pytest.approx(target), "worst_night": worst,
        "worst_night_rate_pct": pytest.approx(rates[worst]),
        "nights_below_target": sum(1 for r in rates.values() if r < target),
        "energy_kwh": pytest.approx(energy), "baseline_kwh": pytest.approx(2.5 * energy),
        "saved_kwh": pytest.approx(1.5 * energy),
    }  # fmt: skip


async def test_the_monthly_figures_are_those_of_the_points_and_rows_written(
    tmp_path: Path, influx: InfluxClient
) -> None:
    inventory = _inventory()
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    await _write_store(db_url, inventory)
    await _write_nights(influx, inventory)
    report = await _report(db_url, influx)

    gaps = gap_report(inventory, DarkRoadRule())
    rows = {row.id: row for row in report.rows}
    assert list(rows) == ["GT", "PP"]
    assert report.total.id == inventory.district.id
    assert report.counted_at == NOW  # the month runs on: lamps counted now
    assert report.window_start == datetime(2026, 12, 1, 12, tzinfo=SHANGHAI)
    for node, row in [*rows.items(), ("XY", report.total)]:
        sites = [s for s in SITES if node in ("XY", s[:2])]
        lamps = sum(1 for lamp in inventory.lamps if lamp[:6] in sites)
        heard = sum(1 for lamp in REPORTING if lamp[:6] in sites)
        assert (row.planned, row.installed, row.registered, row.reporting) == (
            lamps, lamps, lamps, heard), node  # fmt: skip
        for name, value in _expected_nights(node).items():
            assert getattr(row, name) == value, (node, name)
        faults = (row.faults_opened, row.faults_closed, row.faults_closed_in_time,
                  row.faults_open_at_end)  # fmt: skip
        assert faults == FAULTS[node], node
        dark = [g for g in gaps.sites if g.site in sites]
        assert row.road_length_m == pytest.approx(sum(g.road_length_m for g in dark))
        assert row.dark_road_m == pytest.approx(sum(g.dark_length_m for g in dark))
    assert rows["GT"].dark_road_m > 0  # the sample's GT-S01 has stretches without lamps
    nightly = report.nightly["PP"]
    assert [n.night for n in nightly] == [date(2026, 12, d) for d in (1, 2, 3)]

    csv_lines = monthly_csv(report).splitlines()
    assert len(csv_lines) == 1 + 3
    assert csv_lines[0].startswith("month,scope,id,name,planned,installed")
    assert csv_lines[-1].startswith(f"2026-12,district,{inventory.district.id},")
    text = pdf_text(monthly_pdf(report), tmp_path)
    for words in ("月度进展报告", "一、灯具建设", "二、亮灯率", "三、故障与维修", "四、能耗与节能",
                  "五、有路无灯", "全区合计", inventory.subdistricts["PP"].name,
                  f"{rows['PP'].lighting_rate_pct:.2f}%"):  # fmt: skip
        assert words in text, words
    english = pdf_text(monthly_pdf(report, "en"), tmp_path)
    assert "Monthlyprogressreport" in english
    assert "Districttotal" in english

    one = await _report(db_url, influx, subdistrict="GT")
    assert [row.id for row in one.rows] == ["GT"]
    assert one.rows[0] == rows["GT"]


async def test_bad_months_and_subdistricts_are_refused_naming_them(
    tmp_path: Path, influx: InfluxClient
) -> None:
    for text in ("2026-13", "2026/12", "12-2026", "", "2026-1"):
        with pytest.raises(ReportError) as refused:
            Month.parse(text)
        assert refused.value.field == "month"
    assert Month.parse("2026-12").next() == Month(2027, 1)
    inventory = _inventory()
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    await _write_store(db_url, inventory)
    with pytest.raises(ReportError, match="no subdistrict 'ZZ'") as refused:
        await _report(db_url, influx, subdistrict="ZZ")
    assert refused.value.field == "subdistrict"
    with pytest.raises(ReportError, match="has not begun") as refused:
        await _report(db_url, influx, month="2027-01")
    assert refused.value.field == "month"


async def test_the_monthly_report_command(
    tmp_path: Path, influx: InfluxClient, service_state: ServiceState
) -> None:
    inventory = _inventory()
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    await _write_store(db_url, inventory)
    await _write_nights(influx, inventory)
    env = {"STREETLIGHT_DB_URL": db_url, "STREETLIGHT_INFLUX_URL": service_state.influx_url,
           "STREETLIGHT_INFLUX_DB": influx.database, "STREETLIGHT_CLOCK_START": NOW.isoformat(),
           "STREETLIGHT_PROFILES_DIR": str(ROOT / "profiles")}  # fmt: skip
    paths = {kind: tmp_path / f"m.{kind}" for kind in ("pdf", "html", "csv")}
    options = [item for kind, path in paths.items() for item in (f"--{kind}", str(path))]
    result = run("report", "monthly", "--month", "2026-12", "--lang", "en", *options, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("monthly report 2026-12 of ")
    assert [line.split()[0] for line in lines[2:5]] == ["GT", "PP", inventory.district.id]
    assert [line.removeprefix("written ") for line in lines[5:]] == [
        str(paths["csv"]), str(paths["html"]), str(paths["pdf"])]  # fmt: skip
    assert paths["csv"].read_text(encoding="utf-8").count("\n") == 4
    assert "Monthly progress report" in paths["html"].read_text(encoding="utf-8")
    assert "Monthlyprogressreport" in pdf_text(paths["pdf"].read_bytes(), tmp_path)
    refused = run("report", "monthly", "--month", "2026/12", env=env)
    assert refused.returncode == 2
    assert "month '2026/12' is not YYYY-MM" in refused.stderr


async def test_the_demos_reports_are_written_and_a_failing_one_is_said(
    tmp_path: Path, influx: InfluxClient, service_state: ServiceState
) -> None:
    """What `streetlight demo` writes after a simulated noon (its 18 simulated hours to the
    first noon take the demo 18 minutes, so its test stops long before): the monthly report
    and one site's acceptance report, HTML and PDF, their paths said; a report that cannot be
    made is said and the other still written."""
    inventory = _inventory()
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    await _write_store(db_url, inventory)
    await _write_nights(influx, inventory)
    settings = load_settings(
        CommonSettings, db_url=db_url, influx_url=service_state.influx_url,
        influx_db=influx.database, clock_start=NOW, clock_speed=1.0, clock_anchor=time.time(),
        profiles_dir=ROOT / "profiles",
    )  # fmt: skip
    said: list[str] = []
    reports = DemoReports(settings, inventory, tmp_path / "reports", said.append)
    assert reports.site == "GT-S01"  # the demo's own site is not in this inventory
    assert "the first at 2026-12-11 12:10 simulated, in about 1450 min" in reports.announce()
    written = await reports.write_all(date(2026, 12, 9))
    names = ["monthly-2026-12.html", "monthly-2026-12.pdf", "acceptance-GT-S01.html",
             "acceptance-GT-S01.pdf"]  # fmt: skip
    assert [path.name for path in written] == names
    assert said == [f"reports     written {path}" for path in written]
    assert "月度进展报告" in pdf_text(written[1].read_bytes(), tmp_path)
    acceptance = pdf_text(written[3].read_bytes(), tmp_path)
    for words in ("竣工验收报告", "GT-S01", "演示：模拟运行的前1夜"):
        assert words in acceptance, words
    said.clear()
    assert await reports.write_all(date(2027, 1, 5)) == []  # neither month nor nights begun
    assert [line.split(":")[0] for line in said] == [
        "reports     the monthly report could not be written",
        "reports     the acceptance report could not be written",
    ]
