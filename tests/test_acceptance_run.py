"""The acceptance, proven on a real simulated run (tests/acceptance_run.py: simulator, gateway
and controller with its KPI writer, two nights of three sites): the clean site passes every
criterion; the site with one lamp dark on one night fails the lighting rate naming that lamp
and that night; the site with one lamp switching 20 minutes late on one night fails the switch
times naming that lamp and that night; the committee's PDF of each says so in Chinese; a
stored run re-runs to the same result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import dashboards
from dashboards.queries import queries, statement, time_range
from streetlight.acceptance import (
    AcceptanceResult,
    CriterionKey,
    Verdict,
    Window,
    gather,
    record_run,
    rerun,
    write_points,
)
from streetlight.domain.workorders import OrderState
from streetlight.influx import InfluxClient, quote_ident
from streetlight.profiles import DEFAULT_DIR
from streetlight.reports import acceptance_pdf
from streetlight.services import ServiceState
from streetlight.store import open_engine, sessions
from tests.acceptance_run import (
    CLEAN,
    CRITERIA,
    DARK_LAMP,
    DARK_NIGHT,
    DARK_SITE,
    END,
    FIRST_NIGHT,
    LAST_NIGHT,
    LATE_LAMP,
    LATE_NIGHT,
    LATE_SITE,
    Run,
    simulate,
)
from tests.conftest import FAST_RETRY
from tests.simulation import SHANGHAI
from tests.test_reports import pdf_text

pytestmark = pytest.mark.slow  # two simulated nights: about two minutes of wall time


@dataclass
class Accepted:
    run: Run
    results: dict[str, AcceptanceResult]


async def _accept_all(run: Run) -> dict[str, AcceptanceResult]:
    engine = await open_engine(run.engine_url)
    try:
        async with InfluxClient(run.influx_url, run.database, retry=FAST_RETRY) as influx:
            results = {}
            for site in (CLEAN, DARK_SITE, LATE_SITE):
                async with sessions(engine)() as session:
                    inputs = await gather(
                        session, influx, Window(site, FIRST_NIGHT, LAST_NIGHT), CRITERIA,
                        profiles_dir=DEFAULT_DIR, now=END,
                    )  # fmt: skip
                async with sessions(engine)() as session, session.begin():
                    results[site] = await record_run(
                        session, inputs, CRITERIA, by="committee", now=END
                    )
                assert await write_points(influx, results[site])
            return results
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def accepted(
    service_state: ServiceState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Accepted]:
    run = asyncio.run(simulate(service_state, tmp_path_factory.mktemp("acceptance")))
    try:
        yield Accepted(run, asyncio.run(_accept_all(run)))
    finally:

        async def drop() -> None:
            async with InfluxClient(run.influx_url, run.database, retry=FAST_RETRY) as client:
                await client.execute(f"DROP DATABASE {quote_ident(run.database)}")

        asyncio.run(drop())


def _failed(result: AcceptanceResult) -> list[str]:
    return [c.criterion.value for c in result.criteria if c.verdict is Verdict.FAIL]


def test_a_clean_site_passes_every_criterion(accepted: Accepted) -> None:
    result = accepted.results[CLEAN]
    assert _failed(result) == [], [f.detail for f in result.findings]
    assert result.verdict is Verdict.PASS
    complete = result.criterion(CriterionKey.COMPLETE).figures
    assert complete["planned"] == complete["reporting"] == result.lamps == 25
    assert [n.night for n in result.nights] == [FIRST_NIGHT, LAST_NIGHT]
    for night in result.nights:  # the KPI writer's own rate, at 100 %
        assert night.lighting_rate_pct == pytest.approx(100.0)
        assert night.on_plan_ms is not None
        assert night.on_median_ms is not None
    switches = result.criterion(CriterionKey.SWITCH_TIMES).figures
    assert switches["switches_judged"] == 2 * 2 * 25  # on and off, two nights, every lamp


def test_one_lamp_dark_on_one_night_fails_the_lighting_rate_naming_it(
    accepted: Accepted,
) -> None:
    result = accepted.results[DARK_SITE]
    rate = result.criterion(CriterionKey.LIGHTING_RATE)
    assert rate.verdict is Verdict.FAIL
    below = [f for f in rate.findings if f.key == "night_below_target"]
    assert [(f.asset, f.night) for f in below] == [(f"site:{DARK_SITE}", DARK_NIGHT)]
    assert isinstance(below[0].seen, float)
    assert below[0].seen < 98.0
    dark = [(f.asset, f.night) for f in rate.findings if f.key == "dark"]
    assert dark == [(f"lamp:{DARK_LAMP}", DARK_NIGHT)]
    good_night = next(n for n in result.nights if n.night == LAST_NIGHT)
    assert good_night.lighting_rate_pct is not None
    assert good_night.lighting_rate_pct >= 98.0
    # its crew closed its work order within the deadline
    assert accepted.run.crew.get(OrderState.CLOSED) is not None
    assert result.criterion(CriterionKey.FAULTS_CLOSED).verdict is Verdict.PASS


def test_one_lamp_switching_late_on_one_night_fails_the_switch_times_naming_it(
    accepted: Accepted,
) -> None:
    result = accepted.results[LATE_SITE]
    switches = result.criterion(CriterionKey.SWITCH_TIMES)
    assert switches.verdict is Verdict.FAIL
    named = {(f.key, f.asset, f.night) for f in switches.findings}
    assert named == {("late_on", f"lamp:{LATE_LAMP}", LATE_NIGHT)}
    (late,) = switches.findings
    assert isinstance(late.seen, float)
    assert 20.0 <= late.seen <= 20.0 + 5 + 1  # a report may come up to an interval later
    assert result.criterion(CriterionKey.LIGHTING_RATE).verdict is Verdict.PASS
    assert result.criterion(CriterionKey.ENERGY).verdict is Verdict.PASS


def test_the_failing_sites_reports_name_the_lamp_and_the_night_in_chinese(
    accepted: Accepted, tmp_path: Path
) -> None:
    """The committee's PDF of each failing site, read back with pdftotext: each finding in
    its own Chinese sentence (none worded generically), naming the lamp and the night."""
    dark = pdf_text(acceptance_pdf(accepted.results[DARK_SITE]), tmp_path)
    night = f"{DARK_NIGHT.year}年{DARK_NIGHT.month}月{DARK_NIGHT.day}日夜"
    for words in ("竣工验收报告", "验收结论：不通过", f"站点{DARK_SITE}在{night}亮灯率",
                  f"路灯{DARK_LAMP}在{night}未正常亮灯（应亮时段亮灯"):  # fmt: skip
        assert words in dark, words
    late = pdf_text(acceptance_pdf(accepted.results[LATE_SITE]), tmp_path)
    night = f"{LATE_NIGHT.year}年{LATE_NIGHT.month}月{LATE_NIGHT.day}日夜"
    assert f"路灯{LATE_LAMP}在{night}开灯晚于计划" in late
    for text in (dark, late):
        assert "，实测" not in text  # the generic sentence's


def test_a_stored_run_reruns_to_the_same_result(accepted: Accepted) -> None:
    async def again() -> list[bool]:
        engine = await open_engine(accepted.run.engine_url)
        try:
            async with sessions(engine)() as session:
                return [
                    (await rerun(session, result.run_id)).identical
                    for result in accepted.results.values()
                ]
        finally:
            await engine.dispose()

    assert asyncio.run(again()) == [True, True, True]


async def _dashboard_table(run: Run, site: str) -> dict[str, dict[str, object]]:
    """The acceptance dashboard's criteria table for `site`, as Grafana would ask for it."""
    document = dashboards.build("acceptance", "zh")
    (query,) = [q for q in queries(document) if 'GROUP BY "criterion"' in q.query]
    start, end = time_range("now-30d", END, SHANGHAI)
    sent = statement(query.query, start, end, {"site": site, "subdistrict": ".*"}, now=END)
    async with InfluxClient(run.influx_url, run.database, retry=FAST_RETRY) as client:
        series = await client.query(sent, epoch="ms")
    return {s.tags["criterion"]: dict(zip(s.columns, s.values[0], strict=True)) for s in series}


def test_the_acceptance_dashboard_shows_each_runs_verdicts(accepted: Accepted) -> None:
    """Each run's points (written as `streetlight acceptance run` and the API write them)
    answer the dashboard's criteria table: the dark site's lighting rate failed, its evidence
    naming the lamp and the night; the clean site's every criterion passed."""
    dark = asyncio.run(_dashboard_table(accepted.run, DARK_SITE))
    assert set(dark) == {"lamps_complete", "lighting_rate", "switch_times", "energy_per_lamp",
                         "faults_closed", "overall"}  # fmt: skip
    verdict, evidence = "结论", "证据"
    assert dark["lighting_rate"][verdict] is False
    assert DARK_LAMP in str(dark["lighting_rate"][evidence])
    assert DARK_NIGHT.isoformat() in str(dark["lighting_rate"][evidence])
    assert dark["overall"][verdict] is False
    clean = asyncio.run(_dashboard_table(accepted.run, CLEAN))
    assert {name: row[verdict] for name, row in clean.items()} == dict.fromkeys(clean, True)
