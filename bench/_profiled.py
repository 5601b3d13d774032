"""Run a `streetlight` command under cProfile, every thread of it (the MQTT network thread too).

    python bench/_profiled.py OUT_DIR gateway --config gw.yaml

On exit, each thread's profile goes to OUT_DIR/<thread name>.prof, and the main thread's and
the others' top functions by own time are printed to OUT_DIR/summary.txt. Used by
`bench/gateway_ingest.py --profile DIR`; profiling slows the process, so its figures are not
the benchmark's.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streetlight.cli import main  # noqa: E402

TOP = 30

_profiles: dict[str, cProfile.Profile] = {}


def _start_in_thread(*_args: object) -> None:
    """The first profiler event of a new thread: give the thread a profiler of its own (its
    `enable` replaces this hook for the thread)."""
    profile = cProfile.Profile()
    _profiles[threading.current_thread().name] = profile
    profile.enable()


def _write(directory: Path) -> None:
    summary = io.StringIO()
    for name, profile in _profiles.items():
        profile.disable()
        profile.dump_stats(directory / f"{name}.prof")
        summary.write(f"=== {name}\n")
        stats = pstats.Stats(profile, stream=summary)
        stats.sort_stats("tottime").print_stats(TOP)
        stats.sort_stats("cumulative").print_stats(TOP)
    (directory / "summary.txt").write_text(summary.getvalue())


def run(directory: Path, argv: list[str]) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    threading.setprofile(_start_in_thread)
    profile = cProfile.Profile()
    _profiles["main"] = profile
    sys.argv = ["streetlight", *argv]
    profile.enable()
    try:
        return main()
    finally:
        threading.setprofile(None)
        _write(directory)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), sys.argv[2:]))
