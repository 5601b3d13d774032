"""Detection: compare what the field reports with what it should be doing, as evidence.

Every canonical reading is held against what the lamp was told to do (the dispatcher's
asserted level, and since when) and its thresholds (controller.alarms.thresholds), and each rule of
DESIGN.md section 6 gives the alarm book (controller.alarms.book) a bad or good observation:

- lamp: lamp_failure (lit below `failure_fraction` of the power its reported dim level should
  draw; at once with the node's lamp_open flag, else after three reports, so a cycling lamp's
  dark phase is not taken for a failure), low_power / high_power (outside the tolerance),
  dimming_failure (reported level differs from the asserted one `dim_confirm_s` after the
  command), day_burning (drawing power while it should be off) — each on one report once
  the gateway has acknowledged the command as carried out, else on `raise_after` reports;
  cycling (lit/dark changes while it should be on, or the node's own flag),
  over_temperature, voltage_high / voltage_low, lamp_offline (offline by its gateway's word,
  or silent for `offline_intervals`, until its cabinet's next report or for a reporting
  interval, whichever comes first: time for a cause above it to be raised first).
  Power rules wait `warmup_s` after a command (its retries do not restart the wait) and
  while one is on its way.
- cabinet: supply_loss (every phase dead), phase_loss (some), voltage_high / voltage_low on
  its live phases, leakage, door_open — on the first report that shows them.
- circuit: circuit_dead, when every lamp of a circuit has lost contact while its cabinet's
  supply on their phases is live (and the circuit draws no current, where it is metered).
- gateway: data_stale, when the stream of the gateway a lamp's reports come from stops or falls
  behind (controller.alarms.feeds): its lamps' offline judgement waits for it, and a lamp's
  silence is counted from the arrival of its reports, not from their time.

Expected power comes from the lamp's rated power and the driver curve (streetlight.domain).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from controller.alarms.book import AlarmBook
from controller.alarms.feeds import Feeds
from controller.alarms.thresholds import ThresholdBook, Thresholds
from streetlight.contract import CabinetTelemetry, LampFault, LampTelemetry
from streetlight.domain import AlarmType, Inventory, Level, agrees, lamp_power_w

FLAGGED_RAISE = 1  # a fault the device flags itself, or a cabinet reading: one report
FAILURE_RAISE = 3  # an unflagged dark lamp: three reports (a cycling lamp is dark for 90 s)


class Expectations(Protocol):
    """What each lamp was told to do (controller.schedule.Dispatcher)."""

    asserted: dict[str, Level]
    asserted_at: dict[str, datetime]
    acknowledged: dict[str, datetime]

    def pending(self, lamp: str) -> bool: ...


@dataclass(slots=True)
class _LampWatch:
    asset: str
    circuit: str
    cabinet: str
    phase: str
    rated_w: float
    thresholds: Thresholds
    last_seen: datetime | None = None  # the time its newest report was taken
    heard_at: datetime | None = None  # when that report arrived (the controller's clock)
    source: str | None = None  # the gateway its reports come from
    offline_since: datetime | None = None  # the gateway said so
    lit: bool | None = None
    changes: deque[datetime] = field(default_factory=deque)  # lit/dark changes while on


@dataclass(slots=True)
class _CabinetWatch:
    asset: str
    nominal_v: float
    thresholds: Thresholds
    circuits: dict[str, list[str]]  # circuit -> its lamps
    last_report: datetime | None = None
    dead_phases: str = ""  # "ABC" when the supply is lost
    contactor: dict[str, bool] = field(default_factory=dict)  # as last reported
    circuit_current: dict[str, float | None] = field(default_factory=dict)


class Detector:
    def __init__(
        self,
        inventory: Inventory,
        book: AlarmBook,
        expectations: Expectations,
        thresholds: ThresholdBook | None = None,
    ) -> None:
        self.book = book
        self.expect = expectations
        self.thresholds = thresholds or ThresholdBook()
        self._lamps: dict[str, _LampWatch] = {}
        self._cabinets: dict[str, _CabinetWatch] = {}
        self._offline_by_circuit: dict[str, int] = {}
        for cabinet in inventory.cabinets.values():
            site = cabinet.site_id
            self._cabinets[cabinet.id] = _CabinetWatch(
                asset=f"cabinet:{cabinet.id}",
                nominal_v=cabinet.nominal_voltage_v,
                thresholds=self.thresholds.for_asset(None, site),
                circuits={c: list(inventory.lamps_on_circuit(c)) for c in cabinet.circuit_ids},
            )
            for circuit in cabinet.circuit_ids:
                self._offline_by_circuit[circuit] = 0
                for lamp_id in inventory.lamps_on_circuit(circuit):
                    lamp = inventory.lamps[lamp_id]
                    self._lamps[lamp_id] = _LampWatch(
                        asset=f"lamp:{lamp_id}",
                        circuit=circuit,
                        cabinet=cabinet.id,
                        phase=lamp.phase.value,
                        rated_w=lamp.rated_power_w,
                        thresholds=self.thresholds.for_asset(lamp.profile, site),
                    )
        self.unknown_devices = 0
        self.feeds = Feeds(book, self.thresholds.default.report_interval_s)
        self._started: datetime | None = None  # the first tick: silence is counted from it
        # Silence is a lamp's only while the others are heard: when no reading at all has come
        # for a reporting interval (the gateway, the broker or the controller's link is down),
        # nothing is offline for it, and silence is counted again from when readings resume.
        self._heard: datetime | None = None  # the newest reading's time
        self._resumed: datetime | None = None  # when readings came again after a gap

    # --- lamps ---------------------------------------------------------------------------------

    def arrived(
        self, source: str, newest: datetime | None, at: datetime, behind_s: float | None = None
    ) -> None:
        """A batch of `source` arrived at `at` (the controller's clock); its newest reading was
        taken at `newest`; its gateway's polling is `behind_s` behind. Its lamps follow with
        `lamp(..., arrived=at, source=source)`."""
        self.feeds.arrived(source, newest, at, behind_s)

    def lamp(
        self, reading: LampTelemetry, *, arrived: datetime | None = None, source: str | None = None
    ) -> None:
        """One report; `arrived` is when it reached the controller (default: its own time) and
        `source` the gateway it came through."""
        watch = self._lamps.get(reading.lamp)
        if watch is None:
            self.unknown_devices += 1
            return
        at = reading.ts
        book, asset, limits = self.book, watch.asset, watch.thresholds
        self._hear(arrived or at)
        if source is not None and source != watch.source:
            if (old := self.feeds.get(watch.source)) is not None:
                old.lamps.discard(reading.lamp)
            watch.source = source
            if (feed := self.feeds.get(source)) is not None:
                feed.lamps.add(reading.lamp)
        if watch.offline_since is None or at > watch.offline_since:
            watch.last_seen = at
            heard = arrived or at
            watch.heard_at = heard if watch.heard_at is None else max(watch.heard_at, heard)
            if watch.offline_since is not None:
                self._online(watch)
            book.observe(AlarmType.LAMP_OFFLINE, asset, False, at, raise_after=1, clear_after=1)
        # else: a report from before the lamp went offline, delivered late: not a sign of life
        clear = limits.clear_after
        hot = LampFault.OVER_TEMPERATURE in reading.faults or (
            reading.driver_temp_c is not None and reading.driver_temp_c > limits.temperature_limit_c
        )
        book.observe(
            AlarmType.OVER_TEMPERATURE,
            asset,
            hot,
            at,
            raise_after=FLAGGED_RAISE,
            clear_after=clear,
            detail=f"driver at {reading.driver_temp_c:.0f} degC" if hot else "",
        )
        self._lamp_voltage(watch, reading)
        expect = self.expect
        lamp = reading.lamp
        if lamp not in expect.asserted:
            return  # told nothing yet: nothing to hold it against
        level = expect.asserted[lamp]
        since = expect.asserted_at.get(lamp)
        age = (at - since).total_seconds() if since is not None else 1e9
        pending = expect.pending(lamp)
        settled = not pending or age >= limits.dim_confirm_s
        # The gateway said the lamp carried out its command, and a later report says it does
        # otherwise: that is the lamp's fault, not a command on its way, and one report shows
        # it. Without that word it takes `raise_after` reports.
        acked = expect.acknowledged.get(lamp)
        disobeys = FLAGGED_RAISE if acked is not None and at > acked else limits.raise_after
        if not pending and agrees(level, reading):  # it does what it was told after all
            book.observe(AlarmType.COMMAND_FAILED, asset, False, at, raise_after=1, clear_after=1)
        power = reading.power_w
        if level is None:  # it should be off
            if settled and power is not None and age >= limits.warmup_s:
                book.observe(
                    AlarmType.DAY_BURNING,
                    asset,
                    power > limits.day_burning_w,
                    at,
                    raise_after=disobeys,
                    clear_after=clear,
                    detail=f"{power:.0f} W while off",
                )
            watch.lit = None
            watch.changes.clear()
            return
        wrong_level = reading.dim_pct != level
        if reading.relay_on and (age >= limits.dim_confirm_s or not wrong_level):
            book.observe(
                AlarmType.DIMMING_FAILURE,
                asset,
                wrong_level,
                at,
                raise_after=disobeys,
                clear_after=clear,
                detail=f"reports {reading.dim_pct} %, told {level} %",
            )
        if not reading.relay_on or power is None:
            return  # a node that did not switch on: the dispatcher retries it
        self._lamp_power(watch, reading, power, warm=settled and age >= limits.warmup_s)

    def _lamp_power(
        self, watch: _LampWatch, reading: LampTelemetry, power: float, *, warm: bool
    ) -> None:
        book, asset, limits, at = self.book, watch.asset, watch.thresholds, reading.ts
        expected = lamp_power_w(watch.rated_w, True, reading.dim_pct)
        lit = power >= limits.failure_fraction * expected
        window = timedelta(seconds=limits.cycling_window_s)
        changes = watch.changes
        if watch.lit is not None and lit != watch.lit:
            changes.append(at)
        watch.lit = lit
        while changes and at - changes[0] > window:
            changes.popleft()
        clear = limits.clear_after
        if not warm:  # a switch-on or a command under way: only good evidence counts
            if lit:
                book.observe(AlarmType.LAMP_FAILURE, asset, False, at, raise_after=1,
                             clear_after=clear)  # fmt: skip
            return
        # no change for a whole window is health; fewer changes than it takes prove nothing
        # either way (a lamp sampled every few minutes may show its cut-outs only now and then),
        # unless the node saw the cut-outs itself and flags them
        node_says_cycling = LampFault.CYCLING in reading.faults
        steady = not changes and not node_says_cycling
        cycling = len(changes) >= limits.cycling_transitions or node_says_cycling
        if cycling or steady:
            book.observe(
                AlarmType.CYCLING,
                asset,
                cycling,
                at,
                raise_after=1,
                clear_after=1,
                detail="flagged by its node"
                if node_says_cycling
                else f"{len(changes)} on/off changes in {limits.cycling_window_s / 60:.0f} min",
            )
        if node_says_cycling:
            return  # its dark moments are the cycling's: no evidence of failure or of power
        # a node's lamp_open flag is proof enough, unless the lamp has come back on before:
        # a lamp that flickers may be cycling, and must stay dark to be failed
        flagged = LampFault.LAMP_OPEN in reading.faults and len(changes) < 2
        book.observe(
            AlarmType.LAMP_FAILURE,
            asset,
            not lit,
            at,
            raise_after=FLAGGED_RAISE if flagged else FAILURE_RAISE,
            clear_after=clear,
            detail=f"{power:.1f} W of {expected:.0f} W expected",
        )
        if not lit:
            return
        tolerance = limits.power_tolerance
        book.observe(
            AlarmType.LOW_POWER,
            asset,
            power < expected * (1.0 - tolerance),
            at,
            raise_after=limits.raise_after,
            clear_after=clear,
            detail=f"{power:.0f} W of {expected:.0f} W expected",
        )
        book.observe(
            AlarmType.HIGH_POWER,
            asset,
            power > expected * (1.0 + tolerance),
            at,
            raise_after=limits.raise_after,
            clear_after=clear,
            detail=f"{power:.0f} W of {expected:.0f} W expected",
        )

    def _lamp_voltage(self, watch: _LampWatch, reading: LampTelemetry) -> None:
        voltage = reading.voltage_v
        limits = watch.thresholds
        if voltage is None or voltage < limits.dead_voltage_v:
            return
        nominal = self._cabinets[watch.cabinet].nominal_v
        for kind, bad in (
            (AlarmType.VOLTAGE_HIGH, voltage > nominal * limits.voltage_high),
            (AlarmType.VOLTAGE_LOW, voltage < nominal * limits.voltage_low),
        ):
            self.book.observe(
                kind,
                watch.asset,
                bad,
                reading.ts,
                raise_after=limits.raise_after,
                clear_after=limits.clear_after,
                detail=f"{voltage:.0f} V",
            )

    def lamp_status(self, lamp: str, online: bool, at: datetime) -> None:
        """The gateway's word that a lamp's node went offline or came back."""
        watch = self._lamps.get(lamp)
        if watch is None:
            self.unknown_devices += 1
            return
        if online:
            if watch.offline_since is not None:
                self._online(watch)
            # a sign of life: silence is counted from here, not from its last report
            watch.last_seen = at if watch.last_seen is None else max(watch.last_seen, at)
            watch.heard_at = at if watch.heard_at is None else max(watch.heard_at, at)
        elif watch.offline_since is None:
            watch.offline_since = at
            self._offline_by_circuit[watch.circuit] += 1
            cabinet = self._cabinets[watch.cabinet]
            current = cabinet.circuit_current.get(watch.circuit)
            if (
                self._offline_by_circuit[watch.circuit] >= len(cabinet.circuits[watch.circuit])
                and current is not None
                and current <= cabinet.thresholds.dead_circuit_a
            ):  # its last lamp, and the meter already saw the circuit stop drawing: dead, now.
                # (Without that reading the cabinet's supply state may predate the fault: its
                # next report or the tick decides.)
                self._circuits(cabinet, at)

    def _online(self, watch: _LampWatch) -> None:
        watch.offline_since = None
        self._offline_by_circuit[watch.circuit] -= 1

    # --- cabinets ------------------------------------------------------------------------------

    def cabinet(self, report: CabinetTelemetry) -> None:
        watch = self._cabinets.get(report.cabinet)
        if watch is None:
            self.unknown_devices += 1
            return
        book, asset, limits, at = self.book, watch.asset, watch.thresholds, report.ts
        previous, watch.last_report = watch.last_report, at  # an outage began after `previous`
        dead = "".join(p.phase.value for p in report.phases if p.voltage_v < limits.dead_voltage_v)
        live = [p for p in report.phases if p.voltage_v >= limits.dead_voltage_v]
        no_supply = not live and (bool(report.phases) or report.supply_on is False)
        watch.dead_phases = "ABC" if no_supply else dead
        book.dead_phases[report.cabinet] = watch.dead_phases
        clear = limits.clear_after
        book.observe(AlarmType.SUPPLY_LOSS, asset, no_supply, at, raise_after=1,
                     clear_after=clear, began_after=previous)  # fmt: skip
        book.observe(
            AlarmType.PHASE_LOSS,
            asset,
            bool(dead) and bool(live),
            at,
            raise_after=1,
            clear_after=clear,
            detail=f"phase {dead} dead" if dead else "",
            began_after=previous,
        )
        if live:
            highest = max(p.voltage_v for p in live)
            lowest = min(p.voltage_v for p in live)
            book.observe(
                AlarmType.VOLTAGE_HIGH,
                asset,
                highest > watch.nominal_v * limits.voltage_high,
                at,
                raise_after=1,
                clear_after=clear,
                detail=f"{highest:.0f} V",
            )
            book.observe(
                AlarmType.VOLTAGE_LOW,
                asset,
                lowest < watch.nominal_v * limits.voltage_low,
                at,
                raise_after=1,
                clear_after=clear,
                detail=f"{lowest:.0f} V",
            )
        # an event the controller latched or counted since the last poll is a fault seen, even
        # if it came and went between the two polls
        tripped = bool(report.leakage_events)
        if report.leakage_ma is not None or report.leakage_events is not None:
            over = report.leakage_ma is not None and report.leakage_ma > limits.leakage_ma
            book.observe(
                AlarmType.LEAKAGE,
                asset,
                over or tripped,
                at,
                raise_after=1,
                clear_after=clear,
                detail=f"{report.leakage_ma:.0f} mA" if over or not tripped
                else f"{report.leakage_events} leakage trips since the previous poll",
            )  # fmt: skip
        opened = bool(report.door_events)
        if report.door_open is not None or report.door_events is not None:
            book.observe(
                AlarmType.DOOR_OPEN,
                asset,
                bool(report.door_open) or opened,
                at,
                raise_after=1,
                clear_after=1,
                detail="" if report.door_open or not opened
                else "opened and shut since the previous poll",
            )  # fmt: skip
        for circuit in report.circuits:
            watch.contactor[circuit.circuit] = circuit.contactor_on
            watch.circuit_current[circuit.circuit] = circuit.current_a
        self._circuits(watch, at)
        # a lamp gone before this reading: whatever here could explain it has had its say
        # (raised above, to adopt it), so it need not wait out its reporting interval
        for lamps in watch.circuits.values():
            for lamp_id in lamps:
                lamp = self._lamps[lamp_id]
                if lamp.offline_since is not None and lamp.offline_since <= at:
                    self._offline_alarm(lamp, at)

    def _circuits(self, cabinet: _CabinetWatch, at: datetime) -> None:
        """circuit_dead: every lamp of a circuit out of contact while its phases are live."""
        limits = cabinet.thresholds
        fresh = (
            cabinet.last_report is not None
            and (at - cabinet.last_report).total_seconds() <= 2 * limits.report_interval_s
        )
        for circuit, lamps in cabinet.circuits.items():
            if not lamps:
                continue
            asset = f"circuit:{circuit}"
            all_gone = self._offline_by_circuit[circuit] >= len(lamps)
            if not all_gone or not cabinet.contactor.get(circuit, True):  # switched off: no fault
                self.book.observe(AlarmType.CIRCUIT_DEAD, asset, False, at, raise_after=1,
                                  clear_after=limits.clear_after)  # fmt: skip
                continue
            phases = {self._lamps[lamp].phase for lamp in lamps}
            supplied = fresh and not phases <= set(cabinet.dead_phases)
            current = cabinet.circuit_current.get(circuit)
            drawing = current is not None and current > limits.dead_circuit_a
            if supplied and not drawing:
                # alive when one of its lamps was last heard: the fault came after that
                heard = [t for t in (self._lamps[lamp].last_seen for lamp in lamps) if t]
                self.book.observe(
                    AlarmType.CIRCUIT_DEAD,
                    asset,
                    True,
                    at,
                    raise_after=1,
                    clear_after=limits.clear_after,
                    detail=f"{len(lamps)} lamps out of contact, cabinet supply live",
                    began_after=max(heard, default=None),
                )

    # --- time ----------------------------------------------------------------------------------

    def _hear(self, at: datetime) -> None:
        heard = self._heard
        if (
            heard is None
            or (at - heard).total_seconds() > self.thresholds.default.report_interval_s
        ):
            self._resumed = at  # the first reading, or the first after a gap: count from here
        if heard is None or at > heard:
            self._heard = at

    def _feed_down(self, now: datetime) -> bool:
        heard = self._heard
        return heard is None or (now - heard).total_seconds() > (
            self.thresholds.default.report_interval_s
        )

    def tick(self, now: datetime) -> None:
        """What only the passing of time shows: data paths stopped or behind, lamps gone quiet
        (unless their data path is at fault), and so dead circuits."""
        if self._started is None:
            self._started = now
        feeds = self.feeds
        feeds.tick(now)
        feed_down = self._feed_down(now)
        for watch in self._lamps.values():
            limits = watch.thresholds
            since = watch.offline_since
            if since is None:
                feed = feeds.get(watch.source)
                if feed_down or feeds.holds(feed):
                    continue  # the data path is at fault, not the lamp: wait for it
                started = self._started
                resumed = feeds.since(feed)  # its feed, or the controller's link, came back
                last = max(watch.heard_at or started, self._resumed or started)
                if resumed is not None:
                    last = max(last, resumed)
                if (now - last).total_seconds() < limits.offline_after_s:
                    continue
                watch.offline_since = since = last
                self._offline_by_circuit[watch.circuit] += 1
            if (now - since).total_seconds() >= limits.report_interval_s:
                self._offline_alarm(watch, now)
        for cabinet in self._cabinets.values():
            self._circuits(cabinet, now)

    def _offline_alarm(self, watch: _LampWatch, at: datetime) -> None:
        # under a root that cleared (the supply is back), silence is evidence only once the lamp
        # has had a reporting interval to be heard: a cabinet polled more often than its lamps
        # clears long before they report
        wait = timedelta(seconds=watch.thresholds.report_interval_s) + self.book.surface_after
        self.book.observe(AlarmType.LAMP_OFFLINE, watch.asset, True, at, raise_after=1,
                          clear_after=1, detail="no reports", surface_wait=wait)  # fmt: skip
