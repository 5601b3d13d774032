"""One simulated night of three sites of the sample district, with known faults, for the KPI
proof (tests/test_kpi.py): the simulator, a gateway and the controller on one manual clock,
against the session's Mosquitto and influxd, from 11:45 on Monday 21 December 2026 to 12:10
the next day, so the controller's KPI writer writes every mark of the night of the 21st and,
at noon on the 22nd, its summary.

While it runs, the harness reads the simulator's own state (its ground truth, not what the
devices report) at every mark: each site's energy meters and power, and when each lamp's relay
was switched; a crew takes its steps on one work order through the store, as the CLI would.

Devices report every 300 s (an NB-IoT setting; detection's thresholds and the confirm time
follow, as an operator's would), which lets a day of three sites run in about a minute. The
schedule is the sample's programs without the light-sensor rule, so the lamps switch when the
program says and the test can say when that is from the sun alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from controller.alarms import ThresholdBook
from controller.app import Controller
from controller.kpi import KpiConfig
from gateway.app import Gateway
from simulator.app import Simulator
from streetlight.domain.workorders import OrderState
from streetlight.influx import InfluxClient, quote_ident
from streetlight.scenario import build_scenario
from streetlight.schedule import Schedule, load_schedule_file
from streetlight.services import ServiceState
from streetlight.store import sessions
from streetlight.store.alarms import export_alarms
from streetlight.store.times import from_store
from streetlight.store.workorders import list_orders, order_transitions, people_step
from tests.conftest import FAST_RETRY
from tests.controller_rig import SAMPLE_SCHEDULE, TEST_CONFIG, schedule_store
from tests.gateway_rig import config_for, gateway_settings, running_gateway
from tests.helpers import eventually, running_role, subset
from tests.simulation import SHANGHAI, clock_of, running

SITES = ("PP-S04", "PP-S07", "PP-S09")  # 25 MQTT lamps, 37 and 58 behind concentrators
INTERVAL_S = 300
MARK_S = 300
START = datetime(2026, 12, 21, 11, 45, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 12, 21, 12, 0, tzinfo=SHANGHAI)  # the night of the 21st starts
EVENING = datetime(2026, 12, 22, 0, 20, tzinfo=SHANGHAI)  # a mark in the dimmed night
MORNING = datetime(2026, 12, 22, 12, 0, tzinfo=SHANGHAI)  # it ends; its summary is written
END = MORNING + timedelta(minutes=10)
DARK_LAMPS = ("PP-S09-L005", "PP-S09-L020", "PP-S09-L041")  # dark from before dusk, not repaired
REPAIRED_LAMP = "PP-S04-L001"  # dark from 19:00 to 23:00, then repaired by its crew
DOOR = "PP-S07-K1"  # open from 20:00 to 20:10
SETTLE_TURNS = 5  # of the event loop after each wake-up of the manual clock
SWITCH_TOLERANCE_MIN = 10.0  # a seen time is up to a reporting interval late
CONFIG = dataclasses.replace(
    TEST_CONFIG, tick_s=30, reload_s=5, confirm_s=3 * INTERVAL_S, notify_hold_s=300
)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def _faults() -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = [
        {"at": local(21, 15).isoformat(), "target": f"lamp:{lamp}", "kind": "lamp_failure"}
        for lamp in DARK_LAMPS
    ]
    faults.append(
        {"at": local(21, 19).isoformat(), "target": f"lamp:{REPAIRED_LAMP}",
         "kind": "lamp_failure", "until": local(21, 23).isoformat()}
    )  # fmt: skip
    faults.append(
        {"at": local(21, 20).isoformat(), "target": f"cabinet:{DOOR}", "kind": "door_open",
         "until": local(21, 20, 10).isoformat()}
    )  # fmt: skip
    return faults


# crew steps on the repaired lamp's work order, as `streetlight workorders` takes them
CREW = (
    (local(21, 21), OrderState.DISPATCHED),
    (local(21, 23, 5), OrderState.REPAIRED),
    (local(22, 8), OrderState.CLOSED),
)


def schedule() -> Schedule:
    """The sample schedule's programs without their light-sensor rule."""
    sample = load_schedule_file(SAMPLE_SCHEDULE)
    programs = {k: dataclasses.replace(p, lux=None) for k, p in sample.programs.items()}
    return dataclasses.replace(sample, programs=programs)


@dataclass
class Truth:
    """What the simulator did, read from its own state."""

    energy_wh: dict[datetime, dict[str, float]] = field(default_factory=dict)  # mark -> site
    power_w: dict[datetime, dict[str, float]] = field(default_factory=dict)
    switched_on: dict[str, float] = field(default_factory=dict)  # lamp -> epoch s
    switched_off: dict[str, float] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)  # truth.jsonl


@dataclass
class Night:
    influx_url: str
    database: str
    truth: Truth
    alarms: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    crew: dict[OrderState, datetime]
    wall_s: float
    writer: dict[str, Any]
    store_url: str  # the night's store (inventory, schedule, alarms, work orders), kept


def clock_step(moment: datetime, changes: list[datetime]) -> float:
    """Small steps where lamps are being switched and dimmed and faults come and go (commands
    and alarms have their wall time to travel), larger ones elsewhere; each mark is landed
    on."""
    near = any(timedelta(0) <= moment - at <= timedelta(minutes=20) for at in changes)
    to_mark = MARK_S - moment.timestamp() % MARK_S
    return min(60 if near else MARK_S, to_mark)


def _record(sim: Simulator, truth: Truth, relay: dict[str, bool]) -> None:
    """At a mark: each site's meters and power; and any relay the simulator has switched."""
    now = sim.world.now
    moment = sim.world.clock.now()
    energy: dict[str, float] = {}
    power: dict[str, float] = {}
    for lamp_id, lamp in sim.world.lamps.items():
        site = lamp.cabinet.cabinet.site_id
        energy[site] = energy.get(site, 0.0) + lamp.reading(now).energy_wh
        power[site] = power.get(site, 0.0) + lamp.power(now)
        if lamp.relay != relay.get(lamp_id, False):
            if lamp.relay:
                truth.switched_on.setdefault(lamp_id, lamp.switched_on_at)
            else:
                truth.switched_off[lamp_id] = lamp.t  # the command's time: its last change
            relay[lamp_id] = lamp.relay
    truth.energy_wh[moment] = energy
    truth.power_w[moment] = power


POLL_FAILED_S = 5.0  # wall seconds after the polling caught up that a poll is taken as failed


async def caught_up(
    sim: Simulator, gateway: Gateway, controller: Controller, since: datetime = START
) -> None:
    """Wait (wall time) until every lamp's newest report has reached the controller, within a
    reporting interval and half a minute of the clock (a lamp not heard yet counts from
    `since`), and the gateway's polling has done what was due: a step of the clock is as long
    as a reporting interval, so a poller still busy with one step when the next is taken would
    fall two intervals behind, and the controller rightly raise `data_stale` on the gateway."""
    limit = timedelta(seconds=INTERVAL_S + 30)
    lamps = sim.world.inventory.lamps

    def behind() -> list[str]:
        now, reported = sim.world.clock.now(), controller.dispatcher.reported
        return sorted(
            lamp for lamp in lamps
            if now - (r.ts if (r := reported.get(lamp)) is not None else since) > limit
        )  # fmt: skip

    def polling_behind_s() -> float:
        outputs = gateway.outputs
        return outputs.behind() if outputs is not None else float("inf")

    deadline = time.monotonic() + 60
    polled: float | None = None  # when the gateway's polling was last seen caught up
    while polling_behind_s() >= 1.0 or behind():
        if polling_behind_s() < 1.0:
            polled = polled or time.monotonic()
            if time.monotonic() - polled > POLL_FAILED_S:
                # polled, and these lamps still unheard: their poll failed (a Modbus timeout
                # on a loaded machine); the gateway reads them again at its next poll, which
                # only the clock's next step brings
                return
        else:
            polled = None
        if time.monotonic() > deadline:
            late = behind()
            raise AssertionError(
                f"readings did not catch up within 60 s at {sim.world.clock.now().isoformat()}: "
                f"{late[:5]} ({len(late)} lamps), polling {polling_behind_s():.0f} s behind"
            )
        await asyncio.sleep(0.005)


async def _crew_step(controller: Controller, step: OrderState, at: datetime) -> None:
    """A crew's step, then (wall) time for the ledger to read it, as it would have at the
    speed of a real night (it reads the store every couple of seconds)."""
    async with sessions(controller.engine)() as session, session.begin():
        orders = await list_orders(session)
        (order,) = [o for o, a in orders if a.asset_id == REPAIRED_LAMP]
        await people_step(session, order.id, step, by="crew", at=at, note="test")
    if step is not OrderState.CLOSED:  # the ledger follows orders until they are verified
        await eventually(
            lambda: getattr(controller.ledger.orders.get(order.id), "state", None) is step,
            what=f"the ledger reading the order {step.value}",
        )


async def simulate(state: ServiceState, directory: Path) -> Night:
    database = f"test_kpi_{uuid.uuid4().hex[:10]}"
    root = f"test-{uuid.uuid4().hex[:10]}"
    inventory = subset(SITES)
    scenario = dataclasses.replace(
        build_scenario({"faults": _faults()}, inventory), reporting_interval_s=INTERVAL_S
    )
    truth = Truth()
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        influx = await stack.enter_async_context(
            InfluxClient(state.influx_url, database, retry=FAST_RETRY)
        )
        await influx.execute(f"CREATE DATABASE {quote_ident(database)}")
        sim = await stack.enter_async_context(
            running(state, root, sites=SITES, start=START, scenario=scenario, as_devices=True,
                    truth=directory / "truth.jsonl", settle_turns=SETTLE_TURNS)
        )  # fmt: skip
        engine = await stack.enter_async_context(schedule_store(sim, directory, schedule()))
        polls = {"cabinet_interval_s": INTERVAL_S, "lamp_interval_s": INTERVAL_S}
        gateway = await stack.enter_async_context(
            running_gateway(
                sim,
                _settings(state, root, database, "gateway"),
                config_for(sim, directory / "spool", modbus=polls, bus_batch_s=0.02),
            )
        )
        controller = Controller(
            _settings(state, root, database, "controller"), inventory, engine=engine,
            clock=sim.world.clock, config=CONFIG,
            thresholds=ThresholdBook({"report_interval_s": INTERVAL_S}),
            kpi=KpiConfig(switch_tolerance_min=SWITCH_TOLERANCE_MIN),
        )  # fmt: skip
        await stack.enter_async_context(
            running_role("controller", controller.run, controller.ready)
        )
        crew = await _run(sim, gateway, controller, truth)
        await eventually(lambda: not controller.kpi.outbox.batches, what="KPI points written")
        writer = dataclasses.asdict(controller.kpi.stats) | dataclasses.asdict(
            controller.kpi.outbox.stats
        )
        async with sessions(engine)() as session:
            alarms = [a async for a in export_alarms(session, START, END)]
            orders = [
                {"id": o.id, "asset": f"{a.asset_kind}:{a.asset_id}", "type": a.type,
                 "state": o.state, "deadline": o.deadline,
                 "steps": [(t.change, from_store(t.at))
                           for t in await order_transitions(session, o.id)]}
                for o, a in await list_orders(session)
            ]  # fmt: skip
    truth.faults = [
        json.loads(line) for line in (directory / "truth.jsonl").read_text().splitlines()
    ]
    return Night(
        state.influx_url, database, truth, alarms, orders, crew,
        time.perf_counter() - started, writer, f"sqlite:///{directory / 'store.db'}",
    )  # fmt: skip


def _settings(state: ServiceState, root: str, database: str, identity: str) -> Any:
    return gateway_settings(state.url_for(identity), state.influx_url, database, root)


def _changes() -> list[datetime]:
    """When the program changes the lamps' level tonight (sunset+5, 22:30, 00:30,
    sunrise-10) and when faults begin and end, each with a margin before it."""
    from streetlight.schedule import site_places  # noqa: PLC0415 - only here

    place = site_places(subset(SITES))[SITES[0]]
    program = schedule().programs["evening"]
    moments = [at for at, _level in program.changes(NIGHT.date(), place)]
    moments += [
        datetime.fromisoformat(f[key]) for f in _faults() for key in ("at", "until") if key in f
    ]
    return [at - timedelta(minutes=2) for at in moments]


async def _run(
    sim: Simulator, gateway: Gateway, controller: Controller, truth: Truth
) -> dict[OrderState, datetime]:
    clock = clock_of(sim)
    changes = _changes()
    crew = list(CREW)
    done: dict[OrderState, datetime] = {}
    relay: dict[str, bool] = {}
    while clock.now() < END:
        now = clock.now()
        if now.timestamp() % MARK_S == 0:
            _record(sim, truth, relay)
        if crew and now >= crew[0][0]:
            at, step = crew.pop(0)
            await _crew_step(controller, step, at)
            done[step] = at
        step_s = clock_step(now, changes)
        await clock.advance(step_s)
        await asyncio.sleep(0.05 if step_s < 150 else 0)  # commands on their way
        await caught_up(sim, gateway, controller)
    return done


def marks(start: datetime, end: datetime) -> Iterator[datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(seconds=MARK_S)
