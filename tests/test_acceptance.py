"""The acceptance's evaluation on hand-made inputs, criterion by criterion and at the edges;
a lamp's night read from its reports; the criteria file; and a stored run re-run on both
store backends."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streetlight.acceptance import (
    AcceptanceCriteria,
    AcceptanceError,
    AcceptanceRefusedError,
    CriterionKey,
    FigureName,
    FindingKind,
    Sampling,
    Verdict,
    accept_run,
    criteria_from,
    evaluate,
    from_json,
    inputs_json,
    load_criteria,
    record_run,
    rerun,
    stored_result,
    to_json,
)
from streetlight.acceptance.inputs import (
    AcceptanceInputs,
    AlarmInput,
    LampInput,
    LevelPower,
    OrderInput,
    SiteNight,
)
from streetlight.acceptance.samples import Plan, Report, read_night
from streetlight.domain import lamp_power_w
from streetlight.reports import acceptance_html
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.acceptance import StoredRun
from streetlight.store.workorders import maintainer_for
from tests.acceptance_inputs import DAY_MS, END, N1, N2, OFF, ON, START, inputs
from tests.helpers import subset

CRITERIA = AcceptanceCriteria()


def judge(data: AcceptanceInputs, criteria: AcceptanceCriteria = CRITERIA) -> object:
    return evaluate(data, criteria, run_id="acc-test", inputs_sha256="0" * 64)


def test_clean_inputs_pass_every_criterion_and_survive_json() -> None:
    result = evaluate(inputs(), CRITERIA, run_id="acc-test", inputs_sha256="0" * 64)
    assert result.verdict is Verdict.PASS
    assert [c.criterion.number for c in result.criteria] == [1, 2, 3, 4, 5]
    assert from_json(to_json(result)) == result
    assert result.nights[0].on_plan_ms == ON
    assert result.nights[1].on_latest_ms == ON + DAY_MS + 60_000


def test_criterion_1_names_lamps_not_installed_registered_or_reporting() -> None:
    data = inputs(4)
    lamps = [dataclasses.replace(data.lamps[0], status="planned"),
             dataclasses.replace(data.lamps[1], registered=False), data.lamps[2], data.lamps[3],
             LampInput("PP-S04-L099", "retired", False, 60.0)]  # fmt: skip
    rows = [r if not (r.lamp == "PP-S04-L003" and r.night == N2) else
            dataclasses.replace(r, reports=0) for r in data.lamp_nights]  # fmt: skip
    result = evaluate(dataclasses.replace(data, lamps=lamps, lamp_nights=rows), CRITERIA,
                      run_id="acc-t", inputs_sha256="")  # fmt: skip
    complete = result.criterion(CriterionKey.COMPLETE)
    assert complete.verdict is Verdict.FAIL
    assert [(f.key, f.asset, f.night) for f in complete.findings] == [
        ("not_installed", "lamp:PP-S04-L001", None),
        ("not_registered", "lamp:PP-S04-L002", None),
        ("not_reporting", "lamp:PP-S04-L003", N2),
    ]
    assert complete.figures["planned"] == 4  # the retired lamp is no longer planned
    assert complete.figures["reporting"] == 1


def test_criterion_2_at_the_target_passes_below_it_names_the_dark_lamps() -> None:
    at_target = inputs(nights=[SiteNight(N1, 96.0, 96.0, 10), SiteNight(N2, 100.0, 96.0, 10)])
    assert (
        evaluate(at_target, CRITERIA, run_id="a", inputs_sha256="")
        .criterion(CriterionKey.LIGHTING_RATE)
        .verdict
        is Verdict.PASS
    )
    data = inputs(nights=[SiteNight(N1, 95.9, 96.0, 10), SiteNight(N2, 100.0, 96.0, 10)])
    rows = [dataclasses.replace(r, lit_ok=0) if r.lamp == "PP-S04-L007" and r.night == N1 else r
            for r in data.lamp_nights]  # fmt: skip
    result = evaluate(dataclasses.replace(data, lamp_nights=rows), CRITERIA, run_id="a",
                      inputs_sha256="")  # fmt: skip
    rate = result.criterion(CriterionKey.LIGHTING_RATE)
    assert rate.verdict is Verdict.FAIL
    assert [(f.key, f.asset, f.night) for f in rate.findings] == [
        ("night_below_target", "site:PP-S04", N1),
        ("dark", "lamp:PP-S04-L007", N1),
    ]
    assert rate.figures["worst_night"] == N1.isoformat()


def test_criterion_2_without_the_writers_figure_counts_the_samples_and_no_data_fails() -> None:
    data = inputs(nights=[])  # no kpi_night: the lamps' samples
    rows = [dataclasses.replace(r, lit_ok=140) if r.lamp == "PP-S04-L001" else r
            for r in data.lamp_nights]  # fmt: skip
    result = evaluate(dataclasses.replace(data, lamp_nights=rows), CRITERIA, run_id="a",
                      inputs_sha256="")  # fmt: skip
    assert result.criterion(CriterionKey.LIGHTING_RATE).verdict is Verdict.PASS  # 99.3 %
    silent = dataclasses.replace(data, lamp_nights=[
        dataclasses.replace(r, should_lit=0, lit_ok=0) for r in data.lamp_nights])  # fmt: skip
    keys = [f.key for f in evaluate(silent, CRITERIA, run_id="a", inputs_sha256="")
            .criterion(CriterionKey.LIGHTING_RATE).findings]  # fmt: skip
    assert keys == ["no_rate", "no_rate"]


def test_criterion_3_a_lamp_20_minutes_late_is_named_with_its_night() -> None:
    data = inputs()
    late = 20 * 60_000
    rows = [dataclasses.replace(r, on_seen_ms=(r.on_plan_ms or 0) + late)
            if r.lamp == "PP-S04-L002" and r.night == N2 else r
            for r in data.lamp_nights]  # fmt: skip
    rows = [dataclasses.replace(r, off_seen_ms=None) if r.lamp == "PP-S04-L005" and r.night == N1
            else r for r in rows]  # fmt: skip
    result = evaluate(dataclasses.replace(data, lamp_nights=rows), CRITERIA, run_id="a",
                      inputs_sha256="")  # fmt: skip
    switches = result.criterion(CriterionKey.SWITCH_TIMES)
    assert [(f.key, f.asset, f.night, f.seen) for f in switches.findings] == [
        ("never_off", "lamp:PP-S04-L005", N1, None),
        ("late_on", "lamp:PP-S04-L002", N2, 20.0),
    ]
    assert switches.figures["max_delay_min"] == 20.0
    edge = [
        dataclasses.replace(r, on_seen_ms=r.on_plan_ms + 5 * 60_000)  # type: ignore[operator]
        for r in data.lamp_nights
    ]  # exactly the tolerance: within
    assert (
        evaluate(
            dataclasses.replace(data, lamp_nights=edge), CRITERIA, run_id="a", inputs_sha256=""
        )
        .criterion(CriterionKey.SWITCH_TIMES)
        .verdict
        is Verdict.PASS
    )


def test_criterion_4_power_outside_the_tolerance_at_a_dim_level() -> None:
    data = inputs()
    expected = lamp_power_w(60, True, 50)
    rows = [dataclasses.replace(r, power=[LevelPower(50, 10, expected * 0.8, expected)])
            if r.lamp == "PP-S04-L004" and r.night == N1 else r
            for r in data.lamp_nights]  # fmt: skip
    result = evaluate(dataclasses.replace(data, lamp_nights=rows), CRITERIA, run_id="a",
                      inputs_sha256="")  # fmt: skip
    energy = result.criterion(CriterionKey.ENERGY)
    assert [(f.key, f.asset, f.night) for f in energy.findings] == [
        ("energy_low", "lamp:PP-S04-L004", N1)
    ]
    assert energy.figures["max_deviation_pct"] == pytest.approx(-20.0)


def test_criterion_5_open_alarms_open_orders_and_late_closures() -> None:
    at = START + timedelta(hours=8)
    orders = [
        OrderInput("wo-1", "lamp:PP-S04-L001", "lamp_failure", "ordinary", "closed", at,
                   at + timedelta(hours=24), at + timedelta(hours=23)),
        OrderInput("wo-2", "lamp:PP-S04-L002", "lamp_failure", "ordinary", "closed", at,
                   at + timedelta(hours=24), at + timedelta(hours=25)),
        OrderInput("wo-3", "lamp:PP-S04-L003", "low_power", "ordinary", "repaired", at,
                   at + timedelta(hours=24), None),
    ]  # fmt: skip
    alarms = [AlarmInput("al-9", "lamp:PP-S04-L009", "lamp_failure", "ordinary", at, None)]
    result = evaluate(inputs(orders=orders, alarms=alarms), CRITERIA, run_id="a",
                      inputs_sha256="")  # fmt: skip
    faults = result.criterion(CriterionKey.FAULTS_CLOSED)
    assert [(f.key, f.asset, f.night) for f in faults.findings] == [
        ("open_alarm", "lamp:PP-S04-L009", N1),
        ("closed_late", "lamp:PP-S04-L002", N1),
        ("open_order", "lamp:PP-S04-L003", N1),
    ]
    assert faults.figures["closed_in_time"] == 1


def _everything_wrong() -> AcceptanceInputs:
    """Inputs with one of every finding's kind: a lamp planned, one unregistered, one silent
    a night; the first night below target with a dark lamp, the second with nothing due lit
    (and no KPI writer's rate); a lamp never on, one never off, one on late, one on early,
    one off late, one off early; one drawing too much, one too little; an open alarm, an open
    order and one closed late."""
    data = inputs(16)
    ids = [lamp.id for lamp in data.lamps]
    lamps = [dataclasses.replace(data.lamps[0], status="planned"),
             dataclasses.replace(data.lamps[1], registered=False), *data.lamps[2:]]  # fmt: skip
    minute = 60_000
    expected = lamp_power_w(60, True, 100)
    changes: dict[str, dict[str, object]] = {
        ids[2]: {"reports": 0}, ids[3]: {"lit_ok": 0},
        ids[4]: {"on_seen_ms": None}, ids[5]: {"off_seen_ms": None},
        ids[6]: {"on_seen_ms": ON + 30 * minute}, ids[7]: {"on_seen_ms": ON - 30 * minute},
        ids[8]: {"off_seen_ms": OFF + 30 * minute}, ids[9]: {"off_seen_ms": OFF - 30 * minute},
        ids[10]: {"power": [LevelPower(100, 50, expected * 1.5, expected)]},
        ids[11]: {"power": [LevelPower(100, 50, expected * 0.5, expected)]},
    }  # fmt: skip
    rows = [
        dataclasses.replace(r, **changes.get(r.lamp, {}))  # type: ignore[arg-type]
        if r.night == N1
        else dataclasses.replace(r, should_lit=0, lit_ok=0)
        for r in data.lamp_nights
    ]
    at = START + timedelta(hours=8)
    orders = [
        OrderInput("wo-1", f"lamp:{ids[12]}", "lamp_failure", "ordinary", "closed", at,
                   at + timedelta(hours=24), at + timedelta(hours=25)),
        OrderInput("wo-2", f"lamp:{ids[13]}", "low_power", "ordinary", "dispatched", at,
                   at + timedelta(hours=24), None),
    ]  # fmt: skip
    alarms = [AlarmInput("al-9", f"lamp:{ids[14]}", "lamp_failure", "ordinary", at, None)]
    return dataclasses.replace(
        data, lamps=lamps, lamp_nights=rows, orders=orders, alarms=alarms,
        nights=[SiteNight(N1, 90.0, 96.0, 16)],
    )  # fmt: skip


def test_the_evaluation_gives_only_the_kinds_and_names_the_report_words() -> None:
    """Every finding's kind and every threshold's and figure's name is one of the model's
    enumerations, each of them comes out of the evaluation, and the report words every
    finding in its own Chinese sentence (none generically), its times in the district's."""
    result = evaluate(_everything_wrong(), CRITERIA, run_id="acc-t", inputs_sha256="")
    assert result.timezone == "Asia/Shanghai"
    assert {f.key for f in result.findings} == set(FindingKind)
    names = {name for c in result.criteria for name in (*c.threshold, *c.figures)}
    assert names == set(FigureName)
    html = acceptance_html(result)
    assert "，实测" not in html  # the generic sentence's
    # the order opened at 20:00 local, due 24 h later, closed an hour after that
    assert "工单（2026年12月21日夜开出）于 2026-12-22 21:00 销号，晚于期限 2026-12-22 20:00" in html
    assert "状态：已派工" in html
    early = next(f for f in result.findings if f.key == FindingKind.EARLY_OFF)
    assert early.seen == -30.0
    assert "夜关灯早于计划 30 分钟（允许偏差 5 分钟）" in html


def test_a_result_keeps_its_zone_and_one_stored_without_it_takes_its_inputs() -> None:
    data = inputs()
    result = evaluate(data, CRITERIA, run_id="acc-t", inputs_sha256="")
    assert result.timezone == "Asia/Shanghai"
    plain = orjson.loads(to_json(result))
    del plain["timezone"]  # as results were stored before they kept it
    assert from_json(orjson.dumps(plain)).timezone == "UTC"
    run = StoredRun(
        id="acc-t", site="PP-S04", first_night=N1, last_night=N2, verdict="pass", criteria="{}",
        inputs=inputs_json(data).decode(), inputs_sha256="", result=orjson.dumps(plain).decode(),
        run_by="t", run_at=END, accepted_by=None, accepted_at=None, handover_id=None,
    )  # fmt: skip
    assert stored_result(run) == result
    plain["timezone"] = "Mars/Olympus"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        from_json(orjson.dumps(plain))


def test_a_lamps_night_is_read_from_its_reports_as_the_kpi_writer_reads_marks() -> None:
    start = START.timestamp()
    on, off = ON / 1000, OFF / 1000
    plan = Plan(None, ((on, 100), (on + 3 * 3600, 50), (off, None)))
    reports = [Report(t, on + 1200 <= t < off + 60, 100 if t < on + 3 * 3600 else 50,
                      lamp_power_w(60, True, 100 if t < on + 3 * 3600 else 50)
                      if on + 1200 <= t < off + 60 else 0.5)
               for t in range(int(start), int(start + 86400), 300)]  # fmt: skip
    night = read_night("L1", N1, (start, start + 86400), rated_w=60.0, plan=plan,
                       reports=reports, sampling=Sampling())  # fmt: skip
    assert night.on_plan_ms == ON
    assert night.on_seen_ms is not None
    assert 20 * 60_000 <= night.on_seen_ms - ON <= 25 * 60_000  # lit 20 minutes late
    assert night.off_seen_ms is not None
    assert night.off_seen_ms - OFF <= 5 * 60_000
    assert 0 < night.lit_ok < night.should_lit  # dark at the marks of its first 20 minutes
    assert [p.dim_pct for p in night.power] == [50, 100]
    assert all(p.mean_w == pytest.approx(p.expected_w) for p in night.power)


def test_the_criteria_file_is_checked_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "criteria.yaml"
    path.write_text("lighting_targets: {main: 99}\nswitch_tolerance_min: 8\n")
    criteria = load_criteria(path)
    assert criteria.target_of("main") == 99.0
    assert criteria.target_of("branch") == 96.0
    assert criteria.switch_tolerance_min == 8.0
    for text, words in (
        ("lighting_targets: {highway: 99}\n", "unknown road class 'highway'"),
        ("energy_tolerance_pct: -1\n", "energy_tolerance_pct"),
        ("sampling: {mark_s: 5}\n", "sampling.mark_s"),
        ("speed: 3\n", "speed"),
    ):
        path.write_text(text)
        with pytest.raises(AcceptanceError, match=words):
            load_criteria(path)
    assert criteria_from(None).as_plain()["switch_tolerance_min"] == 5.0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_stored_run_reruns_identically_and_only_a_pass_is_accepted(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.api_rig import store_url  # noqa: PLC0415 - the rig's backends

    engine = await open_engine(store_url(backend, tmp_path, request))
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, subset(["PP-S04", "PP-S09"]), "test")
        failing = inputs(nights=[SiteNight(N1, 90.0, 96.0, 10), SiteNight(N2, 100.0, 96.0, 10)])
        async with sessions(engine)() as session, session.begin():
            good = await record_run(session, inputs(), CRITERIA, by="c", now=END)
            bad = await record_run(session, failing, CRITERIA, by="c", now=END)
        async with sessions(engine)() as session:
            again = await rerun(session, good.run_id)
        assert again.identical
        assert again.again == good
        async with sessions(engine)() as session:
            with pytest.raises(AcceptanceRefusedError, match="failed criteria 2"):
                async with session.begin():
                    await accept_run(session, bad.run_id, maintainer="XY-LDS",
                                     on=N2 + timedelta(days=2), by="chair", now=END)  # fmt: skip
        maintainer = subset(["PP-S04"]).sites["PP-S04"].maintainer_id
        async with sessions(engine)() as session, session.begin():
            others = sorted(m for m in (await _maintainers(session)) if m != maintainer)
            await accept_run(session, good.run_id, maintainer=others[0], on=date(2026, 12, 24),
                             by="chair", now=END)  # fmt: skip
        async with sessions(engine)() as session:
            after = datetime(2026, 12, 24, 1, tzinfo=UTC)
            assert await maintainer_for(session, "PP-S04", after, maintainer) == others[0]
        async with sessions(engine)() as session:
            with pytest.raises(AcceptanceRefusedError, match="accepted already"):
                async with session.begin():
                    await accept_run(session, good.run_id, maintainer=others[0],
                                     on=date(2026, 12, 24), by="chair", now=END)  # fmt: skip
    finally:
        await engine.dispose()


async def _maintainers(session: object) -> list[str]:
    from sqlalchemy import select  # noqa: PLC0415

    from streetlight.store.models import MaintainerRow  # noqa: PLC0415

    return list((await session.scalars(select(MaintainerRow.id))).all())  # type: ignore[attr-defined]
