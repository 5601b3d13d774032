"""A lamp's level, as commanded and as reported."""

from __future__ import annotations

from typing import Protocol

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
