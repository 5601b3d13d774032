"""Detection rules, debounce, root cause and the alarm store, fed with canonical readings.

The readings are built as a gateway would send them; what the lamps were told comes from a
real Dispatcher (adopted levels), and the store is a real SQLite file. The end-to-end path
(simulator faults through gateway and controller) is in test_alarm_flow.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from controller.alarms import (
    Alarm,
    AlarmBook,
    Detector,
    ThresholdBook,
    ThresholdError,
    load_thresholds,
    read_open_alarms,
    read_watches,
    save_watches,
)
from controller.app import take_lamp_report
from controller.cli import ControllerSettings, controller_config
from controller.schedule import Dispatcher
from streetlight.clock import ManualClock
from streetlight.contract import (
    AckOutcome,
    CabinetTelemetry,
    CircuitReading,
    Command,
    CommandAck,
    LampFault,
    LampTelemetry,
    PhaseReading,
    Topics,
    decode,
)
from streetlight.domain import AlarmChange, AlarmState, AlarmType, Inventory, Phase, lamp_power_w
from streetlight.store import open_engine, save_inventory, sessions
from streetlight.store.alarms import (
    AlarmStoreError,
    Transition,
    export_alarms,
    next_alarm_id,
    operator_step,
    write_transitions,
)
from tests.helpers import eventually, subset
from tests.simulation import NIGHT
from tests.test_cli import run as run_cli

SITE = "PP-S04"  # cabinet PP-S04-K1, circuits C1..C3 of 9, 9 and 7 lamps on phases A, B, C
CABINET = "PP-S04-K1"
LAMP = "PP-S04-L001"  # circuit C1, phase A, 60 W
INTERVAL = timedelta(seconds=60)


@dataclass
class Rig:
    """A detector over one site, its lamps told to be on at 100 % since an hour ago.

    `step` moves the clock a reporting interval, and every lamp and the cabinet the test has
    not spoken for report healthy meanwhile."""

    inventory: Inventory
    clock: ManualClock
    dispatcher: Dispatcher
    book: AlarmBook
    detector: Detector
    changes: list[tuple[str, AlarmChange]] = field(default_factory=list)
    driven: set[str] = field(default_factory=set)

    def alarms(self, *, roots_only: bool = True) -> set[tuple[AlarmType, str]]:
        return {a.key for a in self.book.open_alarms() if not roots_only or a.parent is None}

    def lamp(self, lamp: str = LAMP, *, power: float | None = None, dim: int = 100,
             relay: bool = True, temp: float = 45.0, volts: float = 225.0,
             faults: tuple[LampFault, ...] = ()) -> None:  # fmt: skip
        self.driven.add(lamp)
        self._report(lamp, power=power, dim=dim, relay=relay, temp=temp, volts=volts,
                     faults=faults)  # fmt: skip

    def _report(self, lamp: str, *, power: float | None = None, dim: int = 100,
                relay: bool = True, temp: float = 45.0, volts: float = 225.0,
                faults: tuple[LampFault, ...] = ()) -> None:  # fmt: skip
        rated = self.inventory.lamps[lamp].rated_power_w
        watts = lamp_power_w(rated, relay, dim) if power is None else power
        self.detector.lamp(
            LampTelemetry(
                lamp=lamp, ts=self.clock.now(), relay_on=relay, dim_pct=dim, voltage_v=volts,
                power_w=watts, driver_temp_c=temp, faults=list(faults),
            )
        )  # fmt: skip

    def cabinet(self, volts: tuple[float, float, float] = (225.0, 226.0, 224.0),
                leakage: float = 4.0, door: bool = False,
                currents: dict[str, float] | None = None) -> None:  # fmt: skip
        self.driven.add(CABINET)
        self._cabinet(volts, leakage, door, currents)

    def _cabinet(self, volts: tuple[float, float, float] = (225.0, 226.0, 224.0),
                 leakage: float = 4.0, door: bool = False,
                 currents: dict[str, float] | None = None) -> None:  # fmt: skip
        circuits = self.inventory.cabinets[CABINET].circuit_ids
        self.detector.cabinet(
            CabinetTelemetry(
                cabinet=CABINET, ts=self.clock.now(),
                phases=[PhaseReading(phase=p, voltage_v=v, current_a=1.0, power_w=200.0)
                        for p, v in zip(Phase, volts, strict=True)],
                circuits=[CircuitReading(circuit=c, contactor_on=True,
                                         current_a=(currents or {}).get(c, 1.0))
                          for c in circuits],
                leakage_ma=leakage, door_open=door, supply_on=all(v > 50 for v in volts),
            )
        )  # fmt: skip

    async def every_lamp(self, skip: frozenset[str] = frozenset()) -> None:
        for lamp in self.inventory.lamps:
            if lamp not in skip:
                self.lamp(lamp)

    async def step(self, seconds: float = 60.0) -> None:
        await self.clock.advance(seconds)
        for lamp in self.inventory.lamps:
            if lamp not in self.driven:
                self._report(lamp)
        if CABINET not in self.driven:
            self._cabinet()
        self.detector.tick(self.clock.now())


@pytest.fixture
def rig() -> Rig:
    inventory = subset((SITE,))
    clock = ManualClock(NIGHT)
    dispatcher = Dispatcher(inventory, Topics("t"), clock)
    changes: list[tuple[str, AlarmChange]] = []
    book = AlarmBook(
        inventory, on_change=lambda a, c, _at, _n: changes.append((a.label, c)),
        surface_after_s=90,
    )  # fmt: skip
    for lamp in inventory.lamps:
        dispatcher.adopt(lamp, 100)
        dispatcher.asserted_at[lamp] = NIGHT - timedelta(hours=1)
    return Rig(inventory, clock, dispatcher, book, Detector(inventory, book, dispatcher), changes)


# --- lamps -------------------------------------------------------------------------------------


async def test_a_flagged_dark_lamp_is_raised_at_once_and_cleared_after_two_good_reports(
    rig: Rig,
) -> None:
    rig.lamp(power=0.8, faults=(LampFault.LAMP_OPEN,))
    assert rig.alarms() == {(AlarmType.LAMP_FAILURE, f"lamp:{LAMP}")}
    await rig.step()
    rig.lamp()
    assert rig.alarms()  # one good report is not enough
    await rig.step()
    rig.lamp()
    assert rig.alarms() == set()
    assert [c for _, c in rig.changes] == [AlarmChange.RAISED, AlarmChange.CLEARED]


async def test_an_unflagged_dark_lamp_takes_three_reports_and_a_cycling_one_is_not_failed(
    rig: Rig,
) -> None:
    other = "PP-S04-L002"
    for lit in (True, True, False, True, True, False, True, False, False, True, True, False):
        # cycling: never three dark in a row, its node flagging lamp_open while dark
        rig.lamp(other, power=None if lit else 0.5, faults=() if lit else (LampFault.LAMP_OPEN,))
        rig.lamp(power=0.5)
        await rig.step()
    assert (AlarmType.LAMP_FAILURE, f"lamp:{LAMP}") in rig.alarms()
    assert (AlarmType.CYCLING, f"lamp:{other}") in rig.alarms()
    assert (AlarmType.LAMP_FAILURE, f"lamp:{other}") not in rig.alarms()
    for _ in range(19):  # repaired, but not yet steady for a whole cycling window (20 min)
        rig.lamp(other)
        await rig.step()
    assert (AlarmType.CYCLING, f"lamp:{other}") in rig.alarms()
    for _ in range(3):
        rig.lamp(other)
        await rig.step()
    assert (AlarmType.CYCLING, f"lamp:{other}") not in rig.alarms()


async def test_a_lamp_its_node_flags_as_cycling_is_raised_on_one_report_and_never_failed(
    rig: Rig,
) -> None:
    rig.lamp(faults=(LampFault.CYCLING,))  # lit at this moment: only the node saw the cut-outs
    assert rig.alarms() == {(AlarmType.CYCLING, f"lamp:{LAMP}")}
    for _ in range(3):  # dark three times in a row: a cut-out each time, not a failure
        await rig.step()
        rig.lamp(power=0.5, faults=(LampFault.CYCLING, LampFault.LAMP_OPEN))
    assert rig.alarms() == {(AlarmType.CYCLING, f"lamp:{LAMP}")}


async def test_power_outside_its_tolerance_and_an_overheated_driver_as_the_root(rig: Rig) -> None:
    low, high, hot = "PP-S04-L002", "PP-S04-L003", "PP-S04-L004"
    expected = lamp_power_w(60.0, True, 100)
    for _ in range(2):
        rig.lamp(low, power=expected * 0.7)
        rig.lamp(high, power=expected * 1.3)
        rig.lamp(hot, power=expected * 0.6, temp=92.0)
        await rig.step()
    roots = rig.alarms()
    assert roots == {
        (AlarmType.LOW_POWER, f"lamp:{low}"),
        (AlarmType.HIGH_POWER, f"lamp:{high}"),
        (AlarmType.OVER_TEMPERATURE, f"lamp:{hot}"),
    }
    # the derated driver's low power is linked under its over-temperature, not lost
    assert (AlarmType.LOW_POWER, f"lamp:{hot}") in rig.alarms(roots_only=False)


async def test_dimming_failure_waits_for_the_command_to_take_effect(rig: Rig) -> None:
    rig.dispatcher.assert_levels({LAMP: 50})
    rig.lamp(dim=100)  # the command is on its way
    await rig.step()
    rig.lamp(dim=100)
    assert rig.alarms() == set()
    await rig.step(120)
    rig.lamp(dim=100)
    await rig.step()
    rig.lamp(dim=100)
    assert rig.alarms() == {(AlarmType.DIMMING_FAILURE, f"lamp:{LAMP}")}


async def _sent_and_acknowledged(rig: Rig) -> None:
    """The dispatcher's queued command goes out, and the gateway says it was carried out."""
    sent: list[Command] = []

    async def publish(_topic: str, payload: bytes) -> None:
        sent.append(decode(Command, payload))

    sender = asyncio.create_task(rig.dispatcher.send_forever(publish))
    try:
        await eventually(lambda: bool(sent), within=5, what="the command sent")
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender  # an error of its own would show here
    (command,) = sent
    rig.dispatcher.on_ack(
        CommandAck(command_id=command.id, target=command.target, outcome=AckOutcome.DONE,
                   at=rig.clock.now(), attempts=1)
    )  # fmt: skip


@pytest.mark.parametrize("level", [50, None])
async def test_a_lamp_that_acknowledged_its_command_and_disobeys_is_raised_on_one_report(
    rig: Rig, level: int | None
) -> None:
    def disobey() -> None:  # it says it did, but its driver stays at 100 % (or, told off,
        if level is None:  # its relay is welded: the node thinks it is off)
            rig.lamp(relay=False, power=61.0)
        else:
            rig.lamp(dim=100)

    rig.dispatcher.assert_levels({LAMP: level})
    await _sent_and_acknowledged(rig)
    await rig.step(30)
    disobey()
    assert rig.alarms() == set()  # too soon after the command to tell
    await rig.step(120)
    disobey()
    kind = AlarmType.DIMMING_FAILURE if level is not None else AlarmType.DAY_BURNING
    assert rig.alarms() == {(kind, f"lamp:{LAMP}")}


async def test_a_welded_relay_that_reports_off_as_told_is_still_raised_on_one_report(
    rig: Rig,
) -> None:
    rig.driven.add(LAMP)  # it reports only what this test says
    rig.dispatcher.assert_levels({LAMP: None})
    await _sent_and_acknowledged(rig)
    await rig.step(150)
    welded = LampTelemetry(lamp=LAMP, ts=rig.clock.now(), relay_on=False, dim_pct=100,
                           power_w=61.0)  # fmt: skip
    rig.dispatcher.hear(welded)  # the node's relay flag agrees: the command is settled
    assert not rig.dispatcher.pending(LAMP)
    rig.lamp(relay=False, power=61.0)  # ... but it draws full power
    assert rig.alarms() == {(AlarmType.DAY_BURNING, f"lamp:{LAMP}")}


async def test_a_report_taken_before_a_lamp_is_told_again_counts_against_its_own_level(
    rig: Rig,
) -> None:
    """A lamp without supply misses its dim step and is given up on; its first report after
    the supply returns shows it at its old level, and the dispatcher tells it again. That
    report was taken before the command: the lamp was steady, and its power counts."""
    rig.driven.add(LAMP)  # it reports only what this test says
    rig.dispatcher.attempts = 1
    rig.dispatcher.assert_levels({LAMP: 50})  # the dim step, which the lamp does not hear
    sent: list[Command] = []

    async def publish(_topic: str, payload: bytes) -> None:
        sent.append(decode(Command, payload))

    sender = asyncio.create_task(rig.dispatcher.send_forever(publish))
    try:
        await eventually(lambda: len(sent) == 1, within=5, what="the dim step sent")
        await rig.step(rig.dispatcher.confirm_s + 1)
        rig.dispatcher.check_deadlines()
        assert rig.dispatcher.stats.deferred == 1  # silent: told again when it reports
        await rig.step(3600)  # the supply comes back
        rated = rig.inventory.lamps[LAMP].rated_power_w
        too_much = 1.4 * lamp_power_w(rated, True, 100)
        before = LampTelemetry(lamp=LAMP, ts=rig.clock.now() - timedelta(seconds=10),
                               relay_on=True, dim_pct=100, power_w=too_much)  # fmt: skip
        take_lamp_report(before, rig.dispatcher, rig.detector)  # as the controller does
        assert rig.dispatcher.pending(LAMP)  # told again
        await eventually(lambda: len(sent) == 2, within=5, what="the dim step told again")
        await rig.step(150)  # its next report, past the command's warm-up
        obeying = LampTelemetry(lamp=LAMP, ts=rig.clock.now(), relay_on=True, dim_pct=50,
                                power_w=1.4 * lamp_power_w(rated, True, 50))  # fmt: skip
        take_lamp_report(obeying, rig.dispatcher, rig.detector)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert rig.alarms() == {(AlarmType.HIGH_POWER, f"lamp:{LAMP}")}  # on its 2nd report


async def test_a_lamp_burning_while_it_should_be_off(rig: Rig) -> None:
    rig.dispatcher.adopt(LAMP, None)
    rig.dispatcher.asserted_at[LAMP] = rig.clock.now() - timedelta(hours=1)
    rig.lamp(relay=False, power=0.5)
    assert rig.alarms() == set()
    for _ in range(2):
        rig.lamp(relay=False, power=61.0)  # a welded relay: the node thinks it is off
        await rig.step()
    assert rig.alarms() == {(AlarmType.DAY_BURNING, f"lamp:{LAMP}")}


async def test_a_silent_lamp_goes_offline_after_three_intervals_one_the_gateway_names_sooner(
    rig: Rig,
) -> None:
    quiet, named = "PP-S04-L002", "PP-S04-L003"
    await rig.every_lamp()
    rig.cabinet()
    rig.detector.lamp_status(named, False, rig.clock.now())
    for _ in range(2):
        await rig.step()
        await rig.every_lamp(skip=frozenset({quiet, named}))
        rig.cabinet()
    assert rig.alarms() == {(AlarmType.LAMP_OFFLINE, f"lamp:{named}")}
    await rig.step()
    await rig.every_lamp(skip=frozenset({quiet, named}))
    assert rig.alarms() == {
        (AlarmType.LAMP_OFFLINE, f"lamp:{named}"),
        (AlarmType.LAMP_OFFLINE, f"lamp:{quiet}"),
    }
    rig.lamp(quiet)
    assert (AlarmType.LAMP_OFFLINE, f"lamp:{quiet}") not in rig.alarms()


async def test_a_lamp_named_offline_is_raised_at_its_cabinets_next_report(rig: Rig) -> None:
    named = "PP-S04-L003"
    await rig.every_lamp()
    await rig.clock.advance(10)
    rig.detector.lamp_status(named, False, rig.clock.now())
    rig.detector.tick(rig.clock.now())
    assert rig.alarms() == set()  # its cabinet may yet explain it
    await rig.clock.advance(5)
    rig.cabinet()  # supply and circuit fine: it is the lamp's own, long before an interval
    assert rig.alarms() == {(AlarmType.LAMP_OFFLINE, f"lamp:{named}")}


async def test_a_supply_loss_seen_after_its_lamps_alarms_adopts_them(rig: Rig) -> None:
    await rig.every_lamp()
    rig.cabinet()
    lamps = frozenset(rig.inventory.lamps)
    await rig.clock.advance(5)  # the mains go; the nodes say so before the cabinet's next poll
    for lamp in lamps:
        rig.detector.lamp_status(lamp, False, rig.clock.now())
    await rig.clock.advance(65)  # the cabinet's report is late: the lamps' wait is over first
    rig.detector.tick(rig.clock.now())
    assert (AlarmType.LAMP_OFFLINE, f"lamp:{LAMP}") in rig.alarms()
    await rig.clock.advance(5)
    rig.cabinet(volts=(0.0, 0.0, 0.0))
    assert rig.alarms() == {(AlarmType.SUPPLY_LOSS, f"cabinet:{CABINET}")}
    assert {(AlarmType.LAMP_OFFLINE, f"lamp:{lamp}") for lamp in lamps} <= rig.alarms(
        roots_only=False
    )


async def test_when_no_lamp_is_heard_none_is_offline_and_silence_counts_from_the_return(
    rig: Rig,
) -> None:
    """A gateway or broker down for an hour is not every lamp's fault; a lamp still silent
    three intervals after the others came back is."""
    quiet = "PP-S04-L002"
    await rig.every_lamp()
    for _ in range(60):  # nobody reports: the gateway is down
        await rig.clock.advance(60)
        rig.detector.tick(rig.clock.now())
    assert rig.alarms() == set()
    for _ in range(2):
        await rig.step()
        await rig.every_lamp(skip=frozenset({quiet}))
    assert rig.alarms() == set()
    await rig.step()
    await rig.every_lamp(skip=frozenset({quiet}))
    await rig.step()
    assert rig.alarms() == {(AlarmType.LAMP_OFFLINE, f"lamp:{quiet}")}


# --- cabinets and root cause -------------------------------------------------------------------


async def test_cabinet_faults_raise_on_their_first_report(rig: Rig) -> None:
    rig.cabinet(volts=(252.0, 251.0, 253.0), leakage=41.0, door=True)
    assert rig.alarms() == {
        (AlarmType.VOLTAGE_HIGH, f"cabinet:{CABINET}"),
        (AlarmType.LEAKAGE, f"cabinet:{CABINET}"),
        (AlarmType.DOOR_OPEN, f"cabinet:{CABINET}"),
    }
    for _ in range(2):
        await rig.step()
        rig.cabinet()
    assert rig.alarms() == set()


async def test_a_cabinet_without_supply_is_one_alarm_and_a_lamp_still_dark_after_surfaces(
    rig: Rig,
) -> None:
    await rig.every_lamp()
    rig.cabinet()
    await rig.step()
    for lamp in rig.inventory.lamps:
        rig.detector.lamp_status(lamp, False, rig.clock.now())
    rig.cabinet(volts=(0.0, 0.0, 0.0), currents=dict.fromkeys(rig.inventory.circuits, 0.0))
    for _ in range(3):
        await rig.step()
        rig.cabinet(volts=(0.0, 0.0, 0.0), currents=dict.fromkeys(rig.inventory.circuits, 0.0))
    assert rig.alarms() == {(AlarmType.SUPPLY_LOSS, f"cabinet:{CABINET}")}
    children = rig.alarms(roots_only=False) - rig.alarms()
    assert children == {(AlarmType.LAMP_OFFLINE, f"lamp:{lamp}") for lamp in rig.inventory.lamps}
    # supply back: every lamp reports again but one
    broken = "PP-S04-L007"
    for _ in range(2):
        await rig.step()
        rig.cabinet()
        await rig.every_lamp(skip=frozenset({broken}))
    # the root cleared; the dark lamp stays under it until later evidence says it is bad
    assert rig.alarms() == set()
    assert rig.alarms(roots_only=False) == {(AlarmType.LAMP_OFFLINE, f"lamp:{broken}")}
    await rig.every_lamp(skip=frozenset({broken}))
    await rig.step(120)  # less than its reporting interval (60 s) and 90 s
    assert rig.alarms() == set()
    await rig.step(60)
    assert rig.alarms() == {(AlarmType.LAMP_OFFLINE, f"lamp:{broken}")}
    assert any(change is AlarmChange.SURFACED for _, change in rig.changes)


async def test_a_silent_lamp_under_a_cleared_root_has_its_reporting_interval_to_be_heard(
    rig: Rig,
) -> None:
    """A cabinet polled every minute clears its supply loss long before lamps that report
    every five minutes are heard again: their silence is not yet a fault of their own."""
    every_5_min = ThresholdBook(defaults={"report_interval_s": 300})
    slow = Detector(rig.inventory, rig.book, rig.dispatcher, every_5_min)
    rig.detector = slow
    await rig.every_lamp()
    rig.cabinet()
    for lamp in rig.inventory.lamps:
        slow.lamp_status(lamp, False, rig.clock.now())
    for _ in range(6):  # the cabinet, every minute, without supply
        await rig.step()
        rig.cabinet(volts=(0.0, 0.0, 0.0), currents=dict.fromkeys(rig.inventory.circuits, 0.0))
    assert rig.alarms() == {(AlarmType.SUPPLY_LOSS, f"cabinet:{CABINET}")}
    for _ in range(4):  # supply back: the root clears at the second good report
        await rig.step()
        rig.cabinet()
    assert rig.alarms() == set()
    await rig.every_lamp()  # the lamps' next reports, 4 minutes after the supply came back
    assert rig.alarms(roots_only=False) == set()
    assert not any(change is AlarmChange.SURFACED for _, change in rig.changes)


async def test_a_dead_circuit_is_one_alarm_and_a_lost_phase_only_takes_its_own_lamps(
    rig: Rig,
) -> None:
    await rig.every_lamp()
    rig.cabinet()
    circuit = "PP-S04-K1-C2"
    for lamp in rig.inventory.lamps_on_circuit(circuit):
        rig.detector.lamp_status(lamp, False, rig.clock.now())
    rig.cabinet(currents={circuit: 0.0})
    assert rig.alarms() == {(AlarmType.CIRCUIT_DEAD, f"circuit:{circuit}")}
    # phase C lost as well: its lamps on the other circuits go, under the phase_loss
    phase_c = [
        lamp for lamp, row in rig.inventory.lamps.items()
        if row.phase is Phase.C and rig.inventory.lamps[lamp].circuit_id != circuit
    ]  # fmt: skip
    for lamp in phase_c:
        rig.detector.lamp_status(lamp, False, rig.clock.now())
    for _ in range(2):
        await rig.step()
        rig.cabinet(volts=(225.0, 226.0, 0.0), currents={circuit: 0.0})
        await rig.every_lamp(skip=frozenset({*phase_c, *rig.inventory.lamps_on_circuit(circuit)}))
    assert rig.alarms() == {
        (AlarmType.CIRCUIT_DEAD, f"circuit:{circuit}"),
        (AlarmType.PHASE_LOSS, f"cabinet:{CABINET}"),
    }
    assert {(AlarmType.LAMP_OFFLINE, f"lamp:{lamp}") for lamp in phase_c} <= rig.alarms(
        roots_only=False
    )


async def test_a_dead_circuit_is_raised_when_its_last_lamp_goes_not_at_the_next_tick(
    rig: Rig,
) -> None:
    await rig.every_lamp()
    circuit = "PP-S04-K1-C2"
    rig.cabinet(currents={circuit: 0.0})  # the cabinet's meter saw it first
    *first, last = rig.inventory.lamps_on_circuit(circuit)
    for lamp in first:
        rig.detector.lamp_status(lamp, False, rig.clock.now())
    assert rig.alarms() == set()
    rig.detector.lamp_status(last, False, rig.clock.now())
    assert rig.alarms() == {(AlarmType.CIRCUIT_DEAD, f"circuit:{circuit}")}


async def test_a_failed_command_is_linked_under_what_explains_it(rig: Rig) -> None:
    rig.lamp(power=0.8, faults=(LampFault.LAMP_OPEN,))
    now = rig.clock.now()
    rig.book.raise_now(AlarmType.COMMAND_FAILED, f"lamp:{LAMP}", now, "to 50 %")
    rig.book.raise_now(AlarmType.COMMAND_FAILED, "lamp:PP-S04-L002", now, "to 50 %")
    assert rig.alarms() == {
        (AlarmType.LAMP_FAILURE, f"lamp:{LAMP}"),
        (AlarmType.COMMAND_FAILED, "lamp:PP-S04-L002"),
    }


# --- the store ---------------------------------------------------------------------------------


async def test_alarms_survive_a_restart_without_being_raised_twice(
    rig: Rig, tmp_path: Path
) -> None:
    engine = await open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    transitions: list[Transition] = []
    rig.book.on_change = lambda a, c, at, n: transitions.append(a.transition(c, at, n))
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, rig.inventory, "test")
        rig.lamp(power=0.8, faults=(LampFault.LAMP_OPEN,))
        rig.lamp("PP-S04-L002", power=30.0)  # low power: one bad report of two
        async with sessions(engine)() as session, session.begin():
            await write_transitions(session, transitions)
            await save_watches(session, rig.book.watches, rig.clock.now())
        async with sessions(engine)() as session:
            alarms = await read_open_alarms(session)
            watches = await read_watches(session)
            next_id = await next_alarm_id(session)
        # a new book, as after a restart
        again = AlarmBook(rig.inventory, next_id=next_id)
        for alarm in alarms:
            again.restore(alarm)
        for key, (watch, alarm_id) in watches.items():
            if alarm_id is None:
                again.restore_watch(key, watch)
        detector = Detector(rig.inventory, again, rig.dispatcher)
        raised: list[Alarm] = []
        again.on_change = lambda a, c, _at, _n: (
            raised.append(a) if c is AlarmChange.RAISED else None
        )
        await rig.clock.advance(60)
        for lamp, power in ((LAMP, 0.8), ("PP-S04-L002", 30.0)):
            detector.lamp(LampTelemetry(lamp=lamp, ts=rig.clock.now(), relay_on=True,
                                        dim_pct=100, power_w=power))  # fmt: skip
        # the failed lamp's alarm is the one from before; the low power one completes now
        assert [(a.type, a.asset, a.id) for a in raised] == [
            (AlarmType.LOW_POWER, "lamp:PP-S04-L002", alarms[0].id + 1)
        ]
        async with sessions(engine)() as session, session.begin():
            with pytest.raises(AlarmStoreError, match="has not cleared it"):
                await operator_step(session, alarms[0].id, AlarmState.CLOSED, by="ops",
                                    at=rig.clock.now(), note="")  # fmt: skip
            row = await operator_step(session, alarms[0].id, AlarmState.ACKNOWLEDGED, by="ops",
                                      at=rig.clock.now(), note="crew sent")  # fmt: skip
            assert row.state == "acknowledged"
        async with sessions(engine)() as session:
            lines = [
                line
                async for line in export_alarms(
                    session, NIGHT - timedelta(hours=1), NIGHT + timedelta(hours=1)
                )
            ]
        assert len(lines) == 1
        line = lines[0]
        assert datetime.fromisoformat(str(line.pop("raised_at"))) == NIGHT
        assert line == {
            "id": f"al-{alarms[0].id}", "type": "lamp_failure", "asset": f"lamp:{LAMP}",
            "cleared_at": None, "parent": None, "severity": "ordinary",
            "state": "acknowledged", "site": SITE, "detail": "0.8 W of 60 W expected",
        }  # fmt: skip
    finally:
        await engine.dispose()


def test_the_confirm_time_follows_the_reporting_interval_unless_it_is_set() -> None:
    every_5_min = ThresholdBook(defaults={"report_interval_s": 300})
    one_model_slow = ThresholdBook(models={"slc-modbus-b": {"report_interval_s": 600}})
    assert controller_config(ControllerSettings(), ThresholdBook()).confirm_s == 180
    assert controller_config(ControllerSettings(), every_5_min).confirm_s == 900
    assert controller_config(ControllerSettings(), one_model_slow).confirm_s == 1800
    assert (
        controller_config(ControllerSettings(controller_confirm_s=400), every_5_min).confirm_s
        == 400
    )


def test_thresholds_by_model_and_site_and_a_bad_file_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        "defaults: {report_interval_s: 30}\n"
        "models: {slc-mqtt-a: {temperature_limit_c: 80}}\n"
        "sites: {PP-S04: {power_tolerance: 0.2}}\n"
    )
    book = load_thresholds(path)
    here = book.for_asset("slc-mqtt-a", "PP-S04")
    assert (here.report_interval_s, here.temperature_limit_c, here.power_tolerance) == (30, 80, 0.2)
    assert book.for_asset("slc-modbus-a", "PP-S07").temperature_limit_c == 85
    path.write_text("models: {slc-mqtt-a: {power_tolerance: 2}}\n")
    with pytest.raises(ThresholdError, match=r"models\.slc-mqtt-a\.power_tolerance"):
        load_thresholds(path)
    path.write_text("sites: {PP-S04: {colour: red}}\n")
    with pytest.raises(ThresholdError, match=r"sites\.PP-S04\.colour"):
        load_thresholds(path)


async def test_the_alarms_command_exports_acknowledges_and_refuses_by_name(
    rig: Rig, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = await open_engine(url)
    transitions: list[Transition] = []
    rig.book.on_change = lambda a, c, at, n: transitions.append(a.transition(c, at, n))
    rig.cabinet(leakage=45.0)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, rig.inventory, "test")
            await write_transitions(session, transitions)
    finally:
        await engine.dispose()
    env = {"STREETLIGHT_DB_URL": url}
    window = ("--from", "2026-12-21T00:00:00+08:00", "--to", "2026-12-22T00:00:00+08:00")
    exported = run_cli("alarms", "export", *window, env=env)
    assert exported.returncode == 0, exported.stderr
    (line,) = [json.loads(text) for text in exported.stdout.splitlines()]
    assert (line["type"], line["asset"], line["severity"], line["state"]) == (
        "leakage",
        f"cabinet:{CABINET}",
        "emergency",
        "raised",
    )
    refused = run_cli("alarms", "close", line["id"], "--by", "crew-7", env=env)
    assert refused.returncode == 2
    assert "is raised: it cannot be closed (the field has not cleared it)" in refused.stderr
    acked = run_cli("alarms", "ack", line["id"], "--by", "ops", "--note", "crew sent", env=env)
    assert acked.returncode == 0, acked.stderr
    assert "leakage on cabinet:PP-S04-K1): acknowledged" in acked.stdout
    listed = run_cli("alarms", "list", env=env)
    (listed_line, total) = listed.stdout.splitlines()
    assert listed_line.startswith(line["id"])
    assert "acknowledged" in listed_line
    assert total == "1 open alarms (root causes)"
    backwards = run_cli("alarms", "export", "--from", window[3], "--to", window[1], env=env)
    assert backwards.returncode == 2
    assert "is not after --from" in backwards.stderr
