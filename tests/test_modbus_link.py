"""A Modbus endpoint's requests: one at a time, reads and writes taking turns, so the
poller is never held behind a burst of command writes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from gateway.modbus_link import Coordinator, Kind, Request, Turns
from streetlight.contract import Topics
from streetlight.profiles import ModbusLampProfile
from streetlight.services import ServiceState
from tests.simulation import MODBUS_A_SITE, endpoint, profiles, running


class Held:
    """A turn taken and kept until `let_go`, with requests queued behind it meanwhile."""

    def __init__(self, turns: Turns) -> None:
        self.turns = turns
        self.served: list[str] = []
        self._free = asyncio.Event()
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def __aenter__(self) -> Held:
        self.tasks["holder"] = asyncio.create_task(self._request("holder", "write", self._free))
        await asyncio.sleep(0)  # the holder takes the free turn
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def queue(self, kind: Kind, names: Iterable[str]) -> None:
        for name in names:
            self.tasks[name] = asyncio.create_task(self._request(name, kind))

    async def let_go(self) -> None:
        self._free.set()
        async with asyncio.timeout(5):
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _request(self, name: str, kind: Kind, hold: asyncio.Event | None = None) -> None:
        async with self.turns.turn(kind):
            self.served.append(name)
            if hold is not None:
                await hold.wait()


async def test_reads_and_writes_alternate_while_both_wait() -> None:
    async with Held(Turns()) as held:
        held.queue("write", ["w1", "w2", "w3"])
        held.queue("read", ["r1", "r2"])
        await asyncio.sleep(0)
        await held.let_go()
    assert held.served == ["holder", "r1", "w1", "r2", "w2", "w3"]


async def test_a_request_cancelled_while_waiting_gives_up_its_place() -> None:
    async with Held(Turns()) as held:
        held.queue("read", ["r1", "r2"])
        held.queue("write", ["w1"])
        await asyncio.sleep(0)
        held.tasks["r1"].cancel()
        await held.let_go()
    assert held.served == ["holder", "r2", "w1"]


async def test_a_request_cancelled_as_its_turn_comes_passes_the_turn_on() -> None:
    turns = Turns()
    served: list[str] = []

    async def request(name: str, kind: Kind) -> None:
        async with turns.turn(kind):
            served.append(name)

    async with turns.turn("write"):
        r1 = asyncio.create_task(request("r1", "read"))
        w1 = asyncio.create_task(request("w1", "write"))
        await asyncio.sleep(0)  # both wait
    r1.cancel()  # the turn is r1's now, and r1 has not run yet
    async with asyncio.timeout(5):
        await asyncio.gather(r1, w1, return_exceptions=True)
        assert served == ["w1"]
        async with turns.turn("read"):
            pass  # and the turn is free again


async def test_a_poll_is_not_held_behind_a_burst_of_writes(
    service_state: ServiceState, topics: Topics
) -> None:
    """Forty writes queued on a concentrator's link, as a district switching queues them, then
    one read: it is answered second, not last (first come first served made it 41st)."""
    async with running(service_state, topics.root, sites=(MODBUS_A_SITE,)) as simulator:
        site_cabinets = sorted(c for c in simulator.world.cabinets if c.startswith(MODBUS_A_SITE))
        where = endpoint(simulator, site_cabinets[0])
        profile = profiles()["slc-modbus-a"]
        assert isinstance(profile, ModbusLampProfile)
        lamp_id, slot = min(where.lamps.items())
        dim = profile.fields["dim_pct"]
        link = Coordinator(where.host, where.port, timeout=5.0)
        answered: list[str] = []

        async def write(level: int) -> None:
            await link.write_registers(where.unit, dim.address_of(slot - 1), [level])
            answered.append(f"write {level}")

        async def read() -> None:
            await link.read(where.unit, Request(dim.table, dim.address_of(slot - 1), 1))
            answered.append("read")

        try:
            writes = [asyncio.create_task(write(level)) for level in range(40, 80)]
            await asyncio.sleep(0)  # every write is waiting for its turn
            poll = asyncio.create_task(read())
            async with asyncio.timeout(30):
                await asyncio.gather(*writes, poll)
        finally:
            link.close()
        assert answered.index("read") == 1, answered
        assert simulator.world.lamps[lamp_id].level == 79  # the writes kept their order
