"""After the API changed the assets, the live state and the schedule follow the store.

The live state (`app.state.live`) holds the lamps and cabinets of the store as they were at
start, the schedule's evaluator (`app.state.lighting`) their inventory, and the alarm list
(`app.state.alarm_index`) the sites of each subdistrict. A route that
changed the assets calls `app.state.reload_assets()` after its commit: both are read again
from the store, in place, so the bus task, the schedule task and the open event streams carry
on with the same objects. What the bus said of lamps that stay (readings, alarms) is kept; a
stream is sent `resync` when lamps or cabinets came, went or moved. Reloads run one at a time
and each reads the store after the write that asked for it, so the last write wins. A reload
reads every lamp (about a second for 100,000): writes are rare next to reads. A reload that
fails is logged, and what was saved stays saved; the next one (or a restart) catches up.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from api import heap
from api.alarm_index import AlarmIndex
from api.events import Hub
from api.lighting import Lighting
from api.live import LiveState, load_assets
from streetlight.clock import Clock
from streetlight.store import read_inventory, sessions

logger = logging.getLogger(__name__)


class AssetReload:
    def __init__(
        self,
        engine: AsyncEngine,
        live: LiveState,
        lighting: Lighting,
        hub: Hub,
        clock: Clock,
        *,
        alarms: AlarmIndex,
    ) -> None:
        self.engine, self.live, self.lighting, self.hub, self.clock = (
            engine, live, lighting, hub, clock)  # fmt: skip
        self.alarms = alarms
        self._lock = asyncio.Lock()
        self.reloads = 0

    async def __call__(self) -> bool:
        """Read the assets again; False (logged) if the store could not be read."""
        async with self._lock:
            try:
                async with sessions(self.engine)() as session:
                    lamps, cabinets = await load_assets(session)
                    inventory = await read_inventory(session)
                if self.live.reassign(lamps, cabinets, self.clock.now().timestamp()):
                    self.hub.resync("the assets changed")
                await self.lighting.use_inventory(inventory)
                await self.alarms.reload_sites()
                heap.settle()  # the old assets go, the new ones stay for long
            except Exception:  # whatever it is, the write stands: said, not raised
                logger.exception("the assets were saved, but the live state could not follow")
                return False
            self.reloads += 1
            return True
