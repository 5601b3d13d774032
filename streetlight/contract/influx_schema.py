"""The InfluxDB schema (docs/contract.md, "InfluxDB schema"): measurements, tags, fields, units.

Tags are only ids of the asset tree (and small enumerations), so the number of series is the
number of assets: every tag of a lamp point is fixed by its lamp id, and 100,000 lamps make
100,000 `lamp` series however many ancestor tags they carry. Everything that varies per point
(readings, alarm and command ids, free text) is a field.

`TelemetryLines` turns canonical payloads into line protocol, caching each asset's series key.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no field {name!r}")


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

MEASUREMENTS: dict[str, MeasurementSpec] = {
    m.name: m for m in (LAMP, CABINET, CABINET_PHASE, CIRCUIT, ALARM, GATEWAY_HEALTH)
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


def alarm_line(event: AlarmEvent, subdistrict: str | None) -> str:
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
    return encode_line(series_key(ALARM.name, tags), fields, to_ns(event.at))


RAW_POLICY = "raw"


async def ensure_database(client: InfluxClient, retention: str = "35d") -> None:
    """Create the database (if missing) with its default retention policy `raw` of `retention`.

    `retention` is ``INF`` or an InfluxQL duration (``35d``). Raw telemetry older than it is
    dropped by InfluxDB, and writes of points older than it are refused: a simulation that
    starts further in the past than `retention` needs ``INF``.
    """
    db = quote_ident(client.database)
    await client.execute(f"CREATE DATABASE {db}")
    policies = await client.query(f"SHOW RETENTION POLICIES ON {db}")
    names = {row["name"] for series in policies for row in series.rows()}
    verb = "ALTER" if RAW_POLICY in names else "CREATE"
    replication = "" if verb == "ALTER" else " REPLICATION 1"
    await client.execute(
        f"{verb} RETENTION POLICY {quote_ident(RAW_POLICY)} ON {db} "
        f"DURATION {retention}{replication} DEFAULT"
    )
