"""The alarm book: evidence in, alarms out, one alarm per root cause.

Detection (controller.alarms.detect) reports evidence about a condition — a type of fault on one
asset — as it reads telemetry: bad, or good. The book debounces it (`raise_after` bad
observations in a row raise an alarm, `clear_after` good ones clear it) and keeps the alarm's
lifecycle: raised, then cleared by the field; operators acknowledge and close it through the
store (streetlight.store.alarms), which the book does not need to know about.

Root cause: an alarm that another open alarm explains is raised as that alarm's child —
recorded, linked, never notified. A dead circuit explains every alarm of its lamps; a cabinet
that lost supply explains its circuits' and lamps' alarms; a lost phase those of the lamps on
that phase; a cabinet's voltage fault its lamps' voltage alarms; a driver's over-temperature its
derated (low) power; any alarm of a lamp a command that it did not carry out. A root raised a
little after its consequences (a lamp's report can beat its cabinet's) adopts the alarms it
explains that were raised since its condition began. When a root clears, a child stays linked
to it until evidence says otherwise: cleared by good observations, or — bad evidence
`surface_after_s` after the root cleared (timestamps of the readings, not of their arrival) —
surfaced as an alarm of its own.

Every change is handed to `on_change` (the store, the bus, InfluxDB, the ledger and the
notifier listen there) in the order it happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streetlight.domain import SEVERITY, AlarmChange, AlarmState, AlarmType, Inventory, Severity
from streetlight.store.alarms import Transition

logger = logging.getLogger(__name__)

Asset = str  # "lamp:<id>", "circuit:<id>", "cabinet:<id>", "gateway:<id>" (data_stale)
Key = tuple[AlarmType, Asset]


@dataclass(eq=False, slots=True)
class Alarm:
    id: int
    type: AlarmType
    asset: Asset
    severity: Severity
    site: str
    raised_at: datetime
    detail: str = ""
    state: AlarmState = AlarmState.RAISED
    cleared_at: datetime | None = None
    parent: Alarm | None = None
    children: list[Alarm] = field(default_factory=list)
    onset: datetime | None = None  # when its evidence began (adoption looks back to it)
    orphaned_at: datetime | None = None  # its root cleared while it was still bad

    @property
    def key(self) -> Key:
        return self.type, self.asset

    @property
    def open(self) -> bool:
        """Not yet cleared by the field."""
        return self.cleared_at is None

    @property
    def root(self) -> Alarm:
        alarm = self
        while alarm.parent is not None:
            alarm = alarm.parent
        return alarm

    @property
    def label(self) -> str:
        return f"al-{self.id}"

    def transition(self, change: AlarmChange, at: datetime, note: str) -> Transition:
        """This change of the alarm, as the store and the ledger record it."""
        return Transition(
            alarm_id=self.id,
            type=self.type,
            asset=self.asset,
            severity=self.severity,
            site=self.site,
            raised_at=self.raised_at,
            detail=self.detail,
            change=change,
            at=at,
            state=self.state,
            parent=self.parent.id if self.parent is not None else None,
            cleared_at=self.cleared_at,
            note=note,
        )


@dataclass(slots=True)
class Watch:
    """Debounce state of one condition."""

    bad: int = 0  # bad observations in a row
    good: int = 0  # good observations in a row while its alarm is open
    onset: datetime | None = None  # first of the current run of bad observations
    alarm: Alarm | None = None


OnChange = Callable[[Alarm, AlarmChange, datetime, str], None]

# the alarm types that can explain others, and which: (root type, kind of asset it is on)
_LAMP_ROOTS_ON_CABINET = (AlarmType.SUPPLY_LOSS, AlarmType.PHASE_LOSS)
_VOLTAGE = (AlarmType.VOLTAGE_HIGH, AlarmType.VOLTAGE_LOW)


class AlarmBook:
    def __init__(
        self,
        inventory: Inventory,
        *,
        on_change: OnChange | None = None,
        surface_after_s: float = 90.0,
        next_id: int = 1,
    ) -> None:
        self.inventory = inventory
        self.on_change = on_change
        self.surface_after = timedelta(seconds=surface_after_s)
        self._next_id = next_id
        self.watches: dict[Key, Watch] = {}
        self.dead_phases: dict[str, str] = {}  # cabinet -> the phases it reads dead ("C")
        self.raised = 0  # alarms raised since start, roots and children

    # --- evidence ------------------------------------------------------------------------------

    def observe(
        self,
        kind: AlarmType,
        asset: Asset,
        bad: bool,
        at: datetime,
        *,
        raise_after: int,
        clear_after: int,
        detail: str = "",
        began_after: datetime | None = None,
        surface_wait: timedelta | None = None,
    ) -> None:
        """One observation of a condition: bad (the fault is there) or good (it is not).

        `began_after`: the last moment the condition is known not to have been there (its
        asset's previous good reading), when that is earlier than this observation: a root
        raised now adopts the alarms it explains from then on, as the fault may be older than
        the reading that shows it. `surface_wait`: how long after its root cleared bad evidence
        must come for an open child to surface (default `surface_after_s`)."""
        key = (kind, asset)
        watch = self.watches.get(key)
        if not bad:
            if watch is None:
                return
            watch.bad = 0
            watch.onset = None
            alarm = watch.alarm
            if alarm is None:
                del self.watches[key]
                return
            if at < alarm.raised_at:
                return  # a reading from before the alarm, delivered late, says nothing of now
            watch.good += 1
            if watch.good >= clear_after:
                del self.watches[key]
                self._clear(alarm, at)
            return
        if watch is None:
            watch = self.watches[key] = Watch()
        watch.good = 0
        if watch.alarm is not None:
            self._surface_if_orphaned(watch.alarm, at, surface_wait)
            return
        if watch.onset is None:
            watch.onset = at if began_after is None else min(at, began_after)
        watch.bad += 1
        if watch.bad >= raise_after:
            self._raise(watch, kind, asset, at, detail)

    def raise_now(self, kind: AlarmType, asset: Asset, at: datetime, detail: str = "") -> Alarm:
        """Raise at once (a command that failed after its retries), unless already open."""
        watch = self.watches.setdefault((kind, asset), Watch())
        watch.good = 0
        if watch.alarm is None:
            watch.onset = watch.onset or at
            return self._raise(watch, kind, asset, at, detail)
        self._surface_if_orphaned(watch.alarm, at)
        return watch.alarm

    def is_open(self, kind: AlarmType, asset: Asset) -> bool:
        watch = self.watches.get((kind, asset))
        return watch is not None and watch.alarm is not None

    def open_alarms(self) -> Iterable[Alarm]:
        return (w.alarm for w in self.watches.values() if w.alarm is not None)

    def _surface_if_orphaned(
        self, alarm: Alarm, at: datetime, wait: timedelta | None = None
    ) -> None:
        """Bad evidence for a child whose root cleared a while before it (`surface_after`, or
        `wait` where evidence needs longer to come): its own alarm now."""
        orphaned = alarm.orphaned_at
        if orphaned is None or at - orphaned < (self.surface_after if wait is None else wait):
            return
        alarm.orphaned_at = None
        if alarm.parent is not None:
            alarm.parent.children.remove(alarm)
            alarm.parent = None
        self._emit(alarm, AlarmChange.SURFACED, at, "still bad after its root cause cleared")

    # --- restoring -----------------------------------------------------------------------------

    def restore(self, alarm: Alarm, watch: Watch | None = None) -> None:
        """Take back an open alarm from the store (after a restart), with its debounce state."""
        restored = watch or Watch()
        restored.alarm = alarm
        self.watches[alarm.key] = restored
        self._next_id = max(self._next_id, alarm.id + 1)

    def number_from(self, next_id: int) -> None:
        """Number new alarms from `next_id` on (after those already in the store)."""
        self._next_id = max(self._next_id, next_id)

    def restore_watch(self, key: Key, watch: Watch) -> None:
        """Take back the debounce state of a condition that had not yet raised an alarm."""
        if key not in self.watches:
            self.watches[key] = watch

    # --- lifecycle -----------------------------------------------------------------------------

    def _raise(
        self, watch: Watch, kind: AlarmType, asset: Asset, at: datetime, detail: str
    ) -> Alarm:
        alarm = Alarm(
            id=self._next_id,
            type=kind,
            asset=asset,
            severity=SEVERITY[kind],
            site=self._site(asset),
            raised_at=at,
            detail=detail,
            onset=watch.onset,
        )
        watch.alarm = alarm  # before adopting: its children look for it through the watch
        self._next_id += 1
        self.raised += 1
        alarm.parent = self._explaining(alarm)
        if alarm.parent is not None:
            alarm.parent.children.append(alarm)
        self._emit(alarm, AlarmChange.RAISED, at, "")
        self._adopt(alarm, at)
        return alarm

    def _clear(self, alarm: Alarm, at: datetime) -> None:
        alarm.cleared_at = at
        alarm.state = AlarmState.CLEARED
        self._emit(alarm, AlarmChange.CLEARED, at, "")
        for child in alarm.children:
            if child.open:  # it clears with its root, or surfaces on later bad evidence
                child.orphaned_at = at

    def _emit(self, alarm: Alarm, change: AlarmChange, at: datetime, detail: str) -> None:
        if self.on_change is not None:
            self.on_change(alarm, change, at, detail)

    # --- root cause ----------------------------------------------------------------------------

    def _explaining(self, alarm: Alarm) -> Alarm | None:
        """The open alarm that explains `alarm`, if any (the most direct one)."""
        for key in self._roots_of(alarm.type, alarm.asset):
            watch = self.watches.get(key)
            if watch is not None and watch.alarm is not None and watch.alarm is not alarm:
                if key[0] is AlarmType.PHASE_LOSS and not self._on_dead_phase(alarm.asset):
                    continue
                return watch.alarm
        return None

    def _adopt(self, root: Alarm, at: datetime) -> None:
        """Link under `root` the open alarms it explains that began with or after it."""
        since = root.onset or root.raised_at
        for watch in self.watches.values():
            alarm = watch.alarm
            if (
                alarm is None
                or alarm is root
                or alarm.parent is not None
                or alarm.raised_at < since
                or not alarm.open
            ):
                continue
            if self._explaining(alarm) is root:
                alarm.parent = root
                root.children.append(alarm)
                self._emit(alarm, AlarmChange.SUPPRESSED, at, f"under {root.label}")

    def _roots_of(self, kind: AlarmType, asset: Asset) -> list[Key]:
        """Conditions that would explain `kind` on `asset`, nearest first."""
        asset_kind, _, ident = asset.partition(":")
        inventory = self.inventory
        roots: list[Key] = []
        if asset_kind == "lamp":
            lamp = inventory.lamps.get(ident)
            if lamp is None:
                return roots
            if kind is AlarmType.COMMAND_FAILED:
                roots.extend((other, asset) for other in AlarmType if other is not kind)
            if kind is AlarmType.LOW_POWER:
                roots.append((AlarmType.OVER_TEMPERATURE, asset))
            circuit = lamp.circuit_id
            cabinet = f"cabinet:{inventory.circuits[circuit].cabinet_id}"
            roots.append((AlarmType.CIRCUIT_DEAD, f"circuit:{circuit}"))
            roots.extend((root, cabinet) for root in _LAMP_ROOTS_ON_CABINET)
            if kind in _VOLTAGE:
                roots.append((kind, cabinet))
        elif asset_kind == "circuit":
            circuit_row = inventory.circuits.get(ident)
            if circuit_row is None:
                return roots
            if kind is AlarmType.COMMAND_FAILED:
                roots.append((AlarmType.CIRCUIT_DEAD, asset))
            cabinet = f"cabinet:{circuit_row.cabinet_id}"
            roots.extend((root, cabinet) for root in _LAMP_ROOTS_ON_CABINET)
        elif asset_kind == "cabinet" and kind in (*_VOLTAGE, AlarmType.COMMAND_FAILED):
            roots.extend((root, asset) for root in _LAMP_ROOTS_ON_CABINET)
        return roots

    def _on_dead_phase(self, asset: Asset) -> bool:
        """Whether every lamp of `asset` hangs on a phase its cabinet has lost."""
        asset_kind, _, ident = asset.partition(":")
        inventory = self.inventory
        if asset_kind == "lamp":
            lamps = [ident]
        elif asset_kind == "circuit":
            lamps = list(inventory.lamps_on_circuit(ident))
        else:
            return False
        if not lamps:
            return False
        cabinet = inventory.circuits[inventory.lamps[lamps[0]].circuit_id].cabinet_id
        dead = self.dead_phases.get(cabinet, "")
        return all(inventory.lamps[lamp].phase.value in dead for lamp in lamps)

    def _site(self, asset: Asset) -> str:
        """The site of an asset; "" for a gateway, which serves many or none."""
        asset_kind, _, ident = asset.partition(":")
        inventory = self.inventory
        if asset_kind == "gateway":
            return ""
        if asset_kind == "lamp":
            ident = inventory.circuits[inventory.lamps[ident].circuit_id].cabinet_id
        elif asset_kind == "circuit":
            ident = inventory.circuits[ident].cabinet_id
        return inventory.cabinets[ident].site_id
