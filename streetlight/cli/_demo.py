"""`streetlight demo`: the whole system on the sample district, until Ctrl-C.

Starts its own Mosquitto and InfluxDB on free loopback ports (data under `<var>/demo`), loads
the sample inventory into the store and InfluxDB's database, prints where everything is, and
on Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from streetlight.cli._common import run_until_signal, settings_and_logging
from streetlight.cli._inventory import load_into_store
from streetlight.contract.influx_schema import ensure_database
from streetlight.influx import InfluxClient
from streetlight.inventory import load_inventory
from streetlight.services import LocalServices
from streetlight.settings import CommonSettings, load_settings

DEFAULT_INVENTORY = Path("examples/xunyang/inventory.geojson")


def add_parser(roles: Any) -> None:
    parser = roles.add_parser("demo", help="run the whole system on the sample district")
    parser.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY)
    parser.add_argument("--var", type=Path, help="data directory (default: STREETLIGHT_VAR_DIR)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    base = settings_and_logging(CommonSettings)
    var_dir: Path = args.var or base.var_dir
    inventory = load_inventory(args.inventory)  # a bad file stops us before any server starts
    servers = LocalServices(var_dir / "demo")
    state = servers.start()
    try:
        print(f"mosquitto  pid {state.pids['mosquitto']:<8} {state.mqtt_url}")
        print(f"influxd    pid {state.pids['influxd']:<8} {state.influx_url}")
        settings = load_settings(
            CommonSettings,
            mqtt_url=state.mqtt_url,
            influx_url=state.influx_url,
            var_dir=var_dir,
        )

        async def main(stop: asyncio.Event) -> int:
            report = await load_into_store(settings.db_url, inventory, str(args.inventory))
            print(f"inventory  {args.inventory}: {inventory.summary()}")
            print(f"store      {settings.db_url}: {report.summary()}")
            async with InfluxClient.from_settings(settings) as influx:
                await ensure_database(influx, settings.influx_retention)
            print(f"influxdb   database {settings.influx_db!r} ready")
            print("demo running; press Ctrl-C to stop")
            await stop.wait()
            return 0

        return run_until_signal(main)
    finally:
        servers.stop()
        print("demo stopped; servers stopped")
