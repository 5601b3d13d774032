"""The alarm book's restart state in the store: its open alarms and detection's debounce.

Open alarms are read back linked to their roots, and detection's debounce state is saved as a
snapshot, so a restarted controller neither forgets a fault half-way to being raised nor raises
one twice. Only the controller reads and writes these; everyone else reads alarms through
streetlight.store.alarms.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from controller.alarms.book import Alarm, Key, Watch
from streetlight.domain import AlarmState, AlarmType, Severity
from streetlight.store.alarms import open_alarm_rows
from streetlight.store.models import AlarmWatchRow
from streetlight.store.times import from_store, to_store


async def read_open_alarms(session: AsyncSession) -> list[Alarm]:
    """Alarms the field has not cleared, with their parents linked (for a restart)."""
    rows = await open_alarm_rows(session)
    alarms = {
        row.id: Alarm(
            id=row.id,
            type=AlarmType(row.type),
            asset=f"{row.asset_kind}:{row.asset_id}",
            severity=Severity(row.severity),
            site=row.site_id,
            raised_at=from_store(row.raised_at),
            detail=row.detail,
            state=AlarmState(row.state),
        )
        for row in rows
    }
    for row in rows:
        if row.parent_id is not None and row.parent_id in alarms:
            child, parent = alarms[row.id], alarms[row.parent_id]
            child.parent = parent
            parent.children.append(child)
    return list(alarms.values())


def _watch_key(key: Key) -> str:
    return f"{key[0].value}|{key[1]}"


async def save_watches(session: AsyncSession, watches: dict[Key, Watch], at: datetime) -> None:
    """Replace the saved debounce state with the book's."""
    await session.execute(delete(AlarmWatchRow))
    for key, watch in watches.items():
        document = {
            "bad": watch.bad,
            "good": watch.good,
            "onset": watch.onset.isoformat() if watch.onset else None,
            "alarm": watch.alarm.id if watch.alarm else None,
        }
        session.add(
            AlarmWatchRow(key=_watch_key(key), document=json.dumps(document), saved_at=to_store(at))
        )


async def read_watches(session: AsyncSession) -> dict[Key, tuple[Watch, int | None]]:
    """The saved debounce states, with the id of the alarm each had raised (if any)."""
    found: dict[Key, tuple[Watch, int | None]] = {}
    for row in (await session.scalars(select(AlarmWatchRow))).all():
        kind, _, asset = row.key.partition("|")
        document = json.loads(row.document)
        onset = document.get("onset")
        watch = Watch(
            bad=int(document.get("bad", 0)),
            good=int(document.get("good", 0)),
            onset=datetime.fromisoformat(onset) if onset else None,
        )
        found[(AlarmType(kind), asset)] = (watch, document.get("alarm"))
    return found
