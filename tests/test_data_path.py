"""The data path as a root cause: a gateway's feed stopped or behind raises one `data_stale`
on the gateway and holds its lamps' offline judgement; silence counts from arrival, per source.

Detection is fed as the controller feeds it: each batch's arrival (the controller's clock) and
source first, then its readings. The end-to-end night (gateway away, influxd away) is in
test_scenario_data_path.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from controller.alarms import AlarmBook, Detector
from controller.schedule import Dispatcher
from streetlight.clock import ManualClock
from streetlight.contract import LampTelemetry, Topics
from streetlight.domain import AlarmType, Inventory, lamp_power_w
from tests.helpers import subset
from tests.simulation import NIGHT

SITE = "PP-S04"
GATEWAY = "gw-1"
STALE = ("data_stale", f"gateway:{GATEWAY}")


@dataclass
class Path:
    inventory: Inventory
    clock: ManualClock
    book: AlarmBook
    detector: Detector

    def alarms(self) -> set[tuple[str, str]]:
        return {(a.type.value, a.asset) for a in self.book.open_alarms() if a.parent is None}

    def batch(
        self, taken: datetime, lamps: list[str] | None = None, behind_s: float | None = None
    ) -> None:
        """A batch of `GATEWAY` arrives now, with readings of `lamps` (all) taken at `taken`."""
        now = self.clock.now()
        chosen = list(self.inventory.lamps) if lamps is None else lamps
        self.detector.arrived(GATEWAY, taken, now, behind_s)
        for lamp in chosen:
            rated = self.inventory.lamps[lamp].rated_power_w
            power = lamp_power_w(rated, True, 100)
            reading = LampTelemetry(lamp=lamp, ts=taken, relay_on=True, dim_pct=100, power_w=power)
            self.detector.lamp(reading, arrived=now, source=GATEWAY)

    async def minute(self, *, report: bool = True, skip: frozenset[str] = frozenset()) -> None:
        """A minute passes; the lamps (but `skip`) report through the gateway if `report`."""
        await self.clock.advance(60)
        if report:
            self.batch(
                self.clock.now(), [lamp for lamp in self.inventory.lamps if lamp not in skip]
            )
        self.detector.tick(self.clock.now())


@pytest.fixture
def path() -> Path:
    inventory = subset((SITE,))
    clock = ManualClock(NIGHT)
    dispatcher = Dispatcher(inventory, Topics("t"), clock)
    for lamp in inventory.lamps:
        dispatcher.adopt(lamp, 100)
        dispatcher.asserted_at[lamp] = NIGHT - timedelta(hours=1)
    book = AlarmBook(inventory)
    return Path(inventory, clock, book, Detector(inventory, book, dispatcher))


async def test_a_gateway_gone_quiet_raises_one_alarm_on_itself_and_no_lamp_goes_offline(
    path: Path,
) -> None:
    for _ in range(3):
        await path.minute()
    for _ in range(10):  # ten minutes without a batch: the gateway paused
        await path.minute(report=False)
    assert path.alarms() == {STALE}
    stale = next(iter(path.book.open_alarms()))
    assert "no telemetry for" in stale.detail
    assert f"{len(path.inventory.lamps)} lamps wait" in stale.detail
    # back: first its backlog, readings taken while it was away (their old times); the feed is
    # behind, and nothing is judged on it
    start = path.clock.now() - timedelta(minutes=10)
    for k in range(5):
        await path.clock.advance(3)
        path.batch(start + timedelta(minutes=k))
        path.detector.tick(path.clock.now())
    assert path.alarms() == {STALE}
    assert path.detector.feeds.feeds[GATEWAY].lag_s > 300  # still behind
    await path.minute()  # caught up
    assert path.alarms() == set()
    for _ in range(5):  # its lamps' silence counts from the feed's return
        await path.minute()
    assert path.alarms() == set()


async def test_a_lamp_silent_on_a_live_feed_is_offline_after_three_intervals(path: Path) -> None:
    quiet = min(path.inventory.lamps)
    await path.minute()
    for _ in range(2):
        await path.minute(skip=frozenset({quiet}))
    assert path.alarms() == set()
    await path.minute(skip=frozenset({quiet}))
    assert path.alarms() == {("lamp_offline", f"lamp:{quiet}")}


async def test_reports_that_arrive_late_but_arrive_keep_their_lamps_online(path: Path) -> None:
    """A slow pipeline: every reading reaches the controller 150 s after it was taken. Its age
    says nothing of the lamp; the feed is behind (its gateway's alarm), but no lamp is offline,
    and once the delay is gone the gateway's alarm clears."""
    for _ in range(15):
        await path.clock.advance(60)
        path.batch(path.clock.now() - timedelta(seconds=150))
        path.detector.tick(path.clock.now())
    assert "lamp_offline" not in {kind for kind, _ in path.alarms()}
    assert path.alarms() == {STALE}
    await path.minute()
    assert path.alarms() == set()


async def test_the_gateways_word_that_it_is_offline_makes_its_feed_stale_at_once(
    path: Path,
) -> None:
    await path.minute()
    path.detector.feeds.status(GATEWAY, False, path.clock.now())  # its last will
    await path.minute(report=False)
    assert path.alarms() == {STALE}
    path.detector.feeds.status(GATEWAY, True, path.clock.now())
    await path.minute()
    assert path.alarms() == set()


async def test_the_controllers_own_link_down_judges_no_feed(path: Path) -> None:
    await path.minute()
    path.detector.feeds.link(False, path.clock.now())
    for _ in range(10):
        await path.minute(report=False)
    assert path.alarms() == set()  # not the gateway's fault, nor the lamps'
    path.detector.feeds.link(True, path.clock.now())
    await path.minute()
    for _ in range(3):
        await path.minute()
    assert path.alarms() == set()
    assert AlarmType.DATA_STALE not in {a.type for a in path.book.open_alarms()}


async def test_a_gateway_whose_polling_falls_behind_holds_its_lamps(path: Path) -> None:
    """Its batches keep coming (its MQTT lamps), but its Modbus poller is behind schedule: the
    lamps it has not read are not offline, the gateway is."""
    await path.minute()
    polled = sorted(path.inventory.lamps)[:10]  # read by the poller, now late
    for _ in range(5):
        await path.clock.advance(60)
        now = path.clock.now()
        path.batch(now, [lamp for lamp in path.inventory.lamps if lamp not in polled], 240.0)
        path.detector.tick(now)
    assert path.alarms() == {STALE}
    for _ in range(2):
        await path.minute()  # caught up: every lamp read, no word of lateness
    assert path.alarms() == set()
