"""What every benchmark shares: local servers, timing, and writing the figures as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streetlight.services import LocalServices, ServiceState

if TYPE_CHECKING:
    from streetlight.cli._demo import Role

RESULTS = Path(__file__).with_name("results")
ENDPOINTS_WAIT_S = 120.0  # for a simulator to open its Modbus ports


@contextmanager
def local_servers() -> Iterator[ServiceState]:
    """Mosquitto and influxd of the benchmark's own, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="streetlight-bench-") as directory:
        servers = LocalServices(Path(directory))
        try:
            yield servers.start()
        finally:
            servers.stop()


@contextmanager
def run_directory(var: Path | None, prefix: str) -> Iterator[Path]:
    """`var` (kept afterwards), or a temporary directory removed at the end."""
    if var is not None:
        var.mkdir(parents=True, exist_ok=True)
        yield var.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


async def wait_for_file(path: Path, role: Role) -> None:
    """Wait until `role` (a simulator) has written `path`; exit if it stopped or took long."""
    deadline = time.monotonic() + ENDPOINTS_WAIT_S
    while not await asyncio.to_thread(path.exists):
        if role.exited is not None or time.monotonic() > deadline:
            raise SystemExit(f"the simulator opened no Modbus ports; see {role.log_path}")
        await asyncio.sleep(0.2)


@dataclass
class Timer:
    """Wall and CPU time of this process over a block."""

    wall: float = 0.0
    cpu: float = 0.0
    _start: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def __enter__(self) -> Timer:
        self._start = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self._start[0]
        self.cpu = time.process_time() - self._start[1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Write the figures to bench/results/<name>.json and return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
