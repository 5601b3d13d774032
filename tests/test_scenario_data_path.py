"""A hiccup in the data path is one alarm about the gateway, not hundreds about lamps.

A simulated evening of the back street and the open compound (MQTT nodes and Modbus lamps),
simulator, gateway and controller on one clock, no lamp faulty: the gateway away for three
reporting intervals (stopped; the broker keeps its session and its reports), then influxd
stopped for an hour. At most one root alarm, on the gateway, raised and cleared; no lamp
alarm, and no crew told of anything (no work order).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from streetlight.contract import Topics
from streetlight.influx import InfluxClient, RetryPolicy
from streetlight.services import Influxd, ServiceState, find_program
from streetlight.store import sessions
from streetlight.store.models import AlarmRow, WorkOrderRow
from tests.controller_rig import (
    SITES,
    local,
    run_until,
    running_controller,
    schedule_store,
)
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.simulation import clock_of, running

INTERVAL_S = 60


@pytest_asyncio.fixture
async def own_influx(tmp_path: Path) -> AsyncIterator[tuple[Influxd, InfluxClient]]:
    program = find_program("influxd")
    assert program is not None
    server = Influxd(program, tmp_path / "influx")
    await asyncio.to_thread(server.start)
    try:
        async with InfluxClient(server.url(), "night", retry=RetryPolicy(attempts=1)) as client:
            await client.execute('CREATE DATABASE "night"')
            yield server, client
    finally:
        server.stop()


@pytest.mark.slow
async def test_a_gateway_pause_and_an_hour_without_influxdb_raise_one_alarm_on_the_gateway(
    service_state: ServiceState,
    topics: Topics,
    own_influx: tuple[Influxd, InfluxClient],
    tmp_path: Path,
) -> None:
    server, influx = own_influx
    state = dataclasses.replace(service_state, influx_url=server.url())
    async with (
        running(state, topics.root, sites=SITES, start=local(19, 30), as_devices=True) as sim,
        schedule_store(sim, tmp_path) as engine,
        AsyncExitStack() as first_gateway,
    ):
        clock = clock_of(sim)
        gateway_settings = role_settings(state, topics, influx, "gateway")
        config = config_for(sim, tmp_path / "spool")
        await first_gateway.enter_async_context(running_gateway(sim, gateway_settings, config))
        controller_settings = role_settings(state, topics, influx, "controller")
        async with running_controller(sim, controller_settings, engine) as controller:
            await run_until(sim, clock.now() + timedelta(minutes=10))
            await first_gateway.aclose()  # away: the broker keeps its session and reports
            await run_until(sim, clock.now() + timedelta(seconds=3 * INTERVAL_S))
            async with running_gateway(sim, gateway_settings, config):
                await run_until(sim, clock.now() + timedelta(minutes=10))
                await asyncio.to_thread(server.stop)
                await run_until(sim, clock.now() + timedelta(hours=1))
                await asyncio.to_thread(server.start)
                await run_until(sim, clock.now() + timedelta(minutes=10))
            await controller.outlet.flush(None)
        async with sessions(engine)() as session:
            alarms = (await session.scalars(select(AlarmRow))).all()
            orders = (await session.scalars(select(WorkOrderRow))).all()
    roots = [a for a in alarms if a.parent_id is None]
    assert [(a.type, a.asset_kind, a.asset_id) for a in roots] == [
        ("data_stale", "gateway", "gw-test")
    ], [(a.type, a.asset_id, a.detail) for a in alarms]
    assert roots[0].cleared_at is not None  # cleared once the gateway caught up
    assert [a for a in alarms if a.asset_kind == "lamp"] == []
    assert orders == []  # no crew told of anything
