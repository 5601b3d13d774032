"""The controller's side of the work-order ledger: open, verify and escalate orders, tell crews.

It listens to the alarm book's changes (after the outlet has stored them). A new root alarm is
held `notify_hold_s` (controller.ledger.NoticeHold), then released on a tick: its work order
opens for the site's maintainer of the moment (a handover wins over the asset tree) with the
deadline of its severity class, and the notifier, if there is one, tells that maintainer's
crew. A root's end is told to the same maintainer, in the order things happened.

Crews move orders from the CLI, in another process, so the keeper reads the orders not yet
verified from the store every `poll_s` wall seconds. On each tick it looks at each repaired
order's asset: healthy (controller.ledger.Sickness) with a report since the repair, for
`verify_s` clock seconds, and the keeper marks it verified; an order past its deadline while
its fault is still there is escalated once and its maintainer told. The store is the record:
actions that fail to be written wait for the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from controller.alarms import AlarmBook
from controller.ledger.rules import (
    LedgerConfig,
    NoticeHold,
    RepairCheck,
    Sickness,
    repair_deadline,
    report_sources,
)
from controller.notify import Notice, Notifier
from streetlight.backoff import LinkState
from streetlight.clock import Clock
from streetlight.contract import TelemetryBatch
from streetlight.domain import CREW_ALARMS, AlarmChange, Inventory
from streetlight.domain.workorders import OrderState, order_label
from streetlight.schedule import site_places
from streetlight.store import sessions
from streetlight.store.alarms import Transition
from streetlight.store.times import from_store
from streetlight.store.workorders import (
    ActiveOrder,
    maintainer_for,
    mark_escalated,
    mark_verified,
    open_alarms_with_orders,
    open_order,
    order_of_alarm,
    read_active_orders,
)

logger = logging.getLogger(__name__)

Action = tuple[Literal["open", "ended"], Transition]
ACTIONS_MAX = 100_000  # ledger actions waiting for the store, at most


class LedgerKeeper:
    def __init__(
        self,
        inventory: Inventory,
        engine: AsyncEngine,
        clock: Clock,
        book: AlarmBook,
        *,
        config: LedgerConfig,
        hold_s: float,
        poll_s: float,
        notifier: Notifier | None = None,
    ) -> None:
        self.inventory = inventory
        self.engine = engine
        self.clock = clock
        self.book = book
        self.config = config
        self.poll_s = poll_s
        self.notifier = notifier
        self.calendar = config.calendar()
        self.hold = NoticeHold(hold_s)
        self.check = RepairCheck(config.verify_s)
        places = site_places(inventory)
        self._zones = {site: place.tz for site, place in places.items()}
        self._circuits = {
            c: (circuit.cabinet_id, inventory.lamps_on_circuit(c))
            for c, circuit in inventory.circuits.items()
        }
        # in order: released roots to open an order for, ends of roots to tell crews of; one
        # entry per root's release or end, ACTIONS_MAX at most: beyond (the store away through
        # an alarm storm), an action is dropped, counted and logged; a root left without its
        # order gets it when the controller next starts (`restore`)
        self._actions: deque[Action] = deque()
        self.dropped_actions = 0
        self.orders: dict[int, ActiveOrder] = {}  # not yet verified, as last read
        self._watch_lamps: set[str] = set()  # whose reports are evidence for a repaired order
        self._watch_cabinets: set[str] = set()
        self._seen: dict[str, datetime] = {}  # "lamp:X" / "cabinet:Y" -> latest report
        self._verify: set[int] = set()
        self._escalate: set[int] = set()
        self._wake = asyncio.Event()
        self._next_read = 0.0
        self._store = LinkState(logger, "the store, for the work-order ledger")
        self.opened = self.verified = self.escalated = 0

    # --- fed by the controller -----------------------------------------------------------------

    async def restore(self) -> None:
        """After a restart: hold again the open root alarms that have no order yet."""
        async with sessions(self.engine)() as session:
            have = await open_alarms_with_orders(session)
        for alarm in self.book.open_alarms():
            if alarm.parent is None and alarm.id not in have and alarm.type in CREW_ALARMS:
                self.hold.hold_again(alarm.transition(AlarmChange.RAISED, alarm.raised_at, ""))

    async def on_changes(self, batch: Sequence[Transition]) -> None:
        """The alarm outlet's listener: the book's changes, once stored (those of alarms a crew
        repairs: a gateway's `data_stale` opens no order)."""
        batch = [t for t in batch if t.type in CREW_ALARMS]
        for t in self.hold.take(batch):
            if self.notifier is not None:
                self._act(("ended", t))
        for t in batch:
            if t.change in (AlarmChange.RAISED, AlarmChange.SURFACED):
                for order in self.orders.values():  # bad again: the wait starts over
                    if t.asset == order.asset or t.parent == order.alarm_id:
                        self.check.restart(order.id)
        if self._actions:
            self._wake.set()

    def evidence(self, batch: TelemetryBatch) -> None:
        """Note the report times that can verify a repair (only of repaired orders' assets)."""
        if self._watch_lamps:
            for lamp in batch.lamps:
                if lamp.lamp in self._watch_lamps:
                    self._saw(f"lamp:{lamp.lamp}", lamp.ts)
        if self._watch_cabinets:
            for cabinet in batch.cabinets:
                if cabinet.cabinet in self._watch_cabinets:
                    self._saw(f"cabinet:{cabinet.cabinet}", cabinet.ts)

    def _act(self, action: Action) -> None:
        if len(self._actions) >= ACTIONS_MAX:
            self.dropped_actions += 1
            logger.error(
                "%d ledger actions wait for the store: dropped %s of al-%d (%d so far)",
                len(self._actions), action[0], action[1].alarm_id, self.dropped_actions,
            )  # fmt: skip
            return
        self._actions.append(action)

    def _saw(self, source: str, at: datetime) -> None:
        last = self._seen.get(source)
        if last is None or at > last:
            self._seen[source] = at

    def tick(self, now: datetime) -> None:
        """Release held roots whose time is up; look at repaired and overdue orders."""
        for t in self.hold.due(now):
            self._act(("open", t))
        self._review(now)
        if self._actions or self._verify or self._escalate:
            self._wake.set()

    def _review(self, now: datetime) -> None:
        repaired = [o for o in self.orders.values() if o.state is OrderState.REPAIRED]
        overdue = [o for o in self.orders.values() if o.escalated_at is None and now > o.deadline]
        if not (repaired or overdue):
            return
        sickness = Sickness.of(self.book.open_alarms())
        for order in overdue:
            # the fault still there: a door shut or a lamp back by itself before its deadline
            # is not chased (its order still waits for the crew's repair and verification)
            if not sickness.healthy(order.alarm_id, order.asset):
                self._escalate.add(order.id)
        for order in repaired:
            healthy = sickness.healthy(order.alarm_id, order.asset) and self._fresh(order)
            if self.check.observe(order.id, healthy, now):
                self._verify.add(order.id)

    def _fresh(self, order: ActiveOrder) -> bool:
        """A report about the asset taken after the repair."""
        assert order.repaired_at is not None
        return any(
            (seen := self._seen.get(source)) is not None and seen > order.repaired_at
            for source in report_sources(order.asset, self._circuits)
        )

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write what the rules decided, and read the orders, until cancelled."""
        while True:
            try:
                await self.step()
                self._store.ok()
            except (SQLAlchemyError, OSError) as exc:
                self._store.failed(str(exc).splitlines()[0])  # kept: tried again next round
            except Exception:
                logger.exception("the work-order ledger failed a round; trying again")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
            self._wake.clear()

    async def step(self) -> None:
        """One round of `run`: open released orders, read the orders, write what is decided."""
        await self._take_actions()
        if time.monotonic() >= self._next_read:
            await self.read_orders()
            self._next_read = time.monotonic() + self.poll_s
            self._review(self.clock.now())
        await self._settle()

    async def read_orders(self) -> None:
        """Take the orders not yet verified from the store (crews move them meanwhile)."""
        async with sessions(self.engine)() as session:
            orders = await read_active_orders(session)
        self.orders = {order.id: order for order in orders}
        repaired = [o for o in orders if o.state is OrderState.REPAIRED]
        self.check.keep_only(o.id for o in repaired)
        sources = {s for o in repaired for s in report_sources(o.asset, self._circuits)}
        self._watch_lamps = {s.removeprefix("lamp:") for s in sources if s.startswith("lamp:")}
        self._watch_cabinets = {
            s.removeprefix("cabinet:") for s in sources if s.startswith("cabinet:")
        }
        self._seen = {s: at for s, at in self._seen.items() if s in sources}

    async def _take_actions(self) -> None:
        if not self._actions:
            return
        actions = list(self._actions)
        notices: list[Notice] = []
        async with sessions(self.engine)() as session, session.begin():
            for kind, t in actions:
                notice = await (self._open(session, t) if kind == "open" else self._end(session, t))
                if notice is not None:
                    notices.append(notice)
        for _ in actions:  # written: taken off (more may have come meanwhile, behind them)
            self._actions.popleft()
        self._tell(notices)

    async def _open(self, session: AsyncSession, t: Transition) -> Notice | None:
        site = self.inventory.sites.get(t.site)
        if site is None:  # the asset tree changed under a restored alarm: nobody to send
            logger.warning("al-%d: site %s is not in the asset tree; no work order", t.alarm_id,
                           t.site)  # fmt: skip
            return None
        maintainer = await maintainer_for(session, t.site, t.raised_at, site.maintainer_id)
        now = self.clock.now()
        zone = self._zones.get(t.site, self.inventory.district.tz)
        deadline = repair_deadline(t.severity, now, zone, self.calendar)
        row, new = await open_order(
            session, alarm_id=t.alarm_id, maintainer=maintainer, severity=t.severity,
            opened_at=now, deadline=deadline,
        )  # fmt: skip
        if not new:
            return None
        self.opened += 1
        label = order_label(row.id)
        logger.info("%s opened for al-%d (%s on %s): %s, due %s", label, t.alarm_id, t.type,
                    t.asset, maintainer, deadline.isoformat())  # fmt: skip
        return self._notice(t, "raised", maintainer, label, deadline)

    async def _end(self, session: AsyncSession, t: Transition) -> Notice | None:
        order = await order_of_alarm(session, t.alarm_id)
        if order is not None:
            label, deadline = order_label(order.id), from_store(order.deadline)
            return self._notice(t, "cleared", order.maintainer_id, label, deadline)
        site = self.inventory.sites.get(t.site)
        if site is None:
            return None
        maintainer = await maintainer_for(session, t.site, t.raised_at, site.maintainer_id)
        return self._notice(t, "cleared", maintainer, None, None)

    async def _settle(self) -> None:
        """Write the verifications and escalations the rules decided."""
        if not (self._verify or self._escalate):
            return
        now = self.clock.now()
        verify, escalate = set(self._verify), set(self._escalate)
        notices = []
        async with sessions(self.engine)() as session, session.begin():
            for order_id in sorted(verify):
                note = f"healthy for {self.config.verify_s:.0f} s after the repair"
                if await mark_verified(session, order_id, now, note):
                    self.verified += 1
                    logger.info("%s verified: %s", order_label(order_id), note)
            for order_id in sorted(escalate):
                order = self.orders.get(order_id)
                if order is None:
                    continue
                note = f"deadline {order.deadline.isoformat()} passed"
                if await mark_escalated(session, order_id, now, note):
                    self.escalated += 1
                    logger.warning("%s escalated: %s", order.label, note)
                    notices.append(self._escalation(order, now))
        self._verify -= verify
        self._escalate -= escalate
        for order_id in verify:
            self.orders.pop(order_id, None)
            self.check.restart(order_id)
        for order_id in escalate:
            if order_id in self.orders:
                self.orders[order_id] = dataclasses.replace(self.orders[order_id], escalated_at=now)
        self._tell(notices)

    # --- telling crews -------------------------------------------------------------------------

    def _tell(self, notices: list[Notice]) -> None:
        if self.notifier is not None:
            for notice in notices:
                self.notifier.submit(notice)

    def _notice(
        self,
        t: Transition,
        event: str,
        maintainer: str,
        order: str | None,
        deadline: datetime | None,
    ) -> Notice:
        site = self.inventory.sites.get(t.site)
        return Notice(
            alarm_id=f"al-{t.alarm_id}", type=t.type, severity=t.severity, event=event,
            asset=t.asset, site=t.site, site_name=site.name if site is not None else t.site,
            maintainer=maintainer, at=t.at,
            raised_at=t.raised_at, detail=t.detail or None, work_order=order, deadline=deadline,
        )  # fmt: skip

    def _escalation(self, order: ActiveOrder, now: datetime) -> Notice:
        site = self.inventory.sites.get(order.site)
        return Notice(
            alarm_id=f"al-{order.alarm_id}", type=order.type, severity=order.severity,
            event="escalated", asset=order.asset, site=order.site,
            site_name=site.name if site is not None else order.site,
            maintainer=order.maintainer, at=now, raised_at=order.raised_at,
            detail=order.detail or None, work_order=order.label, deadline=order.deadline,
        )  # fmt: skip
