"""The KPI writer: every 300 s of clock time the district's figures, once a night its summary.

At each mark (a multiple of 300 s since the epoch) it judges every lamp from the controller's
view (controller.kpi.lamps), counts per site, sums per node and queues one `kpi` point per
node, an `open_alarm` point per open alarm and a `work_order` point per order not closed. At
the noon mark that ends a night it queues the night's `kpi_night` per node and `switching`
per site, once the store has given the night's alarms and orders (if the store is away, at
the next mark). Between marks, at each of the controller's evaluations (`look`), it watches
the lamps whose switch has not yet shown (controller.kpi.switching). Points go to InfluxDB
through the controller's client from a bounded backlog (controller.kpi.outbox), sent by a task
of their own, so neither InfluxDB nor the store ever holds up detection; the lamp loop yields
every few thousand lamps.

A restarted controller counts the night from its first mark on (`lamp_intervals` says how
much of the night that is).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from controller.alarms import Alarm, AlarmBook, ThresholdBook
from controller.kpi.lamps import NOT_FAULTS, Faulty, Interval, LampBoard, SiteCounts, Told
from controller.kpi.night import (
    Fields,
    NightTally,
    order_figures,
    orders_now,
    ratio_pct,
    target_of,
    total,
)
from controller.kpi.outbox import Outbox
from controller.kpi.states import StatePoints
from controller.kpi.switching import SwitchWatch
from controller.kpi.tree import MARK_S, KpiTree, mark_after
from controller.schedule import Dispatcher
from streetlight.aio import first_of
from streetlight.backoff import LinkState
from streetlight.clock import Clock
from streetlight.contract import KPI, KPI_NIGHT, SWITCHING
from streetlight.contract.influx_schema import KPI_POLICY, RAW_POLICY
from streetlight.domain import Inventory, KpiScope, LightingTargets, Severity
from streetlight.influx import InfluxClient, to_ns
from streetlight.store import sessions
from streetlight.store.alarms import root_alarm_counts
from streetlight.store.workorders import OrderTimes, orders_since

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KpiConfig:
    targets: LightingTargets = field(default_factory=LightingTargets)
    switch_tolerance_min: float = 5.0  # switching: how far from the plan a switch may be
    backlog_lines: int = 300_000  # about a day of marks of 100,000 lamps in 1,000 sites
    retry_s: float = 30.0  # wall seconds between tries while InfluxDB is away
    chunk: int = 5000  # lamps judged between turns of the event loop


@dataclass(slots=True)
class KpiStats:
    rounds: int = 0
    nights: int = 0
    last_round_cpu_s: float = 0.0  # CPU time of the last mark (process time)
    last_night_cpu_s: float = 0.0  # CPU time of the last night's summary
    last_round_lines: int = 0
    last_night_lines: int = 0


@dataclass(frozen=True, slots=True)
class _AlarmView:
    """What a mark needs of the book's open alarms."""

    alarms: list[Alarm]
    faulty: Faulty
    by_severity: dict[Severity, list[int]]  # root alarms per site index


class KpiWriter:
    def __init__(
        self,
        inventory: Inventory,
        clock: Clock,
        engine: AsyncEngine,
        *,
        dispatcher: Dispatcher,
        book: AlarmBook,
        thresholds: ThresholdBook,
        confirm_s: float,
        config: KpiConfig | None = None,
    ) -> None:
        self.config = config = config or KpiConfig()
        self.clock = clock
        self.engine = engine
        self.dispatcher = dispatcher
        self.book = book
        self.tree = tree = KpiTree(inventory, config.targets)
        self.told = Told(tree.lamps, dispatcher.asserted, dispatcher.asserted_at)
        self.board = LampBoard(
            tree, reported=dispatcher.reported, told=self.told, thresholds=thresholds,
            confirm_s=confirm_s, chunk=config.chunk,
        )  # fmt: skip
        self.switches = SwitchWatch(self.board, config.switch_tolerance_min)
        self._told_seen = (-1, -1)  # the dispatcher's commands sent and lamps told, last looked
        self.states = StatePoints(tree)
        self.outbox = Outbox(config.backlog_lines)
        self.stats = KpiStats()
        self.tally: NightTally | None = None
        self.closing: list[tuple[NightTally, list[dict[str, float | int | None]]]] = []
        self.orders: list[OrderTimes] = []
        self._store = LinkState(logger, "the store (KPI reads)")
        self._queued = asyncio.Event()

    # --- running -------------------------------------------------------------------------------

    async def run(self, influx: InfluxClient | None, stop: asyncio.Event) -> None:
        """Marks and watches until `stop`; the backlog is sent by a task of its own, and tried
        once more at the end."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._send(influx, stop), name="controller-kpi-send")
            await self._marks(stop)
        await self.outbox.flush(influx)

    async def _marks(self, stop: asyncio.Event) -> None:
        clock, mark = self.clock, mark_after(self.clock.now())
        while await first_of(clock.sleep_until(mark), stop):
            while clock.now() >= mark:
                try:
                    await self.round(mark)
                except Exception:  # a figure that cannot be made must not end the controller
                    logger.exception("KPI round at %s failed", mark.isoformat())
                mark += timedelta(seconds=MARK_S)

    async def _send(self, influx: InfluxClient | None, stop: asyncio.Event) -> None:
        while await first_of(self._queued.wait(), stop):
            self._queued.clear()
            while not await self.outbox.flush(influx):
                with contextlib.suppress(TimeoutError):  # a new mark's points: try at once
                    async with asyncio.timeout(self.config.retry_s):
                        await first_of(self._queued.wait(), stop)
                if stop.is_set():
                    return
                self._queued.clear()

    def look(self, *, scan: bool = False) -> None:
        """What lamps were told, if the dispatcher has sent commands or adopted lamps since the
        last look (or `scan`), and whose switch shows. The controller calls it at each
        evaluation, well inside a reporting interval, so a lamp's first report after its switch
        is seen before the dispatcher keeps a later one."""
        dispatcher = self.dispatcher
        told = (dispatcher.stats.commands_sent, len(dispatcher.asserted_at))
        if scan or told != self._told_seen:
            self._told_seen = told
            self.switches.told(self.told.scan())
        self.switches.look()

    def _queue(self, policy: str, lines: list[str], *, night: bool = False) -> None:
        self.outbox.add(policy, lines, night=night)
        self._queued.set()

    # --- one mark ------------------------------------------------------------------------------

    async def round(self, mark: datetime) -> None:
        """Everything of one mark: `kpi` and state points, and any night that ended."""
        started = time.process_time()
        tree = self.tree
        sample = tree.night_of(mark)
        interval = tree.night_of(mark - timedelta(microseconds=1))
        if self.tally is None:
            self.tally = NightTally(tree, sample)
        view = self._alarm_view()
        self.look()
        counts = await self.board.count(
            mark, view.faulty, self._interval(interval), self._interval(sample)
        )
        if self.tally.night == interval:
            self.tally.add_interval(counts.energy_wh, counts.reporting)
        if self.tally.night != sample:
            self.closing.append((self.tally, self.switches.summaries()))
            self.switches.new_night()
            self.tally = NightTally(tree, sample)
            self.tally.add_interval([0.0] * len(tree.sites), counts.reporting_sample)
        await self._read_orders(tree.night_start(interval))
        time_ns = to_ns(mark)
        lines, rates = self._kpi_lines(mark, time_ns, counts, view)
        self.tally.add_samples(mark, counts, rates)
        orders = {o.alarm_id: o.label for o in self.orders}
        states = self.states.alarms(view.alarms, orders, time_ns)
        states += self.states.orders(self.orders, mark, time_ns)
        self._queue(KPI_POLICY, lines)
        self._queue(RAW_POLICY, states)
        self.stats.rounds += 1
        self.stats.last_round_lines = len(lines) + len(states)
        self.stats.last_round_cpu_s = time.process_time() - started
        if self.closing:
            await self._close_nights()

    def _interval(self, night: date) -> Interval:
        tree = self.tree
        return Interval(
            night.toordinal(),
            tree.night_start(night).timestamp(),
            tree.night_end(night).timestamp(),
        )

    def _alarm_view(self) -> _AlarmView:
        tree = self.tree
        alarms = [alarm for alarm in self.book.open_alarms() if alarm.open]
        kinds: dict[str, set[str]] = {"lamp": set(), "circuit": set(), "cabinet": set()}
        by_severity = {severity: [0] * len(tree.sites) for severity in Severity}
        for alarm in alarms:
            if alarm.type.value not in NOT_FAULTS:
                kind, _, ident = alarm.asset.partition(":")
                if kind in kinds:
                    kinds[kind].add(ident)
            site = tree.site_index.get(alarm.site)
            if alarm.parent is None and site is not None:
                by_severity[alarm.severity][site] += 1
        faulty = Faulty(
            frozenset(kinds["lamp"]), frozenset(kinds["circuit"]), frozenset(kinds["cabinet"])
        )
        return _AlarmView(alarms, faulty, by_severity)

    async def _read_orders(self, since: datetime) -> None:
        """The work orders of the store (those closed before `since` left out); the last ones
        read stand while the store does not answer."""
        try:
            async with sessions(self.engine)() as session:
                self.orders = await orders_since(session, since)
        except (SQLAlchemyError, OSError) as exc:  # keep the last view
            self._store.failed(str(exc))
        else:
            self._store.ok()

    def _kpi_lines(
        self, mark: datetime, time_ns: int, counts: SiteCounts, view: _AlarmView
    ) -> tuple[list[str], list[float | None]]:
        tree, tally = self.tree, self.tally
        assert tally is not None
        open_by_site, late_by_site = orders_now(self.orders, mark)
        open_orders = [open_by_site.get(site, 0) for site in tree.sites]
        late_orders = [late_by_site.get(site, 0) for site in tree.sites]
        roots = [sum(v) for v in zip(*view.by_severity.values(), strict=True)]
        lines, rates = [], []
        for node in tree.nodes:
            sites = node.sites
            lamps = total(tree.site_lamps, sites)
            online, on = total(counts.online, sites), total(counts.on, sites)
            should, lit_ok = total(counts.should, sites), total(counts.lit_ok, sites)
            intact = total(counts.intact, sites)
            rate = ratio_pct(lit_ok, should)
            rates.append(rate)
            fields: Fields = {
                "lamps": lamps,
                "lamps_online": online,
                "online_rate_pct": ratio_pct(online, lamps),
                "lamps_on": on,
                "lamps_off": online - on,
                "lamps_should_lit": should,
                "lamps_lit_ok": lit_ok,
                "lighting_rate_pct": rate,
                "lighting_target_pct": target_of(self.config.targets, tree, node, counts.should),
                "lamps_day_burning": total(counts.day_burning, sites),
                "lamps_intact": intact,
                "integrity_pct": ratio_pct(intact, lamps),
                "power_w": total(counts.power_w, sites),
                "energy_tonight_kwh": total(tally.energy_wh, sites) / 1000,
                "alarms_open": total(roots, sites),
                "work_orders_open": total(open_orders, sites),
                "work_orders_overdue": total(late_orders, sites),
            }
            for severity, per_site in view.by_severity.items():
                fields[f"alarms_open_{severity.value}"] = total(per_site, sites)
            lines.append(KPI.encode(node.kpi, fields, time_ns))
        return lines, rates

    # --- nights --------------------------------------------------------------------------------

    async def _close_nights(self) -> None:
        """The summaries of the nights that ended, once the store gives their alarms and orders;
        a night whose store read fails waits for the next mark."""
        while self.closing:
            started = time.process_time()
            tally, switching = self.closing[0]
            try:
                async with sessions(self.engine)() as session:
                    alarms = await root_alarm_counts(session, tally.start, tally.end)
                    orders = await orders_since(session, tally.start)
            except (SQLAlchemyError, OSError) as exc:  # kept: tried at the next mark
                self._store.failed(f"{exc}; the night of {tally.night} waits")
                return
            self._store.ok()
            lines = self._night_lines(tally, switching, alarms, orders)
            self.closing.pop(0)
            self._queue(KPI_POLICY, lines, night=True)
            self.stats.nights += 1
            self.stats.last_night_lines = len(lines)
            self.stats.last_night_cpu_s = time.process_time() - started
            logger.info(
                "KPIs of the night of %s: %d marks, %d lines", tally.night, tally.marks, len(lines)
            )

    def _night_lines(
        self,
        tally: NightTally,
        switching: list[dict[str, float | int | None]],
        alarms: dict[str, tuple[int, int]],
        orders: Sequence[OrderTimes],
    ) -> list[str]:
        figures = order_figures(orders, tally.start, tally.end)
        time_ns = to_ns(tally.start)
        targets = self.config.targets
        lines = [
            KPI_NIGHT.encode(
                node.night, tally.figures(index, node, targets, alarms, figures), time_ns
            )
            for index, node in enumerate(self.tree.nodes)
        ]
        lines.extend(
            SWITCHING.encode(node.switching, switching[node.sites[0]], time_ns)
            for node in self.tree.nodes
            if node.scope is KpiScope.SITE
        )
        return lines
