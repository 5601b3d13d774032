"""A lamp's level, as commanded and as reported."""

from __future__ import annotations

from typing import Protocol

from streetlight.domain.power import lamp_power_w

Level = int | None  # on at a dim level 0-100 %, or None: off


class Reported(Protocol):
    """What a lamp's report says of its output (streetlight.contract.LampTelemetry)."""

    @property
    def relay_on(self) -> bool: ...

    @property
    def dim_pct(self) -> int: ...


def agrees(level: Level, reading: Reported) -> bool:
    """Whether a lamp's report shows it at `level`."""
    if level is None:
        return not reading.relay_on
    return reading.relay_on and reading.dim_pct == level


def lit_floor_w(rated_w: float, dim_pct: int, failure_fraction: float) -> float:
    """The least power a lit lamp at `dim_pct` draws: `failure_fraction` of the curve's (below
    it the lamp is out: `lamp_failure`'s evidence). The KPI writer and the acceptance both judge
    "lit" by it (docs/contract.md, "KPI measurements: counted lamps")."""
    return failure_fraction * lamp_power_w(rated_w, True, dim_pct)


def shows_lit(relay_on: bool, power_w: float | None, floor_w: float) -> bool:
    """A report shows its lamp lit: the relay on and at least `floor_w` (`lit_floor_w`); a
    report without power, by its relay alone."""
    if not relay_on:
        return False
    return power_w is None or power_w >= floor_w
