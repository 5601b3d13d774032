"""`open_alarm` and `work_order` points (docs/contract.md): each open alarm and each order not
closed at every mark, and once with `open` false when it clears or closes, so that a map or a
list takes each series' last point in a short window and keeps the open ones.

An asset's alarm of a type is one series, and so is a work order; a series' closing point is
written before any new opening in it at the same mark, so the opening wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from controller.alarms import Alarm
from controller.kpi.tree import KpiTree
from streetlight.contract import OPEN_ALARM, WORK_ORDER
from streetlight.domain.workorders import OrderState, overdue
from streetlight.influx import FieldValue, series_key
from streetlight.store.workorders import OrderTimes

Point = tuple[str, dict[str, FieldValue | None]]  # series key, fields
Encode = Callable[[str, Mapping[str, FieldValue | None], int], str]


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class StatePoints:
    def __init__(self, tree: KpiTree) -> None:
        self.tree = tree
        inventory = tree.inventory
        self._where: dict[str, tuple[float, float]] = {
            f"cabinet:{c.id}": (c.location.lat, c.location.lon) for c in inventory.cabinets.values()
        }
        for circuit in inventory.circuits.values():  # a circuit is shown at its cabinet
            self._where[f"circuit:{circuit.id}"] = self._where[f"cabinet:{circuit.cabinet_id}"]
        self._open_alarms: dict[int, Point] = {}  # written open at the last mark
        self._open_orders: dict[int, Point] = {}

    def _location(self, asset: str) -> tuple[float, float] | None:
        kind, _, ident = asset.partition(":")
        if kind == "lamp":
            lamp = self.tree.inventory.lamps.get(ident)
            return None if lamp is None else (lamp.location.lat, lamp.location.lon)
        return self._where.get(asset)

    def alarms(self, alarms: Iterable[Alarm], orders: Mapping[int, str], time_ns: int) -> list[str]:
        """Every open alarm (children too); alarms open at the last mark and not now, closed."""
        now: dict[int, Point] = {}
        for alarm in alarms:
            if not alarm.open:
                continue
            kind, _, ident = alarm.asset.partition(":")
            where = self._location(alarm.asset)
            tags = {
                "type": alarm.type.value,
                "severity": alarm.severity.value,
                "asset_kind": kind,
                "asset": ident,
                "site": alarm.site,
                "subdistrict": self.tree.subdistrict_of.get(alarm.site, ""),
            }
            now[alarm.id] = (
                series_key(OPEN_ALARM.name, tags),
                {
                    "open": True,
                    "alarm_id": alarm.label,
                    "root": alarm.parent is None,
                    "lat": where[0] if where else None,
                    "lon": where[1] if where else None,
                    "raised_at_ms": _ms(alarm.raised_at),
                    "work_order": orders.get(alarm.id, ""),
                },
            )
        return self._lines(OPEN_ALARM.encode, self._open_alarms, now, time_ns)

    def orders(self, orders: Sequence[OrderTimes], at: datetime, time_ns: int) -> list[str]:
        """Every order not closed; orders open at the last mark and closed since, closed."""
        now: dict[int, Point] = {}
        for order in orders:
            if order.closed_at is not None or order.opened_at > at:
                continue
            tags = {
                "work_order": order.label,
                "severity": order.severity.value,
                "site": order.site,
                "subdistrict": self.tree.subdistrict_of.get(order.site, ""),
                "maintainer": order.maintainer,
            }
            now[order.id] = (
                series_key(WORK_ORDER.name, tags),
                {
                    "open": True,
                    "state": order.state.value,
                    "alarm_id": f"al-{order.alarm_id}",
                    "type": order.type.value,
                    "asset": order.asset,
                    "opened_at_ms": _ms(order.opened_at),
                    "deadline_ms": _ms(order.deadline),
                    "overdue": overdue(order.state.value, order.deadline, at),
                    "overdue_h": (at - order.deadline).total_seconds() / 3600,
                },
            )
        gone = {key for key in self._open_orders if key not in now}
        for key in gone:  # a closed order says so once, as closed
            series, fields = self._open_orders[key]
            self._open_orders[key] = (series, {**fields, "state": OrderState.CLOSED.value})
        return self._lines(WORK_ORDER.encode, self._open_orders, now, time_ns)

    @staticmethod
    def _lines(
        encode: Encode, before: dict[int, Point], now: dict[int, Point], time_ns: int
    ) -> list[str]:
        lines = [
            encode(series, {**fields, "open": False}, time_ns)
            for key, (series, fields) in before.items()
            if key not in now
        ]
        lines.extend(encode(series, fields, time_ns) for series, fields in now.values())
        before.clear()
        before.update(now)
        return lines
