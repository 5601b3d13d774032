"""How fast the InfluxDB client writes lamp points, against the server's own ceiling.

    python bench/influx_write.py [--points 1000000] [--repeats 3]

Starts its own influxd. Lamp reports of the sample district (2,305 lamps, one report a minute
each) are written three ways, each into a fresh database:

- ceiling: the lines encoded and gzip-compressed before the clock starts, then POSTed by a
  bare httpx loop with the same batch size and requests in flight. This is what the server and
  the HTTP transport allow; no client can beat it.
- client: what the gateway does: each canonical report encoded by `TelemetryLines` (cached
  series key per lamp) and written through `BatchWriter` (batching, gzip, retries).
- client_points: each point built as a generic `Point` with its tags and encoded in full.

Each is run `--repeats` times, interleaved, and the figures are medians; the ratio is the
client's points/s over the ceiling's. Every run checks that all points arrived. The server
and the client share the machine's cores, so client CPU time counts against the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import Timer, local_servers, median, peak_rss_mib, write_results
from streetlight.contract import LampTelemetry, TelemetryLines
from streetlight.domain import Inventory
from streetlight.influx import BatchWriter, InfluxClient, Point, quote_ident, to_ns
from streetlight.inventory import load_inventory

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "xunyang" / "inventory.geojson"
START = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)
BATCH = 5000
IN_FLIGHT = 2


def reports(inventory: Inventory, count: int) -> list[LampTelemetry]:
    """`count` reports: every lamp once a minute, values varying as a night's would."""
    lamps = list(inventory.lamps.values())
    out = []
    for index in range(count):
        lamp, minute = lamps[index % len(lamps)], index // len(lamps)
        dim = 100 if minute % 600 < 300 else 50
        power = lamp.rated_power_w * dim / 100 + (index % 13) / 10
        out.append(
            LampTelemetry.model_construct(  # benchmark input: built, not validated
                lamp=lamp.id,
                ts=START + timedelta(minutes=minute, milliseconds=index % len(lamps)),
                relay_on=True,
                dim_pct=dim,
                voltage_v=220.0 + (index % 97) / 10,
                current_a=round(power / 220 / 0.95, 4),
                power_w=power,
                power_factor=0.95 - (index % 5) / 100,
                energy_wh=1000.0 + minute * lamp.rated_power_w / 60,
                driver_temp_c=35.0 + (index % 50) / 10,
                burning_hours=400.0 + minute / 60,
                faults=[],
            )
        )
    return out


async def _count(client: InfluxClient) -> int:
    series = await client.query("SELECT count(power_w) FROM lamp")
    return int(series[0].values[0][1]) if series else 0


async def _fresh(client: InfluxClient) -> None:
    db = quote_ident(client.database)
    await client.execute(f"DROP DATABASE {db}")
    await client.execute(f"CREATE DATABASE {db}")


async def run_ceiling(url: str, database: str, bodies: list[bytes], compress: bool) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    params = {"db": database, "precision": "ns"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def poster() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await http.post("/write", params=params, content=body, headers=headers)
                response.raise_for_status()

        async with asyncio.TaskGroup() as tasks:
            for _ in range(IN_FLIGHT):
                tasks.create_task(poster())


async def run_client(
    client: InfluxClient, lines: TelemetryLines, data: list[LampTelemetry]
) -> None:
    async with BatchWriter(client, batch_size=BATCH, max_in_flight=IN_FLIGHT) as writer:
        for report in data:
            await writer.write(lines.lamp(report))


async def run_points(client: InfluxClient, inventory: Inventory, data: list[LampTelemetry]) -> None:
    tags = {}
    for lamp_id in inventory.lamps:
        place = inventory.place(lamp_id)
        tags[lamp_id] = {
            "lamp": lamp_id,
            "circuit": place.circuit_id,
            "cabinet": place.cabinet_id,
            "site": place.site_id,
            "subdistrict": place.subdistrict_id,
        }
    async with BatchWriter(client, batch_size=BATCH, max_in_flight=IN_FLIGHT) as writer:
        for r in data:
            fields = {
                "relay_on": r.relay_on,
                "dim_pct": r.dim_pct,
                "voltage_v": r.voltage_v,
                "current_a": r.current_a,
                "power_w": r.power_w,
                "power_factor": r.power_factor,
                "energy_wh": r.energy_wh,
                "driver_temp_c": r.driver_temp_c,
                "burning_hours": r.burning_hours,
                "faults": ",".join(r.faults),
            }
            await writer.write(Point("lamp", fields, to_ns(r.ts), tags[r.lamp]).to_line())


async def main(points: int, repeats: int, compress: bool) -> dict[str, object]:
    inventory = load_inventory(SAMPLE)
    data = reports(inventory, points)
    with local_servers() as state:
        database = "bench"
        async with InfluxClient(state.influx_url, database, compress=compress) as client:
            encoded = [TelemetryLines(inventory).lamp(report) for report in data]
            bodies = [
                "\n".join(encoded[i : i + BATCH]).encode() for i in range(0, len(encoded), BATCH)
            ]
            if compress:
                bodies = [gzip.compress(body, compresslevel=1) for body in bodies]
            del encoded
            runs: dict[str, Callable[[], Awaitable[None]]] = {
                "ceiling": lambda: run_ceiling(state.influx_url, database, bodies, compress),
                # a new TelemetryLines per run: its series-key cache starts cold, as at start-up
                "client": lambda: run_client(client, TelemetryLines(inventory), data),
                "client_points": lambda: run_points(client, inventory, data),
            }
            walls: dict[str, list[float]] = {name: [] for name in runs}
            cpus: dict[str, list[float]] = {name: [] for name in runs}
            for repeat in range(repeats):
                for name, run in runs.items():
                    await _fresh(client)
                    with Timer() as timer:
                        await run()
                    arrived = await _count(client)
                    if arrived != points:
                        raise SystemExit(f"{name}: {arrived} of {points} points arrived")
                    walls[name].append(timer.wall)
                    cpus[name].append(timer.cpu)
                    print(
                        f"run {repeat + 1}/{repeats} {name:20} {points / timer.wall:>10,.0f} "
                        f"points/s  (wall {timer.wall:.2f} s, client CPU {timer.cpu:.2f} s)"
                    )
    rate = {name: points / median(values) for name, values in walls.items()}
    return {
        "points": points,
        "batch_size": BATCH,
        "requests_in_flight": IN_FLIGHT,
        "gzip": compress,
        "repeats": repeats,
        "points_per_s": {name: round(value) for name, value in rate.items()},
        "client_cpu_s": {name: round(median(values), 2) for name, values in cpus.items()},
        "ratio_to_ceiling": {
            name: round(value / rate["ceiling"], 3) for name, value in rate.items()
        },
        "target_ratio": 0.8,
        "peak_rss_mib": round(peak_rss_mib()),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-gzip", action="store_true", help="send bodies uncompressed (client and ceiling)"
    )
    args = parser.parse_args()
    figures = asyncio.run(main(args.points, args.repeats, compress=not args.no_gzip))
    path = write_results("influx_write" + ("_plain" if args.no_gzip else ""), figures)
    print()
    for name, value in figures["points_per_s"].items():  # type: ignore[attr-defined]
        ratio = figures["ratio_to_ceiling"][name]  # type: ignore[index]
        print(f"{name:20} {value:>10,} points/s   {ratio:.2f} of the ceiling")
    print(f"figures written to {path}")
