"""How fast each dashboard query answers over 30 simulated days of the sample district, and
what the controller's KPI writer costs for 100,000 lamps.

    python bench/dashboard_queries.py [--days 30] [--repeats 5] [--kpi-lamps 100000]

Starts its own influxd and fills it with the KPI points of the sample district (2,305 lamps in
45 sites) as `bench/kpi_sample.py` makes them in the contract's schema: one `kpi_night` and
`switching` point per scope and night, a `kpi` point per scope every 5 minutes for all the
days, open alarms and work orders of the last marks, and an acceptance result per site. Then
it runs every query of the dashboards (the Chinese set; the English one sends the same
statements) as Grafana sends it, with `$timeFilter` widened to the whole period whatever the
panel's own range (the slowest a user can ask for), all subdistricts, and one site. Each query
runs `--repeats` times; the median and the slowest are printed, against the target of 1 s.

Then the KPI writer (controller/kpi) runs on a district of `--kpi-lamps` lamps
(bench/kpi_writer.py): CPU seconds per 5-minute round, per night summary and per night, and the
points each writes (`--kpi-lamps 0` leaves it out). Figures go to
bench/results/dashboard_queries.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dashboards
from bench import kpi_writer
from bench._common import Timer, local_servers, median, write_results
from bench.kpi_sample import KpiSample
from dashboards.queries import queries, statement, time_range
from streetlight.contract.influx_schema import ensure_database
from streetlight.influx import InfluxClient
from streetlight.inventory import load_inventory

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "xunyang" / "inventory.geojson"
TARGET_S = 1.0
BATCH = 5000


async def fill(client: InfluxClient, sample: KpiSample) -> dict[str, Any]:
    with Timer() as made:
        lines = sample.lines()
    with Timer() as written:
        await ensure_database(client)
        for policy, batch in (("kpi", lines.kpi), ("raw", lines.raw)):
            for start in range(0, len(batch), BATCH):
                await client.write_lines(batch[start : start + BATCH], retention_policy=policy)
    return {
        "kpi_points": len(lines.kpi),
        "raw_points": len(lines.raw),
        "generate_s": round(made.wall, 2),
        "write_s": round(written.wall, 2),
    }


async def time_queries(
    client: InfluxClient, period: tuple[datetime, datetime], repeats: int, site: str
) -> list[dict[str, Any]]:
    start, end = period
    variables = {"subdistrict": ".*", "site": site}
    figures = []
    for name, document in dashboards.dashboards("zh").items():
        for query in queries(document):
            sent = statement(query.query, start, end, variables)
            times, rows = [], 0
            for _ in range(repeats):
                began = time.perf_counter()
                series = await client.query(sent, epoch="ms")
                times.append(time.perf_counter() - began)
                rows = sum(len(s.values) for s in series)
            typical, worst = median(times), max(times)
            print(
                f"{name:14} {query.where[:58]:58} median {typical * 1000:7.1f} ms"
                f"  max {worst * 1000:7.1f} ms  {rows:6} rows",
                flush=True,
            )
            figure = {
                "dashboard": name,
                "query": query.where,
                "median_s": round(typical, 4),
                "max_s": round(worst, 4),
                "rows": rows,
                "statement": sent,
            }
            figures.append(figure)
    return figures


def print_writer(cost: dict[str, Any]) -> None:
    night = cost["per_night"]
    print(
        f"KPI writer, {cost['lamps']} lamps in {cost['sites']} sites ({cost['nodes']} nodes, "
        f"{cost['open_alarms']} open alarms): a 5-minute round {cost['round_cpu_s_median']} s "
        f"CPU (max {cost['round_cpu_s_max']} s), {cost['round_points']:.0f} points; the night's "
        f"summary {cost['night_summary_cpu_s']} s CPU, {cost['night_summary_points']} points; "
        f"a night {night['cpu_s']} s CPU and {night['points']} points ({night['rounds']} rounds "
        f"and the summary); a scan after commands {cost['scan_after_commands_cpu_s']} s, a "
        f"quiet tick {cost['tick_look_cpu_s']} s; a round's and the night's points written in "
        f"{cost['write_backlog_s']} s",
        flush=True,
    )


async def main(days: int, repeats: int, kpi_lamps: int) -> None:
    inventory = load_inventory(SAMPLE)
    now = datetime.now(UTC)
    sample = KpiSample(inventory, now, days)
    with local_servers() as servers:
        async with InfluxClient(servers.influx_url, "dashboards", timeout=60) as client:
            data = await fill(client, sample)
            print(
                f"{inventory.summary()}; {days} days: {data['kpi_points']} KPI points and "
                f"{data['raw_points']} state points written in {data['write_s']} s",
                flush=True,
            )
            period = time_range(f"now-{days}d", now, inventory.district.tz)
            figures = await time_queries(client, period, repeats, min(inventory.sites))
        writer = await kpi_writer.measure(kpi_lamps, servers.influx_url) if kpi_lamps else None
    slowest = max(figures, key=lambda f: f["max_s"])
    over = [f for f in figures if f["median_s"] > TARGET_S]
    print(
        f"{len(figures)} queries; slowest {slowest['dashboard']} {slowest['query']}: "
        f"median {slowest['median_s'] * 1000:.1f} ms, max {slowest['max_s'] * 1000:.1f} ms; "
        f"{len(over)} over the {TARGET_S:g} s target"
    )
    path = write_results(
        "dashboard_queries",
        {
            "days": days,
            "repeats": repeats,
            "lamps": len(inventory.lamps),
            "sites": len(inventory.sites),
            "data": data,
            "target_s": TARGET_S,
            "over_target": len(over),
            "queries": figures,
            "kpi_writer": writer,
        },
    )
    if writer is not None:
        print_writer(writer)
    print(f"figures: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kpi-lamps", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.days, args.repeats, args.kpi_lamps))
