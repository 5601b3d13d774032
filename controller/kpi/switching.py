"""Switch times against the plan, per lamp through a night (docs/contract.md, `switching`).

A lamp's planned switch-on is when the controller's expected level for it first went above
off in the night (controller.kpi.lamps.Told), its seen switch-on the device time of its first
report after that showing it lit; the switch-off likewise, from the last time it was told
off. Reports come every reporting interval and the dispatcher keeps only the latest, so the
lamps waiting for their switch to show are looked at at each of the controller's
evaluations, well inside an interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median

from controller.kpi.lamps import LampBoard


@dataclass(slots=True)
class Edges:
    """Planned and seen times (epoch s) of one edge (on or off), by lamp index."""

    planned: dict[int, float] = field(default_factory=dict)
    seen: dict[int, float] = field(default_factory=dict)
    waiting: set[int] = field(default_factory=set)


class SwitchWatch:
    def __init__(self, board: LampBoard, tolerance_min: float) -> None:
        self.board = board
        self.tolerance_min = tolerance_min
        self.on = Edges()
        self.off = Edges()

    def told(self, changes: list[tuple[int, bool, float]]) -> None:
        """Lamps told on or off (controller.kpi.lamps.Told): the first switch-on of the night
        and the last switch-off are planned; their seen times are waited for."""
        for index, on, at in changes:
            if on:
                if index not in self.on.planned:
                    self.on.planned[index] = at
                    self.on.waiting.add(index)
            elif index in self.on.planned:
                self.off.planned[index] = at
                self.off.seen.pop(index, None)
                self.off.waiting.add(index)

    def look(self) -> None:
        """See which of the lamps waiting for a switch have reported it."""
        board = self.board
        for edges, want_lit in ((self.on, True), (self.off, False)):
            done = []
            for index in edges.waiting:
                reading = board.newest_of(index)
                if (
                    reading is not None
                    and board.newest_ts[index] >= edges.planned[index]
                    and board.lit(index, reading) is want_lit
                ):
                    edges.seen[index] = board.newest_ts[index]
                    done.append(index)
            edges.waiting.difference_update(done)

    def summaries(self) -> list[dict[str, float | int | None]]:
        """The night's `switching` fields of every site (by site index)."""
        tree = self.board.tree
        by_site: list[list[int]] = [[] for _ in tree.sites]
        for index in self.on.planned:
            by_site[tree.lamp_site[index]].append(index)
        return [self._summary(lamps) for lamps in by_site]

    def _summary(self, lamps: list[int]) -> dict[str, float | int | None]:
        fields: dict[str, float | int | None] = {"tolerance_min": self.tolerance_min}
        fields["lamps"] = len(lamps)
        for name, edges in (("on", self.on), ("off", self.off)):
            told = [i for i in lamps if i in edges.planned]
            seen = [i for i in told if i in edges.seen]
            delays = [(edges.seen[i] - edges.planned[i]) / 60 for i in seen]
            inside = sum(1 for d in delays if abs(d) <= self.tolerance_min)
            fields[f"{name}_plan_ms"] = _median_ms([edges.planned[i] for i in told])
            fields[f"{name}_median_ms"] = _median_ms([edges.seen[i] for i in seen])
            fields[f"{name}_delay_median_min"] = median(delays) if delays else None
            fields[f"{name}_delay_max_min"] = max(delays, key=abs) if delays else None
            fields[f"lamps_switched_{name}"] = len(seen)
            fields[f"lamps_{name}_outside"] = len(told) - inside
        return fields

    def new_night(self) -> None:
        """Forget the night that ended; what each lamp was told stays known."""
        self.on = Edges()
        self.off = Edges()


def _median_ms(seconds: list[float]) -> int | None:
    return round(median(seconds) * 1000) if seconds else None
