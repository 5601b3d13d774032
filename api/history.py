"""Telemetry history from InfluxDB: a lamp's, a circuit's or a cabinet's readings, aggregated
per interval, at most `api_history_points_max` steps an answer.

What each asset's history is, from the InfluxDB schema (docs/contract.md):

- a lamp: each numeric field of its `lamp` points; the mean per interval, and for the
  cumulative counters (`energy_wh`, `burning_hours`) their last value;
- a cabinet: `leakage_ma` and `lux` from `cabinet` (mean), and per phase from
  `cabinet_phase` `voltage_v.A`, `current_a.A`, `power_w.A`, `power_factor.A` (mean) and
  `energy_wh.A` (last), and so on for B and C;
- a circuit: `current_a`, the cabinet's own reading of the circuit from `circuit`, where the
  cabinet measures it (mean); `power_w`, the sum over the circuit's lamps (the `lamp` points
  tagged with it) of each lamp's mean; and `lamps_reporting`, how many of its lamps reported
  in the interval. The schema gives a circuit no power meter of its own (a cabinet meters its
  phases and at most a current per circuit), so a circuit's power is its lamps'.

Booleans (relay, door, contactor, supply) are not averaged: their changes show as alarms.
Statements are built from the schema's names (quoted with `quote_ident`) and the asset id as a
quoted literal (`quote_literal`), with times and the interval as integers: nothing of the
request's text is spliced into InfluxQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from streetlight.contract.influx_schema import (
    CABINET,
    CABINET_PHASE,
    CIRCUIT,
    LAMP,
    MeasurementSpec,
)
from streetlight.domain import Phase
from streetlight.influx import InfluxClient, quote_ident, quote_literal, to_ns

INTERVAL_PATTERN = r"^[1-9][0-9]{0,5}[smhd]$"
UNITS = {"d": 86_400, "h": 3600, "m": 60, "s": 1}  # largest first: how an interval is written
CUMULATIVE = frozenset({"energy_wh", "burning_hours"})  # counters: the last value, not a mean
NS = 1_000_000_000
KINDS = ("lamp", "circuit", "cabinet")


def parse_interval(text: str) -> int:
    """`5m` -> 300 (seconds)."""
    if not re.fullmatch(INTERVAL_PATTERN, text):
        raise ValueError(f"{text!r} is not an interval like 30s, 5m, 1h or 1d")
    return int(text[:-1]) * UNITS[text[-1]]


def format_interval(seconds: int) -> str:
    """300 -> `5m`: in the largest unit that divides it."""
    unit = next(unit for unit, size in UNITS.items() if seconds % size == 0)
    return f"{seconds // UNITS[unit]}{unit}"


def steps(start: datetime, end: datetime, interval_s: int) -> int:
    """How many intervals [start, end) touches: InfluxDB's `GROUP BY time()` aligns them to
    the epoch, so a range that does not start on a boundary touches one more."""
    step = interval_s * NS
    first = to_ns(start) // step * step
    return -(-(to_ns(end) - first) // step)


def smallest_interval(start: datetime, end: datetime, cap: int) -> int:
    """The shortest interval (whole seconds) at which [start, end) fits in `cap` steps.
    None shorter than span / cap can; alignment may cost a second or two above it."""
    interval = max(1, -(-(to_ns(end) - to_ns(start)) // (cap * NS)))
    while steps(start, end, interval) > cap:
        interval += 1
    return interval


@dataclass(frozen=True, slots=True)
class Column:
    """A field of a measurement, how a history aggregates it, its unit."""

    field: str
    function: str  # an InfluxQL aggregate
    unit: str


def _columns(spec: MeasurementSpec) -> dict[str, Column]:
    """The numeric fields of a measurement, each with its aggregate."""
    return {
        f.name: Column(f.name, "last" if f.name in CUMULATIVE else "mean", f.unit)
        for f in spec.fields
        if f.type in ("float", "integer")
    }


LAMP_COLUMNS = _columns(LAMP)
CABINET_COLUMNS = _columns(CABINET)
PHASE_COLUMNS = _columns(CABINET_PHASE)
CIRCUIT_COLUMNS = {"current_a": _columns(CIRCUIT)["current_a"]}
PHASES = tuple(phase.value for phase in Phase)

# what `fields=` may name for each kind of asset, with each field's unit
FIELDS: dict[str, dict[str, str]] = {
    "lamp": {name: c.unit for name, c in LAMP_COLUMNS.items()},
    "cabinet": {name: c.unit for name, c in (CABINET_COLUMNS | PHASE_COLUMNS).items()},
    "circuit": {"current_a": "A", "power_w": "W", "lamps_reporting": ""},
}


@dataclass(frozen=True, slots=True)
class History:
    """The steps' start times and a column of values (None: nothing reported) per name."""

    times: list[datetime]
    columns: dict[str, list[float | None]]
    units: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Statement:
    text: str
    by_tag: str | None = None  # a series per value of this tag: columns `{alias}.{value}`


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Which asset, which of its fields, over [start, end), per interval."""

    kind: str
    ident: str
    fields: tuple[str, ...]
    start: datetime
    end: datetime
    interval_s: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"no history of a {self.kind!r}")
        unknown = [name for name in self.fields if name not in FIELDS[self.kind]]
        if unknown:
            raise ValueError(f"a {self.kind} has no field {unknown[0]!r}")
        if self.end <= self.start:
            raise ValueError("the range ends before it starts")
        if self.interval_s < 1:
            raise ValueError("the interval is under a second")

    @property
    def steps(self) -> int:
        return steps(self.start, self.end, self.interval_s)

    def names(self) -> dict[str, str]:
        """Every column of the answer, in the schema's order, with its unit."""
        names: dict[str, str] = {}
        for name, unit in FIELDS[self.kind].items():
            if name not in self.fields:
                continue
            if self.kind == "cabinet" and name in PHASE_COLUMNS:
                names.update({f"{name}.{phase}": unit for phase in PHASES})
            else:
                names[name] = unit
        return names

    def _wanted(self, columns: dict[str, Column]) -> dict[str, Column]:
        return {name: c for name, c in columns.items() if name in self.fields}

    def _of(self, measurement: str, tag: str, columns: dict[str, Column], by: str = "") -> str:
        """Each of `columns` per interval, of the points whose `tag` is the asset's id."""
        select = ", ".join(
            f"{c.function}({quote_ident(c.field)}) AS {quote_ident(name)}"
            for name, c in columns.items()
        )
        return (
            f"SELECT {select} FROM {quote_ident(measurement)} "  # noqa: S608 - schema names, quoted
            f"WHERE {quote_ident(tag)} = {quote_literal(self.ident)} AND {self._when} "
            f"GROUP BY time({self.interval_s}s){by} fill(none)"
        )

    @property
    def _when(self) -> str:
        return f"time >= {to_ns(self.start)} AND time < {to_ns(self.end)}"

    def statements(self) -> list[_Statement]:
        if self.kind == "lamp":
            return [_Statement(self._of(LAMP.name, "lamp", self._wanted(LAMP_COLUMNS)))]
        statements = []
        if self.kind == "cabinet":
            if columns := self._wanted(CABINET_COLUMNS):
                statements.append(_Statement(self._of(CABINET.name, "cabinet", columns)))
            if columns := self._wanted(PHASE_COLUMNS):
                by = f", {quote_ident('phase')}"
                text = self._of(CABINET_PHASE.name, "cabinet", columns, by)
                statements.append(_Statement(text, "phase"))
            return statements
        if columns := self._wanted(CIRCUIT_COLUMNS):
            statements.append(_Statement(self._of(CIRCUIT.name, "circuit", columns)))
        if {"power_w", "lamps_reporting"} & set(self.fields):
            power = {"p": Column("power_w", "mean", "W")}  # each lamp's mean: summed below
            per_lamp = self._of(LAMP.name, "circuit", power, f", {quote_ident('lamp')}")
            statements.append(
                _Statement(
                    'SELECT sum("p") AS "power_w", count("p") AS "lamps_reporting" '  # noqa: S608
                    f"FROM ({per_lamp}) WHERE {self._when} "
                    f"GROUP BY time({self.interval_s}s) fill(none)"
                )
            )
        return statements


async def read_history(influx: InfluxClient, query: HistoryQuery) -> History:
    """The asset's columns at every step of the range (the caller has checked the cap)."""
    step = query.interval_s * NS
    first = to_ns(query.start) // step * step
    count = query.steps
    units = query.names()
    columns: dict[str, list[float | None]] = {name: [None] * count for name in units}
    for statement in query.statements():
        for series in await influx.query(statement.text, epoch="ns"):
            suffix = f".{series.tags.get(statement.by_tag, '')}" if statement.by_tag else ""
            for row in series.values:
                i = (int(row[0]) - first) // step
                for name, value in zip(series.columns[1:], row[1:], strict=True):
                    column = columns.get(name + suffix)
                    if column is not None and value is not None and 0 <= i < count:
                        column[i] = float(value)
    times = [datetime.fromtimestamp((first + i * step) // NS, UTC) for i in range(count)]
    return History(times, columns, units)
