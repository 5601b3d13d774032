"""The simulator as one asyncio program: the world, its timeline, its nodes and its servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from types import TracebackType

from simulator.control import Control
from simulator.modbus_server import ModbusFarm
from simulator.mqtt_nodes import NodeNetwork
from simulator.timeline import Timeline
from simulator.world import TruthLog, World
from streetlight.clock import Clock
from streetlight.domain import Inventory
from streetlight.profiles import Profile
from streetlight.scenario import Scenario
from streetlight.settings import MqttUrl

logger = logging.getLogger(__name__)

STATS_EVERY_S = 60.0


class Simulator:
    """Plays every lamp and cabinet of an inventory until its context is left.

    async with Simulator(...) as simulator:
        ...  # devices answer on MQTT and Modbus; simulator.world is the state
    """

    def __init__(
        self,
        inventory: Inventory,
        profiles: dict[str, Profile],
        scenario: Scenario,
        clock: Clock,
        *,
        mqtt_url: MqttUrl,
        field_root: str = "field",
        mqtt_ca_file: Path | None = None,
        seed: int = 0,
        truth_path: Path | None = None,
        lamps_per_link: int = 1,
        device_urls: dict[str, MqttUrl] | None = None,
        modbus_host: str = "127.0.0.1",
        modbus_port: int = 0,
        cabinets_per_port: int = 32,
    ) -> None:
        self.truth = TruthLog(truth_path)
        self.world = World(inventory, profiles, clock, seed=seed, truth=self.truth)
        self.timeline = Timeline(self.world, scenario)
        self.nodes = NodeNetwork(
            self.world,
            mqtt_url,
            field_root,
            interval_s=scenario.reporting_interval_s,
            lamps_per_link=lamps_per_link,
            ca_file=mqtt_ca_file,
            device_urls=device_urls,
        )
        self.nodes.schedule_reports(self.timeline)
        self.farm = ModbusFarm(self.world, modbus_host, modbus_port, cabinets_per_port)
        self.control = Control(self.world, self.timeline, mqtt_url, field_root, mqtt_ca_file)
        self._runner: asyncio.Task[None] | None = None
        self._connections: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Simulator:
        await self.farm.start()
        self._runner = asyncio.create_task(self._run(), name="simulator")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            # links and control leave the broker gracefully; then the rest is cancelled
            self._stop.set()
            if self._connections is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(10):
                        await asyncio.shield(self._connections)
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self.farm.stop()
        self.truth.close()

    async def wait(self) -> None:
        """Return when the simulator stops by itself (it only does on an error).

        Cancelling the wait does not stop the simulator; leaving its context does.
        """
        assert self._runner is not None
        await asyncio.shield(self._runner)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.timeline.run(), name="fault-timeline")
            tasks.create_task(self._log_stats(), name="stats-log")
            self._connections = tasks.create_task(self._connected(), name="mqtt")

    async def _connected(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.nodes.run(self._stop), name="mqtt-nodes")
            tasks.create_task(self.control.run(self._stop), name="control")

    async def _log_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            stats = self.world.stats
            logger.info(
                "simulated %s: %d reports sent, %d dropped, lag p99 %.2f s; %d Modbus requests; "
                "%d faults active",
                self.world.clock.now().isoformat(timespec="seconds"),
                stats.reports_sent,
                stats.reports_dropped,
                stats.lag_quantile(0.99),
                stats.modbus_requests,
                len(self.world.active),
            )
