"""The work-order ledger: deadlines, the state machine, the controller's keeper, the CLI, and
the whole path from a fault in the simulator to a closed order.

Rules are tested as pure functions; the keeper and the `streetlight workorders` command run
against a real SQLite store; the end-to-end tests run simulator, gateway and controller on one
manual clock (tests/controller_rig.py) against the session's Mosquitto and influxd.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from controller.alarms import Alarm, AlarmBook
from controller.app import Controller
from controller.ledger import (
    LedgerConfig,
    LedgerConfigError,
    LedgerKeeper,
    NoticeHold,
    RepairCheck,
    Sickness,
    WorkingCalendar,
    load_ledger_config,
    repair_deadline,
)
from controller.notify import Notifier, NotifyConfig
from streetlight.clock import ManualClock
from streetlight.contract import LampTelemetry, TelemetryBatch, Topics
from streetlight.domain import AlarmChange, AlarmType, Inventory, Severity
from streetlight.domain.workorders import LedgerError, OrderState, check_step
from streetlight.influx import InfluxClient
from streetlight.scenario import build_scenario
from streetlight.services import ServiceState
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.alarms import Transition, write_transitions
from streetlight.store.models import WorkOrderRow, WorkOrderTransitionRow
from streetlight.store.times import from_store
from streetlight.store.workorders import list_orders, open_order, order_record, people_step
from tests.conftest import ROOT
from tests.controller_rig import TEST_CONFIG, District, local, run_until, schedule_store
from tests.gateway_rig import config_for, role_settings, running_gateway
from tests.helpers import eventually, running_role, subset
from tests.simulation import NIGHT, SHANGHAI, running
from tests.test_cli import run as run_cli
from tests.test_notify import Receiver

LAMP = "PP-S04-L001"


def _shanghai(day: int, hour: int = 10, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=SHANGHAI)


# --- deadlines -----------------------------------------------------------------------------------


def test_each_severity_class_has_its_deadline() -> None:
    calendar = WorkingCalendar()
    friday = _shanghai(18)  # 2026-12-18 is a Friday
    assert repair_deadline(Severity.EMERGENCY, friday, SHANGHAI, calendar) == friday + timedelta(
        hours=1
    )
    assert repair_deadline(Severity.ORDINARY, friday, SHANGHAI, calendar) == friday + timedelta(
        hours=24
    )
    # three working days over the weekend: Mon, Tue, Wed, at the time of day it was opened
    assert repair_deadline(Severity.SERIOUS, friday, SHANGHAI, calendar) == _shanghai(23)
    assert repair_deadline(Severity.SERIOUS, _shanghai(19), SHANGHAI, calendar) == _shanghai(23)
    # 01:00 on Friday in Shanghai is still Thursday in UTC (the clock's): the local date counts
    early = _shanghai(18, hour=1).astimezone(UTC)
    assert early.weekday() == 3
    assert repair_deadline(Severity.SERIOUS, early, SHANGHAI, calendar) == _shanghai(23, hour=1)


def test_serious_deadlines_skip_holidays_and_count_make_up_days() -> None:
    config = load_ledger_config(ROOT / "examples" / "xunyang" / "ledger.yaml")
    assert config.verify_s == 1800
    assert len(config.holidays) == 8
    calendar = config.calendar()
    opened = _shanghai(30, month=9)  # Wednesday; National Day runs Thursday 1 to Wednesday 7
    # Thu 8, Fri 9, Mon 12
    assert repair_deadline(Severity.SERIOUS, opened, SHANGHAI, calendar) == _shanghai(12, month=10)
    # with Saturday 10 October worked instead (调休): Thu 8, Fri 9, Sat 10
    make_up = dataclasses.replace(calendar, working_days=frozenset({date(2026, 10, 10)}))
    assert repair_deadline(Severity.SERIOUS, opened, SHANGHAI, make_up) == _shanghai(10, month=10)
    # New Year's Day 2027 is a Friday: opened Thursday 31 December -> Mon 4, Tue 5, Wed 6
    new_year = repair_deadline(Severity.SERIOUS, _shanghai(31), SHANGHAI, calendar)
    assert new_year == _shanghai(6, month=1, year=2027)


def test_a_bad_ledger_file_names_its_field(tmp_path: Path) -> None:
    path = tmp_path / "ledger.yaml"
    for text, named in (
        ("holidays: [2026-10-01, National Day]\n", r"ledger.yaml: holidays\[1\]: Input should be"),
        ("working_days: [2026-13-01]\n", r"a date that does not exist: month must be in 1..12"),
        ("verify_s: -5\n", r"verify_s: Input should be greater than 0"),
        ("verify_s: 60\ncolour: red\n", r"colour: Extra inputs are not permitted"),
        ("holidays: [2026-10-10]\nworking_days: [2026-10-10]\n",
         r"2026-10-10 is both a holiday and a working day"),
        ("- 2026-10-01\n", r"expected a mapping"),
    ):  # fmt: skip
        path.write_text(text)
        with pytest.raises(LedgerConfigError, match=named):
            load_ledger_config(path)
    path.write_text("")
    assert load_ledger_config(path) == LedgerConfig()


# --- the state machine ---------------------------------------------------------------------------


def test_each_step_is_refused_unless_the_order_is_in_the_state_before() -> None:
    check_step(7, "registered", OrderState.DISPATCHED)
    check_step(7, "dispatched", OrderState.REPAIRED)
    check_step(7, "repaired", OrderState.VERIFIED)
    check_step(7, "verified", OrderState.CLOSED)
    refusals = {
        ("registered", OrderState.REPAIRED):
            "work order wo-7 is registered: it cannot be repaired (dispatch it first)",
        ("dispatched", OrderState.CLOSED):
            "work order wo-7 is dispatched: it cannot be closed (mark it repaired first)",
        ("repaired", OrderState.CLOSED):
            "work order wo-7 is repaired: it cannot be closed (its repair is not verified yet: "
            "the asset must report healthy first)",
        ("dispatched", OrderState.DISPATCHED):
            "work order wo-7 is dispatched: it cannot be dispatched (it already is dispatched)",
        ("closed", OrderState.REPAIRED):
            "work order wo-7 is closed: it cannot be repaired (it is past that: closed)",
    }  # fmt: skip
    for (state, step), message in refusals.items():
        with pytest.raises(LedgerError) as refused:
            check_step(7, state, step)
        assert str(refused.value) == message


# --- holding and verification --------------------------------------------------------------------


def _alarm(alarm_id: int, asset: str, parent: Alarm | None = None) -> Alarm:
    alarm = Alarm(alarm_id, AlarmType.LAMP_FAILURE, asset, Severity.ORDINARY, "PP-S04", NIGHT)
    alarm.parent = parent
    return alarm


def test_new_roots_are_held_and_an_adopted_or_short_one_opens_nothing() -> None:
    hold = NoticeHold(60)
    kept, adopted, short = (_alarm(n, f"lamp:PP-S04-L00{n}") for n in (1, 2, 3))
    at = NIGHT
    raised = [a.transition(AlarmChange.RAISED, at, "") for a in (kept, adopted, short)]
    assert hold.take(raised) == []
    assert hold.take([adopted.transition(AlarmChange.SUPPRESSED, at, "")]) == []
    assert hold.take([short.transition(AlarmChange.CLEARED, at, "")]) == []  # never told of
    assert hold.due(at + timedelta(seconds=59)) == []
    assert [t.alarm_id for t in hold.due(at + timedelta(seconds=60))] == [1]
    ended = hold.take([kept.transition(AlarmChange.CLEARED, at, "")])
    assert [t.alarm_id for t in ended] == [1]  # told of its start: told of its end


def test_healthy_means_nothing_open_on_the_asset_or_under_its_alarm_for_verify_s() -> None:
    root = _alarm(1, "circuit:PP-S04-K1-C1")
    child = _alarm(2, f"lamp:{LAMP}", parent=root)
    other = _alarm(3, "lamp:PP-S04-L002")
    assert not Sickness.of([root]).healthy(1, "circuit:PP-S04-K1-C1")
    assert not Sickness.of([child]).healthy(1, "circuit:PP-S04-K1-C1")  # linked under it
    assert not Sickness.of([_alarm(4, "circuit:PP-S04-K1-C1")]).healthy(1, "circuit:PP-S04-K1-C1")
    assert Sickness.of([other]).healthy(1, "circuit:PP-S04-K1-C1")
    check = RepairCheck(verify_s=600)
    assert not check.observe(1, True, NIGHT)
    assert not check.observe(1, False, NIGHT + timedelta(seconds=500))  # bad again
    assert not check.observe(1, True, NIGHT + timedelta(seconds=600))
    assert check.observe(1, True, NIGHT + timedelta(seconds=1200))


# --- the keeper and the command, on a real store -------------------------------------------------


@dataclasses.dataclass
class Ledger:
    inventory: Inventory
    engine: AsyncEngine
    url: str
    clock: ManualClock
    book: AlarmBook
    keeper: LedgerKeeper
    changes: list[Transition]

    async def flush(self) -> None:
        """Store the book's changes and hand them to the keeper, as the alarm outlet does."""
        batch, self.changes[:] = list(self.changes), []
        async with sessions(self.engine)() as session, session.begin():
            await write_transitions(session, batch)
        await self.keeper.on_changes(batch)

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        self.keeper.tick(self.clock.now())
        await self.keeper.step()

    def cli(self, *args: str) -> Any:
        # crews' steps stamped with the simulated time, as a demo's shared clock does
        env = {
            "STREETLIGHT_DB_URL": self.url,
            "STREETLIGHT_CLOCK_START": self.clock.now().isoformat(),
        }
        return run_cli("workorders", *args, env=env)

    async def orders(self, **where: str) -> list[dict[str, object]]:
        async with sessions(self.engine)() as session:
            rows = await list_orders(session, **where)
        return [order_record(order, alarm, self.clock.now()) for order, alarm in rows]


@asynccontextmanager
async def ledger_on_store(tmp_path: Path, verify_s: float = 600) -> AsyncIterator[Ledger]:
    inventory = subset(("PP-S04", "PP-S09"))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = await open_engine(url)
    clock = ManualClock(NIGHT)
    changes: list[Transition] = []
    book = AlarmBook(
        inventory, on_change=lambda a, c, at, n: changes.append(a.transition(c, at, n))
    )
    keeper = LedgerKeeper(inventory, engine, clock, book, config=LedgerConfig(verify_s=verify_s),
                          hold_s=60, poll_s=0)  # fmt: skip
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "test")
        yield Ledger(inventory, engine, url, clock, book, keeper, changes)
    finally:
        await engine.dispose()


def _refused(result: Any, message: str) -> None:
    assert result.returncode == 2, result.stdout
    assert message in result.stderr, result.stderr


async def test_a_root_alarm_opens_one_order_for_the_maintainer_of_the_moment(
    tmp_path: Path,
) -> None:
    async with ledger_on_store(tmp_path) as ledger:
        handed = ledger.cli(
            "handover",
            "--site",
            "PP-S04",
            "--to",
            "WY-CJ",
            "--on",
            "2026-12-01T00:00:00+08:00",
            "--by",
            "district office",
        )
        assert handed.returncode == 0, handed.stderr
        assert "PP-S04 handed over to WY-CJ from 2026-12-01T00:00:00+08:00" in handed.stdout
        later = ledger.cli(
            "handover",
            "--site",
            "PP-S04",
            "--to",
            "浔阳区城市管理局路灯管理所",
            "--on",
            "2026-12-22T00:00:00+08:00",
            "--by",
            "district office",
        )
        assert "handed over to XY-LDS" in later.stdout, later.stderr  # by name; after the alarm
        _refused(ledger.cli("handover", "--site", "PP-S99", "--to", "WY-CJ", "--by", "x"),
                 "unknown site 'PP-S99'")  # fmt: skip
        _refused(ledger.cli("handover", "--site", "PP-S04", "--to", "WY-XX", "--by", "x"),
                 "unknown maintainer 'WY-XX'")  # fmt: skip

        ledger.book.raise_now(AlarmType.LAMP_FAILURE, f"lamp:{LAMP}", NIGHT, "dark")
        await ledger.flush()
        await ledger.advance(59)
        assert await ledger.orders() == []  # held: a root cause may still adopt it
        await ledger.advance(1)
        (order,) = await ledger.orders()
        opened = datetime.fromisoformat(str(order["opened_at"]))
        assert opened == NIGHT + timedelta(seconds=60)
        assert datetime.fromisoformat(str(order["deadline"])) - opened == timedelta(hours=24)
        assert {k: order[k] for k in ("id", "alarm", "type", "asset", "site", "maintainer",
                                      "severity", "state", "overdue", "escalated_at")} == {
            "id": "wo-1", "alarm": "al-1", "type": "lamp_failure", "asset": f"lamp:{LAMP}",
            "site": "PP-S04", "maintainer": "WY-CJ", "severity": "ordinary",
            "state": "registered", "overdue": False, "escalated_at": None,
        }  # fmt: skip

        # a restarted controller neither holds it again nor opens a second order
        door = ledger.book.raise_now(AlarmType.DOOR_OPEN, "cabinet:PP-S09-K1", ledger.clock.now())
        async with sessions(ledger.engine)() as session, session.begin():
            await write_transitions(session, ledger.changes)  # stored; the keeper never told
            ledger.changes.clear()
            _, new = await open_order(
                session,
                alarm_id=1,
                maintainer="XY-LDS",
                severity=Severity.ORDINARY,
                opened_at=NIGHT,
                deadline=NIGHT,
            )
            assert not new
        again = LedgerKeeper(ledger.inventory, ledger.engine, ledger.clock, ledger.book,
                             config=LedgerConfig(), hold_s=60, poll_s=0)  # fmt: skip
        await again.restore()
        assert len(again.hold) == 1  # the door's alarm, which has no order yet
        ledger.keeper = again
        await ledger.advance(60)
        first, second = await ledger.orders()
        assert first["id"] == "wo-1"
        assert (second["alarm"], second["maintainer"], second["severity"]) == (
            door.label,
            "WY-CJ",
            "emergency",
        )
        assert datetime.fromisoformat(str(second["deadline"])) - datetime.fromisoformat(
            str(second["opened_at"])
        ) == timedelta(hours=1)


async def test_crews_move_an_order_and_only_a_verified_repair_closes(tmp_path: Path) -> None:
    async with ledger_on_store(tmp_path, verify_s=600) as ledger:
        asset = f"lamp:{LAMP}"
        ledger.book.raise_now(AlarmType.LAMP_FAILURE, asset, NIGHT, "dark")
        await ledger.flush()
        await ledger.advance(60)
        _refused(
            ledger.cli("repaired", "wo-1", "--by", "crew-7"),
            "work order wo-1 is registered: it cannot be repaired (dispatch it first)",
        )
        _refused(ledger.cli("dispatch", "wo-9", "--by", "ops"), "wo-9: no such work order")
        dispatched = ledger.cli("dispatch", "wo-1", "--by", "ops", "--note", "crew 7")
        assert dispatched.stdout.strip() == f"wo-1 (lamp_failure on {asset}): dispatched"
        await ledger.advance(600)
        repaired = ledger.cli("repaired", "wo-1", "--by", "crew-7", "--note", "new driver")
        assert repaired.returncode == 0, repaired.stderr

        # still dark: its alarm is open, however long the crew waits
        await ledger.advance(60)
        await ledger.advance(900)
        assert [o["state"] for o in await ledger.orders()] == ["repaired"]
        _refused(
            ledger.cli("close", "wo-1", "--by", "crew-7"),
            "work order wo-1 is repaired: it cannot be closed (its repair is not verified",
        )

        def report() -> None:
            ledger.keeper.evidence(
                TelemetryBatch(
                    source="gw",
                    lamps=[
                        LampTelemetry(
                            lamp=LAMP,
                            ts=ledger.clock.now(),
                            relay_on=True,
                            dim_pct=100,
                            power_w=50.0,
                        )
                    ],
                )
            )

        ledger.book.observe(AlarmType.LAMP_FAILURE, asset, False, ledger.clock.now(),
                            raise_after=1, clear_after=1)  # fmt: skip
        await ledger.flush()
        report()
        await ledger.advance(60)
        await ledger.advance(300)
        # dark again for a moment: the wait starts over
        ledger.book.raise_now(AlarmType.LAMP_FAILURE, asset, ledger.clock.now(), "dark")
        await ledger.flush()
        await ledger.advance(30)
        ledger.book.observe(AlarmType.LAMP_FAILURE, asset, False, ledger.clock.now(),
                            raise_after=1, clear_after=1)  # fmt: skip
        await ledger.flush()
        report()
        await ledger.advance(30)
        await ledger.advance(590)
        assert [o["state"] for o in await ledger.orders()] == ["repaired"]
        await ledger.advance(10)
        assert [o["state"] for o in await ledger.orders()] == ["verified"]

        closed = ledger.cli("close", "wo-1", "--by", "crew-7", "--note", "销号")
        assert closed.stdout.strip() == f"wo-1 (lamp_failure on {asset}): closed"
        _refused(ledger.cli("close", "wo-1", "--by", "crew-7"), "(it already is closed)")
        listed = ledger.cli("list", "--json", "--state", "closed", "--maintainer", "XY-LDS")
        (line,) = [json.loads(text) for text in listed.stdout.splitlines()]
        assert (line["id"], line["state"], line["overdue"]) == ("wo-1", "closed", False)
        assert ledger.cli("list", "--state", "registered").stdout.strip() == "0 work orders"
        table = ledger.cli("list").stdout.splitlines()
        assert table[0].startswith("wo-1    al-1 ")
        assert table[-1] == "1 work orders"
        async with sessions(ledger.engine)() as session:
            steps = (await session.scalars(select(WorkOrderTransitionRow)
                                           .order_by(WorkOrderTransitionRow.id))).all()  # fmt: skip
        assert [(s.change, s.by, s.note) for s in steps] == [
            ("registered", "controller", "for XY-LDS"),
            ("dispatched", "ops", "crew 7"),
            ("repaired", "crew-7", "new driver"),
            ("verified", "controller", "healthy for 600 s after the repair"),
            ("closed", "crew-7", "销号"),
        ]


# --- end to end ----------------------------------------------------------------------------------

START = local(21, 0)
SITES = ("PP-S04",)  # 25 MQTT lamp nodes and cabinet PP-S04-K1, maintained by XY-LDS
VERIFY_S = 600
CONFIG = dataclasses.replace(TEST_CONFIG, ledger_poll_s=0.2)


def _at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


@asynccontextmanager
async def district_with_ledger(
    state: ServiceState,
    topics: Topics,
    influx: InfluxClient,
    directory: Path,
    *,
    faults: list[dict[str, Any]],
    notifier: Notifier | None = None,
) -> AsyncIterator[District]:
    scenario = build_scenario({"faults": faults}, subset(SITES))
    async with (
        running(state, topics.root, sites=SITES, start=START, as_devices=True,
                scenario=scenario) as sim,
        schedule_store(sim, directory) as engine,
        running_gateway(sim, role_settings(state, topics, influx, "gateway"),
                        config_for(sim, directory / "spool")),
    ):  # fmt: skip
        controller = Controller(
            role_settings(state, topics, influx, "controller"), sim.world.inventory,
            engine=engine, clock=sim.world.clock, config=CONFIG, notifier=notifier,
            ledger=LedgerConfig(verify_s=VERIFY_S),
        )  # fmt: skip
        async with running_role("controller", controller.run, controller.ready):
            yield District(sim, engine, controller)


async def _orders(engine: AsyncEngine) -> list[WorkOrderRow]:
    async with sessions(engine)() as session:
        return [order for order, _ in await list_orders(session)]


async def _step(district: District, order_id: int, step: OrderState, by: str) -> None:
    async with sessions(district.engine)() as session, session.begin():
        now = district.sim.world.clock.now()
        await people_step(session, order_id, step, by=by, at=now, note="")


async def test_a_dark_lamp_opens_one_order_verified_only_after_the_field_says_so(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    faults = [{"at": _at(5), "target": f"lamp:{LAMP}", "kind": "lamp_failure", "until": _at(40)}]
    async with district_with_ledger(
        service_state, topics, influx, tmp_path, faults=faults
    ) as district:
        await run_until(district.sim, START + timedelta(minutes=20))
        (order,) = await _orders(district.engine)  # exactly one, held and then opened
        assert order.maintainer_id == district.sim.world.inventory.sites["PP-S04"].maintainer_id
        assert from_store(order.deadline) - from_store(order.opened_at) == timedelta(hours=24)
        assert order.state == "registered"
        await _step(district, order.id, OrderState.DISPATCHED, "ops")
        await _step(district, order.id, OrderState.REPAIRED, "crew-7")  # but it is still dark
        await run_until(district.sim, START + timedelta(minutes=38))
        (order,) = await _orders(district.engine)
        assert order.state == "repaired"
        with pytest.raises(LedgerError, match="cannot be closed \\(its repair is not verified"):
            await _step(district, order.id, OrderState.CLOSED, "crew-7")
        # the fault ends at 21:40; cleared after two good reports, then verify_s of health
        await run_until(district.sim, START + timedelta(minutes=40 + 3 + VERIFY_S / 60 + 2))
        await asyncio.sleep(0.5)
        (order,) = await _orders(district.engine)
        assert order.state == "verified"
        async with sessions(district.engine)() as session:
            verified_at = await session.scalar(
                select(WorkOrderTransitionRow.at).where(
                    WorkOrderTransitionRow.work_order_id == order.id,
                    WorkOrderTransitionRow.change == "verified",
                )
            )
        assert verified_at is not None
        assert from_store(verified_at) >= START + timedelta(minutes=40, seconds=VERIFY_S)
        await _step(district, order.id, OrderState.CLOSED, "crew-7")
        (order,) = await _orders(district.engine)
        assert order.state == "closed"


async def test_an_overdue_emergency_is_escalated_once_and_its_maintainer_told(
    service_state: ServiceState, topics: Topics, influx: InfluxClient, tmp_path: Path
) -> None:
    maintainer = subset(SITES).sites["PP-S04"].maintainer_id
    faults = [{"at": _at(5), "target": "cabinet:PP-S04-K1", "kind": "door_open"}]  # 1 h
    with Receiver() as receiver:
        notifier = Notifier(NotifyConfig.model_validate({
            "maintainers": {maintainer: [{"kind": "webhook", "url": receiver.url("/hook")}]},
            "digest_window_s": 0.2,
        }))  # fmt: skip
        async with district_with_ledger(
            service_state, topics, influx, tmp_path, faults=faults, notifier=notifier
        ) as district:
            await run_until(district.sim, START + timedelta(minutes=20))
            (order,) = await _orders(district.engine)
            deadline = from_store(order.deadline)
            assert deadline - from_store(order.opened_at) == timedelta(hours=1)
            assert order.escalated_at is None
            await run_until(district.sim, deadline + timedelta(minutes=5))

            def told(event: str) -> list[dict[str, Any]]:
                return [n for r in receiver.on("/hook") for n in r.body["notices"]
                        if n["event"] == event]  # fmt: skip

            await eventually(lambda: bool(told("escalated")), what="an escalation sent")
            await run_until(district.sim, deadline + timedelta(minutes=8))
            await asyncio.sleep(0.5)
            (order,) = await _orders(district.engine)
            async with sessions(district.engine)() as session:
                changes = (await session.scalars(
                    select(WorkOrderTransitionRow.change)
                    .where(WorkOrderTransitionRow.work_order_id == order.id))).all()  # fmt: skip
    assert order.escalated_at is not None
    assert from_store(order.escalated_at) > deadline
    assert list(changes) == ["registered", "escalated"]
    (raised,) = told("raised")
    (escalated,) = told("escalated")  # once
    for notice in (raised, escalated):
        assert (notice["type"], notice["asset"], notice["maintainer"], notice["work_order"]) == (
            "door_open",
            "cabinet:PP-S04-K1",
            maintainer,
            f"wo-{order.id}",
        )
    assert datetime.fromisoformat(escalated["deadline"]) == deadline
