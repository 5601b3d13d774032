"""The controller switching a simulated district through the gateway, checked from InfluxDB.

Simulator, gateway and controller run on one manual clock against the session's Mosquitto and
influxd; the schedule is the sample's (examples/xunyang/schedule.yaml) in a real SQLite store.
What the lamps did is read back from the telemetry in InfluxDB, not from controller logs."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.scenario import Scenario, WeatherSpell
from streetlight.schedule import GroupRef, Groups, site_places
from streetlight.services import ServiceState
from streetlight.store import sessions
from streetlight.store.schedules import add_override
from tests.controller_rig import (
    TEST_CONFIG,
    local,
    run_until,
    running_controller,
    running_district,
    schedule_store,
)
from tests.gateway_rig import role_settings
from tests.helpers import eventually
from tests.simulation import MQTT_SITE, clock_of, running
from tests.test_cli import run as run_cli

# a lamp's change shows in its next report: one reporting interval, plus a controller tick
# and the command's trip
WITHIN = timedelta(seconds=60 + TEST_CONFIG.tick_s + 10)


async def _history(influx: InfluxClient) -> dict[str, list[tuple[datetime, bool, int]]]:
    series = await influx.query("SELECT relay_on, dim_pct FROM lamp GROUP BY lamp")
    out: dict[str, list[tuple[datetime, bool, int]]] = {}
    for s in series:
        out[s.tags["lamp"]] = [
            (datetime.fromtimestamp(row["time"] / 1e9, UTC), row["relay_on"], row["dim_pct"])
            for row in s.rows()
        ]
    return out


def _level(relay_on: bool, dim: int) -> int | None:
    return dim if relay_on else None


def _reports_between(
    history: dict[str, list[tuple[datetime, bool, int]]], start: datetime, end: datetime
) -> dict[str, set[int | None]]:
    """Each lamp's levels reported in [start, end)."""
    return {
        lamp: {_level(on, dim) for at, on, dim in rows if start <= at < end}
        for lamp, rows in history.items()
    }


async def test_lamps_switch_on_at_dusk_and_follow_a_subdistrict_override_until_it_expires(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    async with running_district(
        service_state, topics, influx, tmp_path, start=local(17, 10)
    ) as district:
        sim, engine, controller = district.sim, district.engine, district.controller
        place = site_places(sim.world.inventory)[MQTT_SITE]
        sunset = place.sun(local(17, 10).date()).sunset
        assert sunset is not None
        switch_on = sunset + timedelta(minutes=5)
        await run_until(sim, local(17, 50))
        override_start = clock_of(sim).now()
        override_end = override_start + timedelta(minutes=10)
        async with sessions(engine)() as session, session.begin():
            await add_override(
                session, Groups(sim.world.inventory), group=GroupRef("subdistrict", "PP"),
                level=40, starts=override_start, ends=override_end,
                reason="test: a 10-minute override", by="test", at=override_start,
            )  # fmt: skip
        await eventually(lambda: bool(controller.schedule.overrides), what="override read")
        await run_until(sim, local(18, 15))
        await asyncio.sleep(1)  # the last points flushed
        history = await _history(influx)
    lamps = set(sim.world.inventory.lamps)
    assert set(history) == lamps
    before = _reports_between(history, local(17, 10), switch_on)
    assert all(levels <= {None} for levels in before.values()), before
    lit = _reports_between(history, switch_on + WITHIN, override_start)
    assert all(levels == {100} for levels in lit.values()), lit
    during = _reports_between(history, override_start + WITHIN, override_end)
    assert all(levels == {40} for levels in during.values()), during
    after = _reports_between(history, override_end + WITHIN, local(18, 15))
    assert all(levels == {100} for levels in after.values()), after
    assert controller.dispatcher.stats.failed == 0


async def test_late_night_dimming_and_dawn_off(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    async with running_district(
        service_state, topics, influx, tmp_path, start=local(22, 15)
    ) as district:
        sim = district.sim
        # the lamps start off: after listening, the controller brings them to the program's
        # 100 %, then the 22:30 step dims them to 50 %
        await run_until(sim, local(22, 45))
        await asyncio.sleep(1)
        history = await _history(influx)
    dimmed = _reports_between(history, local(22, 30) + WITHIN, local(22, 45))
    assert all(levels == {50} for levels in dimmed.values()), dimmed
    full = _reports_between(history, local(22, 17) + WITHIN, local(22, 30))
    assert all(levels == {100} for levels in full.values()), full


async def test_lamps_go_off_at_dawn(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    start = local(6, 30, day=22)
    async with running_district(service_state, topics, influx, tmp_path, start=start) as district:
        sim = district.sim
        sunrise = site_places(sim.world.inventory)[MQTT_SITE].sun(start.date()).sunrise
        assert sunrise is not None
        off_at = sunrise - timedelta(minutes=10)
        await run_until(sim, off_at + timedelta(minutes=10))
        await asyncio.sleep(1)
        history = await _history(influx)
    # on at the 00:30 step's 30 % after the controller's first look, off by sunrise-10
    # (earlier if daylight came first: the lux rule)
    night = _reports_between(history, start + timedelta(seconds=60) + WITHIN, off_at - WITHIN)
    assert all(30 in levels for levels in night.values()), night
    day = _reports_between(history, off_at + WITHIN, off_at + timedelta(minutes=10))
    assert all(levels == {None} for levels in day.values()), day


async def test_a_dark_storm_in_the_afternoon_brings_the_lamps_on_and_its_end_off(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    storm, clears = local(15, 0), local(15, 30)
    weather = [WeatherSpell(storm.timestamp(), clears.timestamp(), 0.0001)]
    scenario = Scenario(weather=weather)
    async with running_district(
        service_state, topics, influx, tmp_path, start=local(14, 50), scenario=scenario
    ) as district:
        sim = district.sim
        await run_until(sim, local(15, 50))
        await asyncio.sleep(1)
        history = await _history(influx)
    hold = timedelta(seconds=300)
    cabinet_poll = timedelta(seconds=60)
    # the cabinet reading that completes the hold reaches the controller some 50 simulated
    # seconds after it was taken (the rig runs at about 150x), before it can decide
    reading_trip = timedelta(seconds=60)
    decided = hold + cabinet_poll + reading_trip + WITHIN
    before = _reports_between(history, local(14, 50), storm)
    assert all(levels <= {None} for levels in before.values()), before
    dark = _reports_between(history, storm + decided, clears)
    assert all(levels == {100} for levels in dark.values()), _not(dark, {100})
    after = _reports_between(history, clears + decided, local(15, 50))
    assert all(levels == {None} for levels in after.values()), _not(after, {None})


def _not(levels: dict[str, set[int | None]], wanted: set[int | None]) -> dict[str, set[int | None]]:
    """The lamps whose levels were not just `wanted` (what a failed assertion shows)."""
    return {lamp: seen for lamp, seen in levels.items() if seen != wanted}


async def _streetlight(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """`streetlight` as an operator runs it (test_cli's runner), off the event loop that runs
    the controller; its exit code and stderr."""
    result = await asyncio.to_thread(run_cli, *args, env=env)
    return result.returncode, result.stderr


async def test_an_override_from_the_command_line_is_read_at_once_not_at_the_next_poll(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    """The command tells the controller on the bus; this controller would poll only hourly."""
    hourly = dataclasses.replace(TEST_CONFIG, reload_s=3600)
    settings = role_settings(service_state, topics, influx, "controller")
    operator = {
        "STREETLIGHT_DB_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "STREETLIGHT_MQTT_URL": service_state.url_for("admin"),
        "STREETLIGHT_MQTT_ROOT": topics.root,
    }
    async with (
        running(service_state, topics.root, start=local(17, 10)) as sim,
        schedule_store(sim, tmp_path) as engine,
        running_controller(sim, settings, engine, hourly) as controller,
    ):
        code, stderr = await _streetlight(
            "controller", "override", "set", "--group", "subdistrict:PP", "--level", "40",
            "--minutes", "10", "--reason", "test: told on the bus", "--by", "operator",
            env=operator,
        )  # fmt: skip
        assert (code, stderr) == (0, "")
        await eventually(lambda: len(controller.schedule.overrides) == 1, what="the override")
        (override,) = controller.schedule.overrides
        assert (override.level, override.reason) == (40, "test: told on the bus")
        code, stderr = await _streetlight(
            "controller", "override", "cancel", str(override.id), "--by", "operator",
            env=operator,
        )  # fmt: skip
        assert (code, stderr) == (0, "")
        await eventually(
            lambda: controller.schedule.overrides[0].cancelled_at is not None,
            what="the cancellation",
        )
