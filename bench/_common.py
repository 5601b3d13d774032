"""What every benchmark shares: local servers, timing, and writing the figures as JSON."""

from __future__ import annotations

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
from typing import Any

from streetlight.services import LocalServices, ServiceState

RESULTS = Path(__file__).with_name("results")


@contextmanager
def local_servers() -> Iterator[ServiceState]:
    """Mosquitto and influxd of the benchmark's own, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="streetlight-bench-") as directory:
        servers = LocalServices(Path(directory))
        try:
            yield servers.start()
        finally:
            servers.stop()


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
