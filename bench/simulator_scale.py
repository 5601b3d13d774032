"""How many lamps one simulator process plays at a 60 s interval and speed 1 without lag.

    python bench/simulator_scale.py [--sizes 10000,20000,40000] [--window 130]

For each size, a district is generated (the sample district's generator, scaled), and
`streetlight simulate` runs it in its own process at speed 1 against the benchmark's own
Mosquitto, while this process polls every cabinet and every concentrator lamp over Modbus once
a minute, as a gateway would. After a warm-up, it measures over a window of `--window` s:

- lateness of reports against their schedule (p99, max) and reports sent / reports due;
- the simulator's CPU time, as % of one core, and per 1,000 lamps;
- peak resident memory, and the bytes per lamp beyond a one-site baseline run.

A size is sustained when p99 lateness is under 2 s and every report due was sent.
Figures go to bench/results/simulator_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import yaml
from pymodbus.client import AsyncModbusTcpClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "xunyang"))

import generate  # the sample district's generator  # noqa: E402

from bench._common import local_servers, write_results  # noqa: E402
from simulator.control import control_topics  # noqa: E402
from streetlight.inventory import dump_geojson  # noqa: E402
from streetlight.mqtt import make_client  # noqa: E402
from streetlight.profiles import ModbusLampProfile, load_profiles  # noqa: E402
from streetlight.settings import MqttUrl  # noqa: E402

PROFILES = load_profiles(ROOT / "profiles")
LAMPS_PER_LINK = 100
WARM_UP_S = 75.0  # links connected and the first interval's reports out
FIELD_ROOT = "bench"


def _inventory(lamps: int, directory: Path) -> tuple[Path, int]:
    scale = max(1, round(lamps / 2305))
    inventory = generate.generate(scale=scale) if lamps > 100 else _one_site()
    path = directory / f"district-{lamps}.geojson"
    path.write_text(json.dumps(dump_geojson(inventory)))
    return path, len(inventory.lamps)


def _one_site() -> Any:
    from tests.helpers import subset  # noqa: PLC0415 - only the baseline needs it

    return subset(["PP-S04"])


async def _status(url: MqttUrl) -> dict[str, Any]:
    request, reply = control_topics(FIELD_ROOT)
    async with make_client(url, identifier="bench-status") as client:
        await client.subscribe(reply, qos=1)
        await client.publish(request, json.dumps({"op": "status"}), qos=1)
        async with asyncio.timeout(30):
            async for message in client.messages:
                answer: dict[str, Any] = json.loads(message.payload)
                return answer
    raise RuntimeError("no status")


def _quantile(histogram: Counter[int], q: float) -> float:
    total = sum(histogram.values())
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= q * total:
            return (bucket + 1) / 100
    return 0.0


async def _poll_modbus(endpoints: Path, stop: asyncio.Event) -> int:
    """Read every cabinet's meter and every concentrator lamp once a minute."""
    entries = yaml.safe_load(await asyncio.to_thread(endpoints.read_text))["modbus"]
    by_port: dict[int, list[dict[str, Any]]] = {}
    for entry in entries:
        by_port.setdefault(entry["port"], []).append(entry)
    reads = 0

    async def poll_port(port: int, cabinets: list[dict[str, Any]]) -> None:
        nonlocal reads
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=5)
        await client.connect()
        try:
            while not stop.is_set():
                started = time.monotonic()
                for cabinet in cabinets:
                    await client.read_input_registers(0, count=7, device_id=cabinet["unit"])
                    slots = len(cabinet.get("lamps", {}))
                    if not slots:
                        continue
                    profile = PROFILES[cabinet["lamp_profile"]]
                    assert isinstance(profile, ModbusLampProfile)
                    base = min(spec.address for spec in profile.fields.values())
                    stride = next(iter(profile.fields.values())).stride
                    per_read = profile.max_read_registers // stride
                    for first in range(0, slots, per_read):
                        count = min(per_read, slots - first) * stride
                        await client.read_holding_registers(
                            base + first * stride, count=count, device_id=cabinet["unit"]
                        )
                        reads += 1
                rest = max(0.0, 60.0 - (time.monotonic() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), rest)
        finally:
            client.close()

    async with asyncio.TaskGroup() as tasks:
        for port, cabinets in by_port.items():
            tasks.create_task(poll_port(port, cabinets))
    return reads


def _peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


async def measure(lamps: int, window: float, mqtt_url: str, directory: Path) -> dict[str, Any]:
    inventory, actual = _inventory(lamps, directory)
    endpoints = directory / f"endpoints-{lamps}.yaml"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")},
        "STREETLIGHT_MQTT_URL": mqtt_url,
        "STREETLIGHT_FIELD_ROOT": FIELD_ROOT,
        "STREETLIGHT_SIM_LAMPS_PER_LINK": str(LAMPS_PER_LINK),
        "STREETLIGHT_VAR_DIR": str(directory),
        "STREETLIGHT_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(  # noqa: ASYNC220, S603 - our own command, waited for below
        [sys.executable, "-m", "streetlight", "simulate", "--inventory", str(inventory),
         "--speed", "1", "--endpoints", str(endpoints)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = MqttUrl.parse(mqtt_url)
    try:
        assert process.stdout is not None
        started = time.monotonic()
        line = await asyncio.to_thread(process.stdout.readline)
        startup_s = time.monotonic() - started
        if "simulating" not in line:
            raise RuntimeError(f"simulator did not start: {line}")
        stop = asyncio.Event()
        poller = asyncio.create_task(_poll_modbus(endpoints, stop))
        await asyncio.sleep(WARM_UP_S)
        proc = psutil.Process(process.pid)
        before, cpu_before, t0 = await _status(url), sum(proc.cpu_times()[:2]), time.monotonic()
        await asyncio.sleep(window)
        after, cpu_after, t1 = await _status(url), sum(proc.cpu_times()[:2]), time.monotonic()
        stop.set()
        modbus_reads = await poller
        peak_kib = _peak_rss_kib(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    histogram = Counter({int(k): v for k, v in after["lag_histogram"].items()})
    histogram.subtract(Counter({int(k): v for k, v in before["lag_histogram"].items()}))
    histogram = +histogram
    due = after["stats"]["reports_due"] - before["stats"]["reports_due"]
    sent = after["stats"]["reports_sent"] - before["stats"]["reports_sent"]
    cpu_pct = 100 * (cpu_after - cpu_before) / (t1 - t0)
    result = {
        "lamps": actual,
        "startup_s": round(startup_s, 1),
        "reports_due": due,
        "reports_sent": sent,
        "report_lag_p99_s": _quantile(histogram, 0.99),
        "report_lag_max_s": (max(histogram) + 1) / 100 if histogram else 0.0,  # bin's upper edge
        "cpu_pct_of_one_core": round(cpu_pct, 1),
        "cpu_pct_per_1000_lamps": round(cpu_pct / (actual / 1000), 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "modbus_reads": modbus_reads,
    }
    result["sustained"] = bool(result["report_lag_p99_s"] < 2.0 and sent >= due * 0.999 and due > 0)
    return result


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['lamps']:>6} lamps: lag p99 {r['report_lag_p99_s']:.2f} s "
        f"(max {r['report_lag_max_s']:.2f}), {r['reports_sent']}/{r['reports_due']} reports, "
        f"CPU {r['cpu_pct_of_one_core']:.0f}% of a core "
        f"({r['cpu_pct_per_1000_lamps']:.2f}% per 1,000 lamps), "
        f"peak {r['peak_rss_mib']} MiB ({r['bytes_per_lamp_beyond_baseline']} B/lamp), "
        f"{'sustained' if r['sustained'] else 'FALLING BEHIND'}"
    )


async def main(sizes: list[int], window: float) -> dict[str, Any]:
    with local_servers() as state, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        baseline = await measure(0, 30, state.mqtt_url, directory)
        print(
            f"baseline (one site, {baseline['lamps']} lamps): peak {baseline['peak_rss_mib']} MiB"
        )
        runs = []
        for size in sizes:
            result = await measure(size, window, state.mqtt_url, directory)
            extra = (result["peak_rss_mib"] - baseline["peak_rss_mib"]) * 1024 * 1024
            result["bytes_per_lamp_beyond_baseline"] = round(
                extra / (result["lamps"] - baseline["lamps"])
            )
            runs.append(result)
            print(_line(result), flush=True)
            if not result["sustained"]:
                break
    sustained = [r["lamps"] for r in runs if r["sustained"]]
    return {
        "interval_s": 60,
        "speed": 1,
        "lamps_per_link": LAMPS_PER_LINK,
        "window_s": window,
        "baseline": baseline,
        "runs": runs,
        "largest_sustained_lamps": max(sustained, default=0),
        "targets": {"lamps": 20_000, "bytes_per_lamp": 2048},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,20000,40000")
    parser.add_argument("--window", type=float, default=130.0)
    args = parser.parse_args()
    figures = asyncio.run(main([int(s) for s in args.sizes.split(",")], args.window))
    path = write_results("simulator_scale", figures)
    print(f"largest sustained: {figures['largest_sustained_lamps']} lamps; figures in {path}")
