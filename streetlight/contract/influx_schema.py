"""The InfluxDB schema (docs/contract.md, "InfluxDB schema"): measurements, tags, fields, units.

Tags are only ids of the asset tree (and small enumerations), so the number of series is the
number of assets: every tag of a lamp point is fixed by its lamp id, and 100,000 lamps make
100,000 `lamp` series however many ancestor tags they carry. Everything that varies per point
(readings, alarm and command ids, free text) is a field.

`TelemetryLines` turns canonical payloads into line protocol, caching each asset's series key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from streetlight.contract.payloads import AlarmEvent, CabinetTelemetry
from streetlight.domain import Inventory
from streetlight.influx.client import InfluxClient, quote_ident
from streetlight.influx.line_protocol import (
    FieldValue,
    encode_line,
    format_float,
    series_key,
    to_ns,
)

FieldType = Literal["float", "integer", "boolean", "string"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    unit: str
    meaning: str


@dataclass(frozen=True, slots=True)
class MeasurementSpec:
    name: str
    tags: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    meaning: str
    retention_policy: str = "raw"  # RAW_POLICY or KPI_POLICY: where its points are written

    @property
    def qualified(self) -> str:
        """``"rp"."measurement"``, as an InfluxQL FROM clause names it."""
        return f'"{self.retention_policy}"."{self.name}"'

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no field {name!r}")

    def encode(self, series: str, fields: Mapping[str, FieldValue | None], time_ns: int) -> str:
        """One line of this measurement, each field typed as the schema says (an integer field
        given a whole float becomes an integer, a float field given an integer a float, so a
        figure never changes type within a shard); None leaves a field out. A field the schema
        does not have, or a value of another kind, is refused with ValueError."""
        types = _FIELD_TYPES.get(self.name)
        if types is None:
            types = _FIELD_TYPES[self.name] = {spec.name: spec.type for spec in self.fields}
        typed: dict[str, FieldValue | None] = {}
        for key, value in fields.items():
            kind = types.get(key)
            if kind is None:
                raise ValueError(f"{self.name} has no field {key!r}")
            typed[key] = None if value is None else _typed(self.name, key, kind, value)
        return encode_line(series, typed, time_ns)


_FIELD_TYPES: dict[str, dict[str, FieldType]] = {}


def _typed(measurement: str, key: str, kind: FieldType, value: FieldValue) -> FieldValue:
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "string" and isinstance(value, str):
        return value
    if not isinstance(value, bool) and isinstance(value, int | float):
        if kind == "float":
            return float(value)
        if kind == "integer" and (isinstance(value, int) or value.is_integer()):
            return int(value)
    raise ValueError(f"{measurement}.{key} is {kind}, got {value!r}")


def _f(name: str, type_: FieldType, unit: str, meaning: str) -> FieldSpec:
    return FieldSpec(name, type_, unit, meaning)


TREE_TAGS = ("site", "subdistrict")

LAMP = MeasurementSpec(
    "lamp",
    ("lamp", "circuit", "cabinet", *TREE_TAGS),
    (
        _f("relay_on", "boolean", "", "the lamp's relay is closed"),
        _f("dim_pct", "integer", "%", "dim level the lamp reports"),
        _f("voltage_v", "float", "V", "supply voltage at the lamp"),
        _f("current_a", "float", "A", "lamp current"),
        _f("power_w", "float", "W", "active power"),
        _f("power_factor", "float", "", "power factor 0-1"),
        _f("energy_wh", "float", "Wh", "cumulative energy since install"),
        _f("driver_temp_c", "float", "degC", "LED driver temperature"),
        _f("burning_hours", "float", "h", "cumulative hours lit"),
        _f("faults", "string", "", "device fault flags, comma-separated; empty when none"),
    ),
    "one point per lamp report (timestamp: the device's)",
)
CABINET = MeasurementSpec(
    "cabinet",
    ("cabinet", *TREE_TAGS),
    (
        _f("leakage_ma", "float", "mA", "earth leakage current"),
        _f("door_open", "boolean", "", "door switch open"),
        _f("lux", "float", "lx", "ambient light at the cabinet's sensor"),
        _f("supply_on", "boolean", "", "mains present on every phase"),
        _f("door_events", "integer", "", "door openings since the previous report"),
        _f("leakage_events", "integer", "", "leakage trips since the previous report"),
    ),
    "one point per cabinet report",
)
CABINET_PHASE = MeasurementSpec(
    "cabinet_phase",
    ("cabinet", "phase", *TREE_TAGS),
    (
        _f("voltage_v", "float", "V", "phase voltage"),
        _f("current_a", "float", "A", "phase current"),
        _f("power_w", "float", "W", "active power"),
        _f("power_factor", "float", "", "power factor 0-1"),
        _f("energy_wh", "float", "Wh", "cumulative energy of the phase meter"),
    ),
    "one point per phase per cabinet report",
)
CIRCUIT = MeasurementSpec(
    "circuit",
    ("circuit", "cabinet", *TREE_TAGS),
    (
        _f("contactor_on", "boolean", "", "the circuit's contactor is closed"),
        _f("current_a", "float", "A", "circuit current, where the cabinet measures it"),
    ),
    "one point per circuit per cabinet report",
)
ALARM = MeasurementSpec(
    "alarm",
    ("type", "severity", "asset_kind", "state", "subdistrict"),
    (
        _f("alarm_id", "string", "", "the alarm's id"),
        _f("asset", "string", "", "the asset's id"),
        _f("parent", "string", "", "root-cause alarm id; empty for a root"),
        _f("detail", "string", "", "what was seen"),
    ),
    "one point per alarm transition, for Grafana annotations",
)

GATEWAY_HEALTH = MeasurementSpec(
    "gateway_health",
    ("gateway",),
    tuple(
        _f(name, "integer", "", meaning)
        for name, meaning in (
            ("messages_in", "MQTT messages received"),
            ("reports_in", "device reports received"),
            ("lines_written", "points written"),
            ("canonical_out", "canonical messages published"),
            ("commands", "commands taken"),
            ("acks_out", "acknowledgements published"),
            ("influx_spool_points", "points spooled for InfluxDB"),
            ("mqtt_spool_messages", "messages spooled for the broker"),
            ("spool_dropped", "spooled data dropped for room"),
            ("devices_online", "devices online"),
            ("devices_offline", "devices offline"),
        )
    ),
    "one point per health report of a gateway; plus an integer `errors_<kind>` per error kind",
)

_LAMP_FLOAT_FIELDS = tuple(spec.name for spec in LAMP.fields if spec.type == "float")

RAW_POLICY = "raw"
KPI_POLICY = "kpi"

# KPI measurements (docs/contract.md, "KPI measurements"): written by the controller, which
# alone knows what each lamp should be doing, and by the acceptance run. The exact definition
# of every field is in the contract; the meanings here are its one-line summaries.
KPI_TAGS = ("scope", "district", "subdistrict", "community", "site", "name", "road_class")


def _i(name: str, meaning: str) -> FieldSpec:
    return FieldSpec(name, "integer", "", meaning)


def _pct(name: str, meaning: str) -> FieldSpec:
    return FieldSpec(name, "float", "%", meaning)


KPI = MeasurementSpec(
    "kpi",
    KPI_TAGS,
    (
        _i("lamps", "lamps registered (in the inventory, not retired)"),
        _i("lamps_planned", "lamps the renovation plans (once the inventory has lamp status)"),
        _i("lamps_installed", "lamps installed (once the inventory has lamp status)"),
        _i("lamps_online", "lamps heard within their offline window"),
        _pct("online_rate_pct", "100 x lamps_online / lamps"),
        _i("lamps_on", "online lamps whose newest report shows them lit"),
        _i("lamps_off", "online lamps whose newest report shows them not lit"),
        _i("lamps_should_lit", "lamps told on, settled"),
        _i("lamps_lit_ok", "of lamps_should_lit, those lit"),
        _pct("lighting_rate_pct", "100 x lamps_lit_ok / lamps_should_lit (亮灯率)"),
        _pct("lighting_target_pct", "the road classes' target, weighted by lamps_should_lit"),
        _i("lamps_day_burning", "lamps told off, settled, and lit"),
        _i("lamps_intact", "lamps with no open fault alarm on them or what feeds them"),
        _pct("integrity_pct", "100 x lamps_intact / lamps (设施完好率)"),
        _f("power_w", "float", "W", "sum of the power of the online lamps' newest reports"),
        _f("energy_tonight_kwh", "float", "kWh", "energy of the lamps since the night began"),
        _i("alarms_open", "root alarms raised or acknowledged"),
        _i("alarms_open_emergency", "of those, emergency"),
        _i("alarms_open_serious", "of those, serious"),
        _i("alarms_open_ordinary", "of those, ordinary"),
        _i("work_orders_open", "work orders not closed"),
        _i("work_orders_overdue", "open work orders past their deadline, not verified"),
    ),
    "per scope every 300 s of clock time, at multiples of 300 s",
    KPI_POLICY,
)
KPI_NIGHT = MeasurementSpec(
    "kpi_night",
    KPI_TAGS,
    (
        _i("lamps", "lamps registered at the night's end"),
        _i("lamps_planned", "as in kpi"),
        _i("lamps_installed", "as in kpi"),
        _i("lamps_reporting", "lamps heard at least once in the night"),
        _i("lamp_intervals", "sum over the night's marks of lamps"),
        _i("lamp_intervals_online", "sum over the night's marks of lamps_online"),
        _pct("online_rate_pct", "100 x lamp_intervals_online / lamp_intervals"),
        _i("lamp_intervals_should_lit", "sum over the night's marks of lamps_should_lit"),
        _i("lamp_intervals_lit_ok", "sum over the night's marks of lamps_lit_ok"),
        _pct("lighting_rate_pct", "100 x lamp_intervals_lit_ok / lamp_intervals_should_lit"),
        _pct("lighting_rate_min_pct", "the lowest lighting_rate_pct of the night's marks"),
        _pct("lighting_target_pct", "weighted by lamp_intervals_should_lit"),
        _f("target_met", "boolean", "", "lighting_rate_pct >= lighting_target_pct"),
        _i("sites", "sites in the scope"),
        _i("sites_below_target", "sites whose own lighting_rate_pct missed their target"),
        _i("lamp_intervals_intact", "sum over the night's marks of lamps_intact"),
        _pct("integrity_pct", "100 x lamp_intervals_intact / lamp_intervals"),
        _f("burning_hours", "float", "h", "lamp-hours lit in the night"),
        _f("planned_hours", "float", "h", "lamp-hours the lamps were told on"),
        _f("energy_kwh", "float", "kWh", "energy the lamps used in the night"),
        _f("full_power_kwh", "float", "kWh", "rated power x burning hours"),
        _f("baseline_kwh", "float", "kWh", "rated power from dusk to dawn"),
        _f("dimming_saved_kwh", "float", "kWh", "full_power_kwh - energy_kwh"),
        _f("saved_kwh", "float", "kWh", "baseline_kwh - energy_kwh"),
        _pct("saved_pct", "100 x saved_kwh / baseline_kwh"),
        _i("alarms_raised", "root alarms raised in the night"),
        _i("alarms_cleared", "root alarms cleared in the night"),
        _i("work_orders_opened", "work orders opened in the night"),
        _i("work_orders_closed", "work orders closed (销号) in the night"),
        _i("work_orders_closed_in_time", "of those, closed by their deadline"),
        _i("work_orders_open", "work orders not closed at the night's end"),
        _i("work_orders_overdue", "as in kpi, at the night's end"),
        _i("repairs", "work orders verified in the night"),
        _f("repair_hours", "float", "h", "sum of their times from alarm to repair"),
        _f("mttr_h", "float", "h", "repair_hours / repairs (mean time to repair)"),
    ),
    "per scope once per night (noon to noon, local), stamped at the night's start",
    KPI_POLICY,
)
SWITCHING = MeasurementSpec(
    "switching",
    KPI_TAGS,
    (
        _f("tolerance_min", "float", "min", "how far from the plan a switch may be"),
        _i("lamps", "lamps told on in the night"),
        *(
            spec
            for edge in ("on", "off")
            for spec in (
                _f(f"{edge}_plan_ms", "integer", "ms", f"planned switch-{edge}, epoch ms"),
                _f(f"{edge}_median_ms", "integer", "ms", f"median switch-{edge} seen, epoch ms"),
                _f(f"{edge}_delay_median_min", "float", "min", "median of seen - plan"),
                _f(f"{edge}_delay_max_min", "float", "min", "the delay farthest from 0"),
                _i(f"lamps_switched_{edge}", f"lamps whose switch-{edge} was seen"),
                _i(f"lamps_{edge}_outside", "lamps not switched within the tolerance"),
            )
        ),
    ),
    "per site once per night, stamped at the night's start",
    KPI_POLICY,
)
OPEN_ALARM = MeasurementSpec(
    "open_alarm",
    ("type", "severity", "asset_kind", "asset", "site", "subdistrict"),
    (
        _f("open", "boolean", "", "true while raised or acknowledged; false once, on clearing"),
        _f("alarm_id", "string", "", "the alarm's id"),
        _f("root", "boolean", "", "no parent: a root cause"),
        _f("lat", "float", "deg", "the asset's latitude (a circuit's: its cabinet's)"),
        _f("lon", "float", "deg", "the asset's longitude"),
        _f("raised_at_ms", "integer", "ms", "when it was raised, epoch ms"),
        _f("work_order", "string", "", "its work order's id; empty when none"),
    ),
    "per open alarm every 300 s with the kpi points, and once when it clears",
)
WORK_ORDER = MeasurementSpec(
    "work_order",
    ("work_order", "severity", "site", "subdistrict", "maintainer"),
    (
        _f("open", "boolean", "", "true until closed; false once, on closing"),
        _f("state", "string", "", "registered, dispatched, repaired, verified or closed"),
        _f("alarm_id", "string", "", "the alarm it repairs"),
        _f("type", "string", "", "that alarm's type"),
        _f("asset", "string", "", "kind:id of the asset"),
        _f("opened_at_ms", "integer", "ms", "when it opened, epoch ms"),
        _f("deadline_ms", "integer", "ms", "its repair deadline, epoch ms"),
        _f("overdue", "boolean", "", "past its deadline and not verified or closed"),
        _f("overdue_h", "float", "h", "hours past the deadline (negative before it)"),
    ),
    "per open work order every 300 s with the kpi points, and once when it closes",
)
ACCEPTANCE_CRITERIA = (
    "lamps_complete",
    "lighting_rate",
    "switch_times",
    "energy_per_lamp",
    "faults_closed",
    "overall",
)
ACCEPTANCE = MeasurementSpec(
    "acceptance",
    ("site", "subdistrict", "criterion"),
    (
        _f("passed", "boolean", "", "the criterion is met"),
        _f("value", "float", "", "the figure judged (unit in `unit`)"),
        _f("threshold", "float", "", "the limit it is judged against"),
        _f("unit", "string", "", "of value and threshold"),
        _i("failures", "exceptions found (lamps, nights or faults)"),
        _f("evidence", "string", "", "the first exceptions, naming lamp and night"),
        _f("run_id", "string", "", "the stored acceptance result this came from"),
        _f("window_from", "string", "", "first night of the window, ISO date"),
        _f("window_to", "string", "", "last night of the window, ISO date"),
        _i("nights", "nights in the window"),
        _i("lamps_planned", "lamps_complete only: planned"),
        _i("lamps_installed", "lamps_complete only: installed"),
        _i("lamps_registered", "lamps_complete only: registered"),
        _i("lamps_reporting", "lamps_complete only: reporting in every night"),
    ),
    "per criterion per acceptance run, stamped at the window's end (a re-run overwrites)",
    KPI_POLICY,
)
KPI_MEASUREMENTS = (KPI, KPI_NIGHT, SWITCHING, OPEN_ALARM, WORK_ORDER, ACCEPTANCE)

MEASUREMENTS: dict[str, MeasurementSpec] = {
    m.name: m
    for m in (LAMP, CABINET, CABINET_PHASE, CIRCUIT, ALARM, GATEWAY_HEALTH, *KPI_MEASUREMENTS)
}


class LampReport(Protocol):
    """What `TelemetryLines.lamp` reads: a `LampTelemetry`, or anything with its attributes
    (the float fields are read by name)."""

    @property
    def lamp(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def relay_on(self) -> bool: ...
    @property
    def dim_pct(self) -> int: ...
    @property
    def faults(self) -> Sequence[str]: ...


class TelemetryLines:
    """Line protocol for canonical telemetry, tagged from the inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._series: dict[tuple[str, str], str] = {}

    def _lamp_series(self, lamp_id: str) -> str:
        key = ("lamp", lamp_id)
        series = self._series.get(key)
        if series is None:
            place = self._inventory.place(lamp_id)
            series = series_key(
                LAMP.name,
                {
                    "lamp": lamp_id,
                    "circuit": place.circuit_id,
                    "cabinet": place.cabinet_id,
                    "site": place.site_id,
                    "subdistrict": place.subdistrict_id,
                },
            )
            self._series[key] = series
        return series

    def _cabinet_tags(self, cabinet_id: str) -> dict[str, str]:
        site = self._inventory.site_of_cabinet(cabinet_id)
        subdistrict = self._inventory.communities[site.community_id].subdistrict_id
        return {"cabinet": cabinet_id, "site": site.id, "subdistrict": subdistrict}

    def lamp(self, report: LampReport) -> str:
        """One `lamp` line. Raises KeyError for a lamp the inventory does not know.

        The hot path of ingest, so it formats the report's attributes directly instead of
        building a dict for `encode_line`; the float fields are the schema's own list.
        """
        parts = [f"relay_on={'true' if report.relay_on else 'false'}", f"dim_pct={report.dim_pct}i"]
        for key in _LAMP_FLOAT_FIELDS:
            value = getattr(report, key)
            if value is not None:
                parts.append(f"{key}={format_float(key, value)}")
        parts.append(f'faults="{",".join(report.faults)}"')  # flag names need no escaping
        return f"{self._lamp_series(report.lamp)} {','.join(parts)} {to_ns(report.ts)}"

    def cabinet(self, report: CabinetTelemetry) -> list[str]:
        """All lines of one cabinet report. Raises KeyError for an unknown cabinet."""
        tags = self._cabinet_tags(report.cabinet)
        ts = to_ns(report.ts)
        lines = []
        fields: dict[str, FieldValue | None] = {
            "leakage_ma": report.leakage_ma,
            "door_open": report.door_open,
            "lux": report.lux,
            "supply_on": report.supply_on,
            "door_events": report.door_events,
            "leakage_events": report.leakage_events,
        }
        if any(value is not None for value in fields.values()):
            lines.append(encode_line(series_key(CABINET.name, tags), fields, ts))
        for phase in report.phases:
            phase_fields: dict[str, FieldValue | None] = {
                "voltage_v": phase.voltage_v,
                "current_a": phase.current_a,
                "power_w": phase.power_w,
                "power_factor": phase.power_factor,
                "energy_wh": phase.energy_wh,
            }
            key = series_key(CABINET_PHASE.name, {**tags, "phase": phase.phase.value})
            lines.append(encode_line(key, phase_fields, ts))
        for circuit in report.circuits:
            circuit_fields: dict[str, FieldValue | None] = {
                "contactor_on": circuit.contactor_on,
                "current_a": circuit.current_a,
            }
            key = series_key(CIRCUIT.name, {**tags, "circuit": circuit.circuit})
            lines.append(encode_line(key, circuit_fields, ts))
        return lines


ALARM_NS_SPREAD = 1_000_000  # alarm numbers below this many apart never share a timestamp


def alarm_line(event: AlarmEvent, subdistrict: str | None) -> str:
    """One `alarm` point. Its series is the type, severity, kind, state and subdistrict, so two
    alarms of one kind raised by the same reading time (the lamps of one concentrator are read
    together) would be one point and one would be lost: the timestamp's nanoseconds carry the
    alarm's number (``at`` + number mod 10^6 ns), which no reader of events to the millisecond
    sees."""
    tags = {
        "type": event.type.value,
        "severity": event.severity.value,
        "asset_kind": event.asset.kind.value,
        "state": event.state.value,
        "subdistrict": subdistrict or "",
    }
    fields: dict[str, FieldValue | None] = {
        "alarm_id": event.id,
        "asset": event.asset.id,
        "parent": event.parent or "",
        "detail": event.detail or "",
    }
    digits = event.id.removeprefix("al-")
    spread = int(digits) % ALARM_NS_SPREAD if digits.isdigit() else 0
    return encode_line(series_key(ALARM.name, tags), fields, to_ns(event.at) + spread)


async def ensure_database(
    client: InfluxClient, retention: str = "35d", kpi_retention: str = "INF"
) -> None:
    """Create the database (if missing) with its retention policies: `raw` of `retention`, the
    default, and `kpi` of `kpi_retention` for the KPI measurements. Running it again adjusts
    the durations.

    Each is ``INF`` or an InfluxQL duration (``35d``). Points older than their policy are
    dropped by InfluxDB, and writes of points older than it are refused: a simulation that
    starts further in the past than `retention` needs ``INF``.
    """
    db = quote_ident(client.database)
    await client.execute(f"CREATE DATABASE {db}")
    policies = await client.query(f"SHOW RETENTION POLICIES ON {db}")
    names = {row["name"] for series in policies for row in series.rows()}
    for policy, duration, default in (
        (RAW_POLICY, retention, " DEFAULT"),
        (KPI_POLICY, kpi_retention, ""),
    ):
        verb = "ALTER" if policy in names else "CREATE"
        replication = "" if verb == "ALTER" else " REPLICATION 1"
        await client.execute(
            f"{verb} RETENTION POLICY {quote_ident(policy)} ON {db} "
            f"DURATION {duration}{replication}{default}"
        )
