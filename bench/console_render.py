"""The web console with 100,000 lamps in headless Chromium: first full paint, frames per
second while panning and zooming, and the page's memory.

1. a district of about 100,000 lamps (the sample's recipe at scale, as bench/api_load.py makes
   it) with its schedule and an admin goes into a fresh SQLite store;
2. `streetlight api` starts as its own process, and a report of every lamp is published on the
   bus (most lit, some dark, some dimmed, some off), so the map has live states to draw;
3. Debian's Chromium (Playwright) logs in through the page's form, then reloads the page
   `--loads` times, each once the page before is at rest: time to first full paint is from
   navigation start to the first frame with every lamp on it (the page's
   `streetlight:full-paint` mark), with the district's fetch and its reading into columns
   broken out;
4. a scripted pan and zoom, one step per animation frame for `--seconds`: across the whole
   district zoomed out (clusters), from there down to street level and back (every cluster
   level is crossed), and along streets at street level (lamps one by one). Frames per second
   are counted from requestAnimationFrame's timestamps, with each frame's drawing time;
5. the page's memory: the JS heap (CDP `Performance.getMetrics`) and the renderer process's
   own (unique) and resident memory.

Prints the figures and writes bench/results/console_render.json. Targets (issue 19): first
full paint <= 2 s, >= 30 frames per second while panning and zooming.

    .venv/bin/python bench/console_render.py [--lamps 100000] [--loads 3] [--seconds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from playwright.async_api import Page, ViewportSize, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "xunyang"))

from api.security import passwords  # noqa: E402
from bench._common import local_servers, run_directory, write_results  # noqa: E402
from bench.api_load import BUS, SCHEDULE, _generate, _start_api, _until_up  # noqa: E402
from streetlight.contract import (  # noqa: E402
    LampTelemetry,
    TargetKind,
    TelemetryBatch,
    Topics,
    encode,
)
from streetlight.domain import Inventory  # noqa: E402
from streetlight.mqtt import make_client, publish  # noqa: E402
from streetlight.schedule import Groups, load_schedule_file  # noqa: E402
from streetlight.services import ServiceState, ensure_browser, free_port  # noqa: E402
from streetlight.settings import MqttUrl  # noqa: E402
from streetlight.store import open_engine, save_inventory, sessions  # noqa: E402
from streetlight.store.schedules import save_schedule  # noqa: E402
from streetlight.store.users import Role, add_user  # noqa: E402

ADMIN = "bench-admin"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
VIEWPORT: ViewportSize = {"width": 1600, "height": 900}

# one step of the scripted pan and zoom per animation frame, for `seconds`; each frame's
# timestamp and drawing time, per phase
PAN_AND_ZOOM = """async (seconds) => {
  const map = window.streetlight.map;
  const view = map.view;
  map.fitAll();
  const home = {cx: view.cx, cy: view.cy, z: view.z};
  const spanX = view.w / 2 ** home.z;
  const street = 17.6;
  const phases = [
    ['pan zoomed out', 0.4, (f) => {  // a circle across the district, clusters
      view.z = home.z + 0.5;
      view.cx = home.cx + 0.3 * spanX * Math.cos(2 * Math.PI * f);
      view.cy = home.cy + 0.3 * spanX * Math.sin(2 * Math.PI * f);
    }],
    ['zoom in and out', 0.4, (f) => {  // down to street level and back, every level crossed
      view.cx = home.cx; view.cy = home.cy;
      view.z = home.z + (street - home.z) * (1 - Math.abs(1 - 2 * f));
    }],
    ['pan at street level', 0.2, (f) => {  // along the streets, lamps one by one
      view.z = street;
      view.cx = home.cx + 0.15 * spanX * (f - 0.5);
      view.cy = home.cy + 0.05 * spanX * Math.sin(6 * f);
    }],
  ];
  const frames = phases.map(() => []);
  const draws = phases.map(() => []);
  await new Promise((done) => {
    let start = null;
    const step = (t) => {
      if (start === null) start = t;
      const elapsed = (t - start) / 1000;
      if (elapsed >= seconds) { done(); return; }
      let from = 0;
      for (let p = 0; p < phases.length; p += 1) {
        const length = phases[p][1] * seconds;
        if (elapsed < from + length || p === phases.length - 1) {
          phases[p][2](Math.min(1, (elapsed - from) / length));
          const t0 = performance.now();
          map.draw();
          draws[p].push(performance.now() - t0);
          frames[p].push(t);
          break;
        }
        from += length;
      }
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  map.fitAll();
  return phases.map(([name], p) => ({name, frames: frames[p], draws: draws[p]}));
}"""


async def _fill(db_url: str, inventory: Inventory, password: str) -> None:
    engine = await open_engine(db_url)
    now = datetime.now(UTC)
    try:
        async with sessions(engine)() as session, session.begin():
            await save_inventory(session, inventory, "bench")
            await save_schedule(session, load_schedule_file(SCHEDULE), Groups(inventory),
                                by="bench", at=now)  # fmt: skip
            await add_user(session, name=ADMIN, role=Role.ADMIN,
                           password_hash=passwords.hash(password), maintainer_id=None,
                           by="bench", at=now)  # fmt: skip
    finally:
        await engine.dispose()


async def _report_every_lamp(url: MqttUrl, inventory: Inventory) -> None:
    """Every lamp reports: 90 % on at full power, and some dimmed, dark (on, drawing nothing)
    or off, so the map has several states to draw."""
    rng = random.Random(19)
    topic = Topics(BUS).telemetry(TargetKind.GATEWAY, "gw-bench")
    now = datetime.now(UTC)
    lamps = sorted(inventory.lamps)

    def reading(lamp: str) -> LampTelemetry:
        rated = inventory.lamps[lamp].rated_power_w
        roll = rng.random()
        if roll < 0.90:
            return LampTelemetry(lamp=lamp, ts=now, relay_on=True, dim_pct=100, power_w=rated)
        if roll < 0.95:
            return LampTelemetry(lamp=lamp, ts=now, relay_on=True, dim_pct=50,
                                 power_w=rated / 2)  # fmt: skip
        if roll < 0.98:
            return LampTelemetry(lamp=lamp, ts=now, relay_on=True, dim_pct=100, power_w=0.4)
        return LampTelemetry(lamp=lamp, ts=now, relay_on=False, dim_pct=0, power_w=0.0)

    async with make_client(url, identifier="bench-console-reports") as client:
        for first in range(0, len(lamps), 1000):
            readings = [reading(lamp) for lamp in lamps[first : first + 1000]]
            batch = TelemetryBatch(source="gw-bench", lamps=readings)
            await publish(client, topic, encode(batch))


async def _marks(page: Page) -> dict[str, float]:
    marks: dict[str, float] = await page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('mark')"
        ".filter((m) => m.name.startsWith('streetlight:'))"
        ".map((m) => [m.name.slice(12), m.startTime]))"
    )
    return marks


async def _until_painted(page: Page, within: float = 60) -> dict[str, float]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        marks = await _marks(page)
        if "full-paint" in marks:
            return marks
        await asyncio.sleep(0.05)
    raise SystemExit("the page never painted the district")


async def _at_rest(page: Page, within: float = 60) -> None:
    """Until the page has asked all it asks at a load (the names' tree comes after the map's
    first paint), so the next load does not find the API still answering this one."""
    deadline = time.monotonic() + within
    while not await page.evaluate("() => !!window.streetlight.ctx"):
        if time.monotonic() > deadline:
            raise SystemExit("the page never loaded the asset tree")
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)


async def _load(page: Page) -> dict[str, Any]:
    """Reload the page (logged in) and time its first full paint."""
    await _at_rest(page)
    await page.reload()
    marks = await _until_painted(page)
    district = await page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter((r) => r.name.endsWith('/api/v1/district/state'))"
        ".map((r) => ({bytes: r.encodedBodySize, ms: r.duration}))[0]"
    )
    return {
        "first_full_paint_ms": round(marks["full-paint"], 1),
        "district_asked_at_ms": round(marks["district-asked"], 1),
        "district_fetch_ms": round(marks["district-read"] - marks["district-asked"], 1),
        "district_columns_ms": round(marks["district-ready"] - marks["district-read"], 1),
        "after_columns_to_paint_ms": round(marks["full-paint"] - marks["district-ready"], 1),
        "district_bytes": district["bytes"] if district else None,
    }


def _frames(phase: dict[str, Any]) -> dict[str, Any]:
    stamps, draws = phase["frames"], phase["draws"]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    seconds = (stamps[-1] - stamps[0]) / 1000 if len(stamps) > 1 else 0
    ordered = sorted(draws)
    return {
        "frames": len(stamps),
        "fps": round((len(stamps) - 1) / seconds, 1) if seconds else 0,
        "frame_ms_p50": round(statistics.median(gaps), 1) if gaps else None,
        "frame_ms_max": round(max(gaps), 1) if gaps else None,
        "draw_ms_p50": round(statistics.median(ordered), 2),
        "draw_ms_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "draw_ms_max": round(ordered[-1], 2),
    }


def _renderer_memory_mib() -> dict[str, float] | None:
    """The page's renderer process (the Chromium renderer with the most memory of its own):
    its resident memory, and its unique set (what closing it would give back; the resident
    figure counts libraries and buffers shared with the browser's other processes)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "--type=renderer" in " ".join(child.cmdline()):
                info = child.memory_full_info()
                found.append((info.uss, info.rss))
        except psutil.Error:
            continue
    if not found:
        return None
    uss, rss = max(found)
    return {"renderer_uss_mib": round(uss / 2**20, 1), "renderer_rss_mib": round(rss / 2**20, 1)}


async def _browse(base: str, password: str, args: argparse.Namespace) -> dict[str, Any]:
    executable = await asyncio.to_thread(ensure_browser)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True,
            args=[*CHROMIUM_ARGS, "--enable-precise-memory-info"],
        )  # fmt: skip
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            await page.goto(f"{base}/")
            await page.fill("#login input[name=username]", ADMIN)
            await page.fill("#login input[name=password]", password)
            await page.click("#login button[type=submit]")
            await _until_painted(page)
            loads = [await _load(page) for _ in range(args.loads)]
            await _at_rest(page)
            phases = await page.evaluate(PAN_AND_ZOOM, args.seconds)
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Performance.enable")
            metrics = {m["name"]: m["value"] for m in
                       (await cdp.send("Performance.getMetrics"))["metrics"]}  # fmt: skip
            await page.screenshot(path=str(args.screenshot))
            lamps = await page.evaluate("() => window.streetlight.district.lamps.n")
            pictures = await page.evaluate("() => window.streetlight.map.sprites")
            renderer = _renderer_memory_mib() or {}
        finally:
            await browser.close()
    paints = [load["first_full_paint_ms"] for load in loads]
    all_frames = [t for phase in phases for t in phase["frames"]]
    return {
        "lamps_on_the_map": lamps,
        "viewport": VIEWPORT,
        "first_full_paint_ms": {
            "median": round(statistics.median(paints), 1),
            "max": max(paints),
            "loads": loads,
        },
        "pan_and_zoom": {
            "seconds": args.seconds,
            "fps": round(len(all_frames) / args.seconds, 1),
            "phases": {phase["name"]: _frames(phase) for phase in phases},
        },
        "memory": {
            "js_heap_used_mib": round(metrics["JSHeapUsedSize"] / 2**20, 1),
            "js_heap_total_mib": round(metrics["JSHeapTotalSize"] / 2**20, 1),
            "dom_nodes": int(metrics["Nodes"]),
            "cached_pictures": pictures,
            **renderer,
        },
    }


async def _until_reported(base: str, password: str, lamps: int, within: float = 120) -> None:
    """Wait until the API's live state has every lamp's report (none `unknown`)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        form = {"username": ADMIN, "password": password}
        token = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            district = (await client.get("/api/v1/district/state", headers=headers)).json()
            unknown = district["states"].index("unknown")
            if district["lamps"]["state"].count(unknown) == 0:
                return
            await asyncio.sleep(1)
    raise SystemExit(f"the API has not heard all {lamps} lamps' reports in {within} s")


def _district(lamps: int) -> Inventory:
    """The sample's recipe at the smallest scale with at least `lamps` lamps."""
    inventory = _generate(lamps)
    while len(inventory.lamps) < lamps:
        inventory = _generate(int(lamps * lamps / len(inventory.lamps)) + 2305)
    return inventory


async def run(state: ServiceState, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    inventory = _district(args.lamps)
    print(f"district: {len(inventory.lamps)} lamps, {len(inventory.cabinets)} cabinets", flush=True)
    db_url = f"sqlite:///{directory / 'console.db'}"
    password = secrets.token_urlsafe(12)
    await _fill(db_url, inventory, password)
    port = free_port()
    api = _start_api(db_url, state, port, directory / "api-console.log")
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_up(base, api)
        await _report_every_lamp(MqttUrl.parse(state.mqtt_url), inventory)
        await _until_reported(base, password, len(inventory.lamps))
        load_before = os.getloadavg()
        figures = await _browse(base, password, args)
        figures["machine_load"] = {"before": [round(x, 2) for x in load_before],
                                   "after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
        figures["api_rss_mib"] = round(psutil.Process(api.pid).memory_info().rss / 2**20, 1)
    finally:
        api.terminate()
        api.wait(30)
    return {"lamps": len(inventory.lamps), **figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lamps", type=int, default=100_000)
    parser.add_argument("--loads", type=int, default=3, help="page loads to time")
    parser.add_argument("--seconds", type=float, default=12.0, help="of panning and zooming")
    parser.add_argument("--var", type=Path, help="keep the store and logs here")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "bench" / "results" /
                        "console_render.png")  # fmt: skip
    args = parser.parse_args()
    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
    with local_servers() as state, run_directory(args.var, "streetlight-console-") as directory:
        results = asyncio.run(run(state, directory, args))
    path = write_results("console_render", results)
    pan = results["pan_and_zoom"]
    print(f"first full paint: {results['first_full_paint_ms']['median']} ms (median of "
          f"{args.loads} loads; target <= 2000)")  # fmt: skip
    print(f"pan and zoom: {pan['fps']} frames/s over {pan['seconds']} s (target >= 30)")
    for name, phase in pan["phases"].items():
        print(f"  {name}: {phase}")
    print(f"memory: {results['memory']}")
    print(f"figures in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
