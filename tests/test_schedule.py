"""Programs, calendars, overrides and the expected state, on the sample district; the schedule
in a real SQLite store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from streetlight.schedule import (
    Evaluator,
    GroupRef,
    Groups,
    LuxRule,
    LuxState,
    Override,
    ProgramError,
    Schedule,
    plan,
    site_places,
)
from streetlight.schedule.file import load_schedule_file, parse_program, parse_schedule
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.schedules import (
    add_override,
    cancel_override,
    list_overrides,
    lock_schedule,
    read_schedule,
    save_schedule,
    saved_programs,
)
from tests.conftest import ROOT
from tests.helpers import sample_district

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAMPLE_SCHEDULE = ROOT / "examples" / "xunyang" / "schedule.yaml"
EVENING = {
    "name": "evening",
    "steps": [
        {"at": "sunset+5", "level": 100},
        {"at": "22:30", "level": 50},
        {"at": "00:30", "level": 30},
        {"at": "sunrise-10", "level": "off"},
    ],
    "lux": {"on_below": 30, "off_above": 60, "hold_s": 300, "level": 100},
}


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def groups() -> Groups:
    return Groups(sample_district(), named={"festival-lane": frozenset({"PP-S01-L001"})})


@pytest.fixture(scope="module")
def schedule() -> Schedule:
    return load_schedule_file(SAMPLE_SCHEDULE)


def test_the_evening_program_switches_dims_and_goes_off(groups: Groups) -> None:
    program = parse_program("evening", EVENING)
    place = site_places(groups.inventory)["PP-S01"]
    night = date(2026, 12, 21)
    sunset = place.sun(night).sunset
    assert sunset is not None
    assert program.level_at(sunset + timedelta(minutes=4), place) is None
    assert program.level_at(sunset + timedelta(minutes=6), place) == 100
    assert program.level_at(_local(night, 22, 29), place) == 100
    assert program.level_at(_local(night, 23, 0), place) == 50
    assert program.level_at(_local(night + timedelta(days=1), 1, 0), place) == 30
    assert program.level_at(_local(night + timedelta(days=1), 12, 0), place) is None
    changes = program.changes(night, place)
    assert [level for _, level in changes] == [100, 50, 30, None]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": [{"at": "sunset+5", "level": 120}]}, "level 120 is outside 0-100"),
        ({"steps": [{"at": "sunset+200", "level": 50}]}, "200 is beyond +-180 minutes"),
        ({"steps": [{"at": "25:00", "level": 50}]}, "'25:00': expected HH:MM"),
        ({"steps": [{"at": "sunset", "level": "half"}]}, "level 'half'"),
        ({"steps": []}, "at least one step"),
        ({"lux": {"on_below": 50, "off_above": 30}}, "off_above (30) must be above on_below"),
        ({"colour": "warm"}, "unknown field 'colour'"),
    ],
)
def test_a_bad_program_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ProgramError) as refused:
        parse_program("bad", {**EVENING, **change})
    assert message in str(refused.value)
    assert "program bad" in str(refused.value) or "programs.bad" in str(refused.value)


def test_overlapping_steps_are_refused_with_the_day(groups: Groups) -> None:
    # 17:30 is before sunset in summer, after it in winter: the steps cross during the year
    program = parse_program(
        "crossing",
        {"steps": [{"at": "17:30", "level": 100}, {"at": "sunset", "level": 50},
                   {"at": "sunrise", "level": "off"}]},
    )  # fmt: skip
    place = site_places(groups.inventory)["PP-S01"]
    with pytest.raises(ProgramError, match=r"17:30 \(17:30\) is not before sunset .* on 2026-"):
        program.check(place, 2026)


def test_the_calendar_picks_special_days_then_weekdays_then_the_default(
    schedule: Schedule,
) -> None:
    calendar = schedule.calendars["xunyang"]
    festival = min(d for d, names in schedule.special_days.items() if "spring_festival" in names)
    assert calendar.program_for(festival, schedule.special(festival))[0] == "festive"
    friday = date(2026, 12, 18)
    assert calendar.program_for(friday, frozenset())[0] == "weekend"
    tuesday = date(2026, 12, 15)
    assert calendar.program_for(tuesday, frozenset()) == ("evening", "default")


def test_the_most_specific_override_wins_and_expiry_returns_to_the_program(
    groups: Groups, schedule: Schedule
) -> None:
    start = _local(date(2026, 12, 21), 20, 0)
    subdistrict = next(iter(groups.inventory.subdistricts))
    lamp = next(
        lamp_id
        for lamp_id, chain in groups.chains.items()
        if GroupRef("subdistrict", subdistrict) in chain
    )
    overrides = [
        Override(1, GroupRef("subdistrict", subdistrict), 20, start, start + timedelta(minutes=10),
                 "festival rehearsal", "operator"),
        Override(2, GroupRef("lamp", lamp), None, start, None, "pole damaged", "crew"),
    ]  # fmt: skip
    evaluator = Evaluator(groups, Schedule(**{**schedule.__dict__, "overrides": overrides}))
    during = evaluator.evaluate(start + timedelta(minutes=5))
    others = [i for i, c in groups.chains.items() if GroupRef("subdistrict", subdistrict) in c]
    assert during[lamp].level is None
    assert during[lamp].source == "override 2"
    assert {during[i].level for i in others if i != lamp} == {20}
    after = evaluator.evaluate(start + timedelta(minutes=11))
    assert after[others[-1]].level == 100
    assert after[others[-1]].source.startswith("program evening")
    assert after[lamp].level is None  # until cancelled


def test_lux_brings_lamps_on_in_a_dark_afternoon_only_after_the_hold_time() -> None:
    state = LuxState(LuxRule(on_below=30, off_above=60, hold_s=300))
    t0 = datetime(2026, 12, 21, 7, 0, tzinfo=UTC)  # 15:00 in Xunyang
    assert state.update(20_000, t0) is None
    assert state.update(20_000, t0 + timedelta(seconds=300)) is False
    assert state.update(10, t0 + timedelta(seconds=360)) is False  # a cloud: not yet
    assert state.update(10, t0 + timedelta(seconds=420)) is False
    assert state.update(800, t0 + timedelta(seconds=480)) is False  # it passed
    assert state.update(10, t0 + timedelta(seconds=540)) is False
    assert state.update(12, t0 + timedelta(seconds=840)) is True  # a storm: held 300 s
    assert state.update(45, t0 + timedelta(seconds=900)) is True  # between thresholds


def test_an_unknown_group_or_program_is_refused(groups: Groups) -> None:
    with pytest.raises(ProgramError, match="unknown site 'NOWHERE'"):
        Evaluator(groups, parse_schedule({**_document(), "assignments": {"site:NOWHERE": "c"}}))
    with pytest.raises(ProgramError, match="calendar c: unknown program 'missing'"):
        parse_schedule(_document(default="missing")).check(groups)


async def test_the_schedule_and_overrides_live_in_the_store(
    tmp_path: Path, groups: Groups, schedule: Schedule
) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime(2026, 12, 21, 10, tzinfo=UTC)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, groups.inventory, "sample")
            await save_schedule(session, schedule, groups, by="test", at=now)
            first = await add_override(
                session, groups, group=GroupRef("site", "PP-S01"), level=50, starts=now,
                ends=now + timedelta(hours=1), reason="event", by="operator", at=now,
            )  # fmt: skip
            await add_override(
                session, groups, group=GroupRef("lamp", "PP-S01-L001"), level=None, starts=now,
                ends=None, reason="damaged", by="crew", at=now,
            )  # fmt: skip
            await cancel_override(session, first.id, by="operator", at=now + timedelta(minutes=5))
        async with sessions(engine)() as session:
            stored = await read_schedule(session)
        with pytest.raises(ProgramError, match="unknown site 'NOWHERE'"):
            async with sessions(engine)() as session, session.begin():
                await add_override(
                    session, groups, group=GroupRef("site", "NOWHERE"), level=1, starts=now,
                    ends=None, reason="x", by="y", at=now,
                )  # fmt: skip
    finally:
        await engine.dispose()
    assert stored.programs == schedule.programs
    assert stored.calendars == schedule.calendars
    assert stored.assignments == schedule.assignments
    assert stored.special_days == schedule.special_days
    assert [(o.group, o.level, o.reason, o.by) for o in stored.overrides] == [
        (GroupRef("site", "PP-S01"), 50, "event", "operator"),
        (GroupRef("lamp", "PP-S01-L001"), None, "damaged", "crew"),
    ]
    assert stored.overrides[0].cancelled_at == now + timedelta(minutes=5)
    assert not stored.overrides[0].active(now + timedelta(minutes=10))
    assert stored.overrides[1].active(now + timedelta(days=300))


async def test_a_writer_changes_one_entry_and_the_rest_keep_who_saved_them(
    tmp_path: Path, groups: Groups, schedule: Schedule
) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime(2026, 12, 21, 10, tzinfo=UTC)
    later = now + timedelta(hours=1)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, groups.inventory, "sample")
            await save_schedule(session, schedule, groups, by="first", at=now)
        async with sessions(engine)() as session, session.begin():
            await lock_schedule(session)
            changed = await read_schedule(session)
            changed.programs["evening"] = parse_program("evening", EVENING)
            await save_schedule(session, changed, groups, by="second", at=later)
        async with sessions(engine)() as session:
            saved = {e.id: (e.saved_by, e.saved_at) for e in await saved_programs(session)}
    finally:
        await engine.dispose()
    assert saved == {
        "evening": ("second", later),
        "festive": ("first", now),
        "weekend": ("first", now),
    }


async def test_overrides_are_listed_by_state_and_cancelled_once(
    tmp_path: Path, groups: Groups
) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    now = datetime(2026, 12, 21, 10, tzinfo=UTC)
    hour = timedelta(hours=1)
    spans = {"past": (now - 2 * hour, now - hour), "active": (now - hour, now + hour),
             "upcoming": (now + hour, None), "cancelled": (now - hour, None)}  # fmt: skip
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, groups.inventory, "sample")
            ids = {}
            for what, (starts, ends) in spans.items():
                override = await add_override(
                    session, groups, group=GroupRef("site", "PP-S01"), level=40, starts=starts,
                    ends=ends, reason=what, by="operator", at=now - 3 * hour,
                )  # fmt: skip
                ids[what] = override.id
            await cancel_override(session, ids["cancelled"], by="operator", at=now)
        async with sessions(engine)() as session:
            listed = {
                state: [r.override.reason for r in await list_overrides(
                    session, state=state, now=now, limit=10)]
                for state in ("active", "upcoming", "past", "all")
            }  # fmt: skip
            below = await list_overrides(session, state="all", now=now, below_id=ids["active"],
                                         limit=10)  # fmt: skip
        with pytest.raises(ProgramError, match="already cancelled"):
            async with sessions(engine)() as session, session.begin():
                await cancel_override(session, ids["cancelled"], by="other", at=now + hour)
        with pytest.raises(ProgramError, match="no such override"):
            async with sessions(engine)() as session, session.begin():
                await cancel_override(session, 999, by="other", at=now + hour)
    finally:
        await engine.dispose()
    assert listed == {
        "active": ["active"],
        "upcoming": ["upcoming"],
        "past": ["cancelled", "past"],
        "all": ["cancelled", "upcoming", "active", "past"],
    }
    assert [r.override.reason for r in below] == ["past"]


def _document(default: str = "p") -> dict[str, object]:
    return {
        "programs": {"p": {"steps": [{"at": "sunset", "level": 100}, {"at": "sunrise"}]}},
        "calendars": {"c": {"default": default}},
        "assignments": {},
    }


def test_lux_darkness_does_not_relight_the_street_after_the_morning_off_step(
    groups: Groups, schedule: Schedule
) -> None:
    evaluator = Evaluator(groups, schedule)
    place = site_places(groups.inventory)["PP-S01"]
    morning = date(2026, 12, 22)
    sunrise = place.sun(morning).sunrise
    assert sunrise is not None
    after_off = sunrise - timedelta(minutes=5)
    dark_all_night = _local(date(2026, 12, 21), 17, 40)
    storm_began = _local(morning, 10, 0)
    night = evaluator.evaluate(after_off, lambda _c, _r: (True, dark_all_night))["PP-S01-L001"]
    assert night.level is None  # the off-step came first
    storm = evaluator.evaluate(_local(morning, 10, 30), lambda _c, _r: (True, storm_began))[
        "PP-S01-L001"
    ]
    assert storm.level == 100
    assert storm.source == "lux (program evening)"


def test_the_plan_gives_each_night_its_program_sun_times_steps_and_energy(
    groups: Groups, schedule: Schedule
) -> None:
    nights = plan(Evaluator(groups, schedule), GroupRef("site", "PP-S01"),
                  date(2027, 2, 4), date(2027, 2, 6))  # fmt: skip
    assert [(n.program, n.why) for n in nights] == [
        ("evening", "default"),  # a Thursday
        ("festive", "Spring Festival"),
        ("festive", "Spring Festival"),
    ]
    evening = nights[0]
    assert evening.sunset is not None
    assert [level for _, level in evening.changes] == [100, 50, 30, None]
    assert evening.changes[0][0] == evening.sunset + timedelta(minutes=5)
    lamps = groups.lamps_of(GroupRef("site", "PP-S01"))
    rated = sum(groups.inventory.lamps[lamp].rated_power_w for lamp in lamps)
    # all night at full power would be the most; dimming saves a good part of it
    full_night_kwh = rated * 13.5 / 1000
    assert 0.3 * full_night_kwh < evening.energy_kwh < full_night_kwh
    assert nights[1].energy_kwh > evening.energy_kwh  # festive: full light all night
    with pytest.raises(ProgramError, match="a plan is for the lamps of one site"):
        plan(Evaluator(groups, schedule), GroupRef("subdistrict", "PP"),
             date(2027, 2, 4), date(2027, 2, 4))  # fmt: skip


def test_a_schedule_file_with_a_date_that_does_not_exist_is_refused_by_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text("special_days:\n  national_day: [2026-10-01, 2026-13-01]\n")
    with pytest.raises(ProgramError, match=r"schedule.yaml: a date that does not exist: month"):
        load_schedule_file(path)
