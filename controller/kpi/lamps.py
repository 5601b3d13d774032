"""Each lamp at a mark, judged as docs/contract.md ("KPI measurements: counted lamps") says:
online, lit, should be lit (settled), should be off, intact; and the energy its counter shows.

The controller's view of a lamp is the dispatcher's: its newest reading (kept here by device
time, since the dispatcher keeps the latest to arrive) and what it was told, since when (the
evaluator's expected level, as the controller asserts it). Counts go to the lamp's site; the
tree sums them upwards. The loop over the lamps yields to the event loop every `chunk` lamps,
so detection never waits on it for long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from controller.alarms import ThresholdBook
from controller.kpi.tree import MARK_S, KpiTree
from streetlight.contract import LampTelemetry
from streetlight.domain import Level
from streetlight.domain.alarms import NOT_FAULTS as NOT_FAULT_TYPES
from streetlight.domain.lighting import lit_floor_w, shows_lit

# open alarms of these types do not make a lamp less than intact (streetlight.domain.alarms)
NOT_FAULTS = frozenset(kind.value for kind in NOT_FAULT_TYPES)
_UNTOLD = object()  # a lamp the controller has told nothing yet


@dataclass(frozen=True, slots=True)
class Faulty:
    """The assets with an open fault alarm (raised or acknowledged, root or child)."""

    lamps: frozenset[str] = frozenset()
    circuits: frozenset[str] = frozenset()
    cabinets: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Interval:
    """The night the counts go to: `number` (the evening's date as an ordinal) and its bounds
    as epoch seconds."""

    number: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class _Mark:
    mark_s: float
    dt_s: float  # since the last mark
    settled_by: float  # told on or off before this (epoch s): settled
    faulty: Faulty
    interval: Interval
    sample: Interval
    counts: SiteCounts


@dataclass(slots=True)
class SiteCounts:
    """One mark's counts, per site index. The samples describe the mark itself; `energy_wh`
    and `reporting` the interval that ended at it (which, at noon, is the other night's)."""

    online: list[int]
    on: list[int]
    should: list[int]
    lit_ok: list[int]
    day_burning: list[int]
    intact: list[int]
    told_on: list[int]
    power_w: list[float]
    full_wh: list[float]  # rated power of the lamps lit, over the mark's 300 s
    energy_wh: list[float]
    reporting: list[int]  # lamps heard for the first time in the interval's night
    reporting_sample: list[int] = field(default_factory=list)  # at noon: in the new night

    @classmethod
    def zero(cls, sites: int) -> SiteCounts:
        def ints() -> list[int]:
            return [0] * sites

        def floats() -> list[float]:
            return [0.0] * sites

        return cls(
            online=ints(), on=ints(), should=ints(), lit_ok=ints(), day_burning=ints(),
            intact=ints(), told_on=ints(), power_w=floats(), full_wh=floats(),
            energy_wh=floats(), reporting=ints(), reporting_sample=ints(),
        )  # fmt: skip


class Told:
    """What each lamp was told, on (at any dim level) or off, and since when: the dispatcher's
    asserted level and `asserted_at`, with changes from one dim level to another left out (a
    lamp dimmed from 100 % to 50 % has been told on since dusk). `scan` takes in what changed
    since it last looked; it looks at each lamp's `asserted_at`, and only at that."""

    def __init__(
        self, lamps: list[str], asserted: Mapping[str, Level], asserted_at: Mapping[str, datetime]
    ) -> None:
        self.lamps = lamps
        self.asserted = asserted
        self.asserted_at = asserted_at
        self.on: list[bool | None] = [None] * len(lamps)  # None: told nothing yet
        self.since = [0.0] * len(lamps)  # epoch s of the last change between on and off
        self._seen: list[object] = [None] * len(lamps)  # asserted_at as last looked at

    def scan(self) -> list[tuple[int, bool, float]]:
        """The lamps told on or off since the last scan: (index, on, when)."""
        changes = []
        asserted, asserted_at, seen = self.asserted, self.asserted_at, self._seen
        for index, lamp in enumerate(self.lamps):
            since = asserted_at.get(lamp)
            if since is seen[index]:
                continue
            seen[index] = since
            level = asserted.get(lamp, _UNTOLD)
            if since is None or level is _UNTOLD:
                continue
            on = level is not None
            if on is not self.on[index]:
                self.on[index] = on
                self.since[index] = at = since.timestamp()
                changes.append((index, on, at))
        return changes


class LampBoard:
    def __init__(
        self,
        tree: KpiTree,
        *,
        reported: Mapping[str, LampTelemetry],
        told: Told,
        thresholds: ThresholdBook,
        confirm_s: float,
        chunk: int = 5000,
    ) -> None:
        self.tree = tree
        self.reported = reported
        self.told = told
        self.confirm_s = confirm_s
        self.chunk = chunk
        inventory = tree.inventory
        self.offline_after: list[float] = []
        self.failure_fraction: list[float] = []
        for lamp_id, site in zip(tree.lamps, tree.lamp_site, strict=True):
            limits = thresholds.for_asset(inventory.lamps[lamp_id].profile, tree.sites[site])
            self.offline_after.append(limits.offline_after_s)
            self.failure_fraction.append(limits.failure_fraction)
        lamps = len(tree.lamps)
        self.newest: list[LampTelemetry | None] = [None] * lamps
        self.newest_ts = [0.0] * lamps
        self.counted: list[LampTelemetry | None] = [None] * lamps  # newest at the last mark
        self.last_wh: list[float | None] = [None] * lamps
        self.reported_night = [0] * lamps  # the latest night a lamp counted as reporting in
        self.last_mark: float | None = None
        self._lit_dim = [-1] * lamps
        self._lit_w = [0.0] * lamps

    def newest_of(self, index: int) -> LampTelemetry | None:
        """The lamp's newest reading by device time, taking in the dispatcher's latest."""
        reading = self.reported.get(self.tree.lamps[index])
        newest = self.newest[index]
        if reading is not None and reading is not newest:
            ts = reading.ts.timestamp()
            if newest is None or ts > self.newest_ts[index]:
                self.newest[index] = newest = reading
                self.newest_ts[index] = ts
        return newest

    def lit(self, index: int, reading: LampTelemetry) -> bool:
        """The report shows the relay on and at least `failure_fraction` of the power the
        curve gives at its dim level (a report without power: its relay alone)."""
        if not reading.relay_on:
            return False
        dim = reading.dim_pct
        if dim != self._lit_dim[index]:  # the threshold at this dim level, kept till it changes
            floor = lit_floor_w(self.tree.rated[index], dim, self.failure_fraction[index])
            self._lit_dim[index], self._lit_w[index] = dim, floor
        return shows_lit(True, reading.power_w, self._lit_w[index])

    async def count(
        self, mark: datetime, faulty: Faulty, interval: Interval, sample: Interval
    ) -> SiteCounts:
        """Judge every lamp at `mark`; energy and first reports since the last mark go to
        `interval`'s night, the samples (and at noon, first reports) to `sample`'s."""
        tree = self.tree
        mark_s = mark.timestamp()
        at = _Mark(
            mark_s=mark_s,
            dt_s=MARK_S if self.last_mark is None else mark_s - self.last_mark,
            settled_by=mark_s - self.confirm_s,
            faulty=faulty,
            interval=interval,
            sample=sample,
            counts=SiteCounts.zero(len(tree.sites)),
        )
        self.last_mark = mark_s
        for start in range(0, len(tree.lamps), self.chunk):
            self._judge(range(start, min(start + self.chunk, len(tree.lamps))), at)
            await asyncio.sleep(0)  # detection's turn
        return at.counts

    def _judge(self, lamps: range, at: _Mark) -> None:  # noqa: PLR0912 - the hot loop, in one
        """Count each lamp of `lamps`: what its newest reading says (news since the last mark,
        online, lit), what it was told (settled or not), whether it is intact."""
        tree, told, counts, faulty = self.tree, self.told, at.counts, at.faulty
        interval, sample = at.interval, at.sample
        names, sites, reported = tree.lamps, tree.lamp_site, self.reported
        newest, newest_ts, counted = self.newest, self.newest_ts, self.counted
        for index in lamps:
            lamp, site = names[index], sites[index]
            reading = reported.get(lamp)
            latest = newest[index]
            if reading is not None and reading is not latest:
                ts = reading.ts.timestamp()
                if latest is None or ts > newest_ts[index]:
                    newest[index] = latest = reading
                    newest_ts[index] = ts
            lit = False
            if latest is not None:
                ts = newest_ts[index]
                if latest is not counted[index]:  # news since the last mark
                    counted[index] = latest
                    self._energy(index, site, latest, counts)
                    if interval.start <= ts < interval.end and (
                        self.reported_night[index] < interval.number
                    ):
                        self.reported_night[index] = interval.number
                        counts.reporting[site] += 1
                if ts >= sample.start and self.reported_night[index] < sample.number:
                    self.reported_night[index] = sample.number  # at noon: in the new night
                    counts.reporting_sample[site] += 1
                if at.mark_s - ts <= self.offline_after[index]:
                    counts.online[site] += 1
                    power = latest.power_w
                    if power is not None:
                        counts.power_w[site] += power
                        if self.last_wh[index] is None and latest.energy_wh is None:
                            counts.energy_wh[site] += power * at.dt_s / 3600  # power x time
                    lit = self.lit(index, latest)
                    if lit:
                        counts.on[site] += 1
                        counts.full_wh[site] += tree.rated[index] * MARK_S / 3600
            on = told.on[index]
            if on is not None:
                settled = told.since[index] <= at.settled_by
                if not on:
                    if settled and lit:
                        counts.day_burning[site] += 1
                else:
                    counts.told_on[site] += 1
                    if settled:
                        counts.should[site] += 1
                        if lit:
                            counts.lit_ok[site] += 1
            if not (
                lamp in faulty.lamps
                or tree.lamp_circuit[index] in faulty.circuits
                or tree.lamp_cabinet[index] in faulty.cabinets
            ):
                counts.intact[site] += 1

    def _energy(self, index: int, site: int, reading: LampTelemetry, counts: SiteCounts) -> None:
        """The counter's increase since the lamp's last reading counted (a counter that went
        down, a replaced node, counts from 0)."""
        energy = reading.energy_wh
        if energy is None:
            return
        last = self.last_wh[index]
        self.last_wh[index] = energy
        if last is not None:
            counts.energy_wh[site] += energy - last if energy >= last else energy
