"""The live state of every lamp and cabinet, as the bus tells it, held in columns.

Each lamp is a row of columns (ids and positions fixed; reported relay, level, power, report
time, online, expected level and why, and the state a map colours it by), so one report updates
a few list cells and the whole district serialises in one pass. The state of a lamp:

| state | when |
|---|---|
| `planned` | in the inventory as planned, not yet installed |
| `offline` | its gateway says it is offline, or nothing heard for `stale_s` |
| `faulty` | an open alarm on it, or above it (its circuit dead, its cabinet without supply) |
| `lit` | on at full level, as it should be on |
| `dimmed` | on below full level, as it should be on |
| `off` | off, as it should be off |
| `dark` | off (or drawing nothing) while it should be on |
| `burning` | on while it should be off |
| `unknown` | no report yet |

Readings come in `telemetry_batch`es, device status and alarm events from the bus (see
api.bus); the expected level comes from the schedule, evaluated here exactly as the controller
does (streetlight.schedule). Every change of a lamp's state is handed to the listeners (the
event stream) in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.contract import AlarmEvent, CabinetTelemetry, DeviceStatus, TelemetryBatch
from streetlight.domain import AlarmState, AlarmType, LampStatus
from streetlight.schedule import Expected
from streetlight.store.models import CabinetRow, CircuitRow, LampRow

STATES = ("unknown", "planned", "offline", "faulty", "lit", "dimmed", "off", "dark", "burning")
CODE = {name: code for code, name in enumerate(STATES)}
DARK_W = 2.0  # a lamp "on" that draws less is dark
# alarms of a circuit or cabinet that leave all its lamps without supply (a lost phase, only
# some: they are told by their own alarms, linked under it)
SUPPLY_ALARMS = frozenset({AlarmType.CIRCUIT_DEAD, AlarmType.SUPPLY_LOSS})
OPEN = frozenset({AlarmState.RAISED, AlarmState.ACKNOWLEDGED})


@dataclass(frozen=True, slots=True)
class LampRef:
    """What the live state needs of a lamp of the store."""

    id: str
    site: str
    circuit: str
    cabinet: str
    phase: str
    lat: float
    lon: float
    rated_w: float
    planned: bool = False


@dataclass(frozen=True, slots=True)
class CabinetRef:
    id: str
    site: str
    lat: float
    lon: float


Changed = Callable[[list[int], list[int]], None]  # lamp rows, cabinet rows whose state changed


class LiveState:
    def __init__(self, lamps: Iterable[LampRef], cabinets: Iterable[CabinetRef], stale_s: float):
        self.lamps = list(lamps)
        self.cabinets = list(cabinets)
        self.stale_s = stale_s
        self.row = {lamp.id: i for i, lamp in enumerate(self.lamps)}
        self.cabinet_row = {c.id: i for i, c in enumerate(self.cabinets)}
        n = len(self.lamps)
        self.relay: list[bool | None] = [None] * n
        self.level: list[int | None] = [None] * n
        self.power: list[float | None] = [None] * n
        self.reported_at: list[float | None] = [None] * n  # the reading's time (epoch s)
        self.heard_at: list[float | None] = [None] * n  # when it reached us (clock, epoch s)
        self.online: list[bool | None] = [None] * n  # the gateway's word
        self.expected: list[Expected | None] = [None] * n
        self.state: list[int] = [CODE["planned"] if lamp.planned else CODE["unknown"]
                                 for lamp in self.lamps]  # fmt: skip
        self.cabinet_online: list[bool | None] = [None] * len(self.cabinets)
        self.cabinet_reported_at: list[float | None] = [None] * len(self.cabinets)
        self.cabinet_state: list[int] = [CODE["unknown"]] * len(self.cabinets)
        self.alarms: dict[tuple[str, str], AlarmEvent] = {}  # (asset "kind:id", type) -> latest
        # the same by asset, so a lamp's answer does not look through every alarm of the district
        self._alarms_at: dict[str, dict[str, AlarmEvent]] = {}  # asset -> type -> latest
        self._faulty: dict[str, int] = {}  # asset -> its open alarms that make lamps faulty
        self.listeners: list[Changed] = []
        self._of_circuit: dict[str, list[int]] = {}
        self._of_cabinet: dict[str, list[int]] = {}
        for i, lamp in enumerate(self.lamps):
            self._of_circuit.setdefault(lamp.circuit, []).append(i)
            self._of_cabinet.setdefault(lamp.cabinet, []).append(i)
        self.sites = sorted({lamp.site for lamp in self.lamps} | {c.site for c in self.cabinets})
        site_index = {site: i for i, site in enumerate(self.sites)}
        self._static = orjson.dumps(
            {
                "id": [lamp.id for lamp in self.lamps],
                "lat": [lamp.lat for lamp in self.lamps],
                "lon": [lamp.lon for lamp in self.lamps],
                "site": [site_index[lamp.site] for lamp in self.lamps],
            }
        )[:-1]  # without its closing brace: the live columns follow
        self._cabinets_static = orjson.dumps(
            {
                "id": [c.id for c in self.cabinets],
                "lat": [c.lat for c in self.cabinets],
                "lon": [c.lon for c in self.cabinets],
                "site": [site_index[c.site] for c in self.cabinets],
            }
        )[:-1]

    # --- what the bus says ---------------------------------------------------------------

    def telemetry(self, batch: TelemetryBatch, now: float) -> None:
        lamps: list[int] = []
        for reading in batch.lamps:
            i = self.row.get(reading.lamp)
            if i is None:
                continue
            ts = reading.ts.timestamp()
            previous = self.reported_at[i]
            if previous is not None and ts < previous:
                continue  # an older reading, replayed: the newer one stands
            self.relay[i], self.level[i] = reading.relay_on, reading.dim_pct
            self.power[i], self.reported_at[i], self.heard_at[i] = reading.power_w, ts, now
            if self.online[i] is False:
                self.online[i] = True  # it reports: its gateway's "offline" is over
            if self._restate(i, now):
                lamps.append(i)
        cabinets = [i for c in batch.cabinets if (i := self._cabinet(c)) is not None]
        self._tell(lamps, cabinets)

    def _cabinet(self, reading: CabinetTelemetry) -> int | None:
        i = self.cabinet_row.get(reading.cabinet)
        if i is None:
            return None
        self.cabinet_reported_at[i] = reading.ts.timestamp()
        if self.cabinet_online[i] is False:
            self.cabinet_online[i] = True
        return i if self._restate_cabinet(i) else None

    def status(self, status: DeviceStatus, now: float) -> None:
        kind, ident = status.device.kind.value, status.device.id
        if kind == "lamp" and (i := self.row.get(ident)) is not None:
            self.online[i] = status.online
            self._tell([i] if self._restate(i, now) else [], [])
        elif kind == "cabinet" and (i := self.cabinet_row.get(ident)) is not None:
            self.cabinet_online[i] = status.online
            self._tell([], [i] if self._restate_cabinet(i) else [])

    def alarm(self, asset: str, alarm_type: str, event: AlarmEvent | None, now: float) -> None:
        """An alarm's latest event on the bus (None: closed, its retained message removed)."""
        key = (asset, alarm_type)
        before = self.alarms.get(key)
        if event is None:
            self.alarms.pop(key, None)
            at = self._alarms_at.get(asset, {})
            at.pop(alarm_type, None)
            if not at:
                self._alarms_at.pop(asset, None)
        else:
            self.alarms[key] = event
            self._alarms_at.setdefault(asset, {})[alarm_type] = event
        was = before is not None and self._makes_faulty(before)
        now_faulty = event is not None and self._makes_faulty(event)
        if was == now_faulty:
            return
        self._faulty[asset] = self._faulty.get(asset, 0) + (1 if now_faulty else -1)
        kind, _, ident = asset.partition(":")
        rows = self._rows_under(kind, ident)
        changed = [i for i in rows if self._restate(i, now)]
        cabinet = self.cabinet_row.get(ident) if kind == "cabinet" else None
        self._tell(changed, [cabinet] if cabinet is not None and self._restate_cabinet(cabinet)
                   else [])  # fmt: skip

    def set_expected(self, updates: Iterable[tuple[Sequence[int], Expected]], now: float) -> None:
        """Each lamp row's expected state (the lighting tick hands only the rows whose
        evaluation changed), all in one go: no reader sees half a district updated."""
        changed = []
        expected = self.expected
        for rows, value in updates:
            for i in rows:
                if expected[i] != value:
                    expected[i] = value
                    if self._restate(i, now):
                        changed.append(i)
        self._tell(changed, [])

    def age(self, now: float, rows: range | None = None) -> None:
        """Lamps gone quiet for `stale_s` turn offline (called every few seconds, in slices of
        `rows` so the event loop is not held; each lamp's state stands on its own)."""
        changed = []
        heard_at, stale_s = self.heard_at, self.stale_s
        for i in range(len(heard_at)) if rows is None else rows:
            heard = heard_at[i]
            if heard is not None and now - heard > stale_s and self._restate(i, now):
                changed.append(i)
        self._tell(changed, [])

    # --- deriving the state --------------------------------------------------------------

    @staticmethod
    def _makes_faulty(event: AlarmEvent) -> bool:
        """Open, and on a lamp (a root or a consequence) or leaving a circuit or cabinet dark."""
        return event.state in OPEN and (
            event.asset.kind.value == "lamp" or event.type in SUPPLY_ALARMS
        )

    def _rows_under(self, kind: str, ident: str) -> list[int]:
        if kind == "lamp":
            i = self.row.get(ident)
            return [] if i is None else [i]
        return (self._of_circuit if kind == "circuit" else self._of_cabinet).get(ident, [])

    def _restate(self, i: int, now: float) -> bool:
        code = CODE[self._state_of(i, now)]
        if code == self.state[i]:
            return False
        self.state[i] = code
        return True

    def _state_of(self, i: int, now: float) -> str:  # noqa: PLR0911 - the table above, row by row
        lamp = self.lamps[i]
        if lamp.planned:
            return "planned"
        heard = self.heard_at[i]
        if self.online[i] is False or (heard is not None and now - heard > self.stale_s):
            return "offline"
        if any(
            self._faulty.get(a, 0) > 0
            for a in (f"lamp:{lamp.id}", f"circuit:{lamp.circuit}", f"cabinet:{lamp.cabinet}")
        ):
            return "faulty"  # fmt: skip
        relay = self.relay[i]
        if relay is None:
            return "unknown"
        expected = self.expected[i]
        should_be_on = expected is not None and expected.level is not None
        power = self.power[i]
        lit = relay and (power is None or power >= DARK_W)
        if expected is None:
            return ("dimmed" if (self.level[i] or 0) < 100 else "lit") if lit else "off"
        if should_be_on:
            if not lit:
                return "dark"
            return "dimmed" if (self.level[i] or 0) < 100 else "lit"
        return "burning" if lit else "off"

    def _restate_cabinet(self, i: int) -> bool:
        cabinet = self.cabinets[i]
        if self.cabinet_online[i] is False:
            state = "offline"
        elif self._faulty.get(f"cabinet:{cabinet.id}", 0) > 0:
            state = "faulty"
        elif self.cabinet_reported_at[i] is None:
            state = "unknown"
        else:
            state = "lit"  # reporting and without a fault
        code = CODE[state]
        if code == self.cabinet_state[i]:
            return False
        self.cabinet_state[i] = code
        return True

    def _tell(self, lamps: list[int], cabinets: list[int]) -> None:
        if lamps or cabinets:
            for listener in self.listeners:
                listener(lamps, cabinets)

    # --- what the API serves -------------------------------------------------------------

    def site_of(self, asset: str) -> str | None:
        """The site of `lamp:X`, `circuit:Y` or `cabinet:Z`."""
        kind, _, ident = asset.partition(":")
        if kind == "lamp":
            i = self.row.get(ident)
            return None if i is None else self.lamps[i].site
        if kind == "cabinet":
            j = self.cabinet_row.get(ident)
            return None if j is None else self.cabinets[j].site
        rows = self._of_circuit.get(ident)
        return self.lamps[rows[0]].site if rows else None

    def lamp_view(self, i: int) -> dict[str, object]:
        lamp = self.lamps[i]
        expected = self.expected[i]
        reported_at = self.reported_at[i]
        return {
            "lamp": lamp.id,
            "site": lamp.site,
            "state": STATES[self.state[i]],
            "expected": None
            if expected is None
            else {"level": expected.level, "why": expected.source},
            "reported": None
            if reported_at is None
            else {
                "relay_on": self.relay[i],
                "level": self.level[i],
                "power_w": self.power[i],
                "at": datetime.fromtimestamp(reported_at, UTC).isoformat(),
            },
            "online": self.online[i] if self.online[i] is not None else (
                None if self.heard_at[i] is None else STATES[self.state[i]] != "offline"),
            "alarms": [e.model_dump(mode="json", exclude_none=True)
                       for e in self.alarms_of(f"lamp:{lamp.id}")],
        }  # fmt: skip

    # --- when the assets change ----------------------------------------------------------

    def reassign(
        self, lamps: Iterable[LampRef], cabinets: Iterable[CabinetRef], now: float
    ) -> bool:
        """The store's lamps and cabinets changed (an edit or import through the API): take the
        new ones, keeping what the bus said of those that stay (readings, online, expected,
        alarms), and derive every state again. The object stays the same, so the bus, the
        schedule and the event stream keep theirs. True when the district's fixed columns (ids,
        positions, sites) changed: what a map holds is out of date."""
        fresh = LiveState(lamps, cabinets, self.stale_s)
        for i, lamp in enumerate(fresh.lamps):
            j = self.row.get(lamp.id)
            if j is not None:
                for name in ("relay", "level", "power", "reported_at", "heard_at", "online",
                             "expected"):  # fmt: skip
                    getattr(fresh, name)[i] = getattr(self, name)[j]
        for i, cabinet in enumerate(fresh.cabinets):
            j = self.cabinet_row.get(cabinet.id)
            if j is not None:
                fresh.cabinet_online[i] = self.cabinet_online[j]
                fresh.cabinet_reported_at[i] = self.cabinet_reported_at[j]
        fresh.alarms, fresh._alarms_at = self.alarms, self._alarms_at
        fresh._faulty, fresh.listeners = self._faulty, self.listeners
        moved = (fresh._static, fresh._cabinets_static) != (self._static, self._cabinets_static)
        was = {lamp.id: self.state[i] for i, lamp in enumerate(self.lamps)}
        was_c = {c.id: self.cabinet_state[j] for j, c in enumerate(self.cabinets)}
        vars(self).update(vars(fresh))
        self.state = [CODE[self._state_of(i, now)] for i in range(len(self.lamps))]
        for j in range(len(self.cabinets)):
            self._restate_cabinet(j)
        self._tell(
            [i for i, lamp in enumerate(self.lamps) if was.get(lamp.id) != self.state[i]],
            [j for j, c in enumerate(self.cabinets) if was_c.get(c.id) != self.cabinet_state[j]],
        )
        return moved

    def alarms_of(self, asset: str) -> list[AlarmEvent]:
        return [e for e in self._alarms_at.get(asset, {}).values() if e.state in OPEN]

    def district(self, at: datetime) -> bytes:
        """Every lamp and cabinet in columns (`states` names the state codes)."""
        head = orjson.dumps({"at": at.isoformat(), "states": STATES, "sites": self.sites})[:-1]
        return b"".join(
            (
                head,
                b',"lamps":',
                self._static,
                b',"state":',
                orjson.dumps(self.state),
                b',"level":',
                orjson.dumps(self.level),
                b',"power_w":',
                orjson.dumps(self.power),
                b'},"cabinets":',
                self._cabinets_static,
                b',"state":',
                orjson.dumps(self.cabinet_state),
                b"}}",
            )
        )


async def load_assets(session: AsyncSession) -> tuple[list[LampRef], list[CabinetRef]]:
    """The lamps (installed and planned; not retired) and cabinets of the store."""
    cabinets = {
        row.id: CabinetRef(row.id, row.site_id, row.lat, row.lon)
        for row in (await session.scalars(select(CabinetRow).order_by(CabinetRow.id))).all()
    }
    circuits = {row.id: row.cabinet_id for row in (await session.scalars(select(CircuitRow))).all()}
    lamps = []
    for row in (await session.scalars(select(LampRow).order_by(LampRow.id))).all():
        if row.status == LampStatus.RETIRED:
            continue
        cabinet = cabinets[circuits[row.circuit_id]]
        lamps.append(
            LampRef(row.id, cabinet.site, row.circuit_id, cabinet.id, row.phase, row.lat,
                    row.lon, row.rated_power_w, planned=row.status == LampStatus.PLANNED)
        )  # fmt: skip
    return lamps, list(cabinets.values())
