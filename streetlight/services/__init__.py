"""Local Mosquitto and InfluxDB for development, the demo and the tests.

`LocalServices` runs both as children of the current process (the tests' session fixture and
`streetlight demo` use it). `up`/`down`/`status` back `streetlight services up|down|status`:
`up` leaves the servers running and writes their URLs and PIDs to ``<var>/services.json``;
`down` stops them by those PIDs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from streetlight.services._install import (
    SERVER_PACKAGES,
    TOOL_PACKAGES,
    InstallError,
    ensure_programs,
    find_program,
)
from streetlight.services._servers import (
    Influxd,
    ManagedServer,
    Mosquitto,
    ServiceError,
    die_with_parent,
    free_port,
    pid_alive,
    stop_pid,
)

STATE_FILE = "services.json"


@dataclass(frozen=True)
class ServiceState:
    """What `services up` started: where to reach it and how to stop it."""

    directory: str
    mqtt_url: str
    influx_url: str
    pids: dict[str, int]
    markers: dict[str, str]  # a string in each server's command line: its config path
    started_at: str

    def env(self) -> dict[str, str]:
        """The settings that point a Streetlight process at these servers."""
        return {"STREETLIGHT_MQTT_URL": self.mqtt_url, "STREETLIGHT_INFLUX_URL": self.influx_url}

    def alive(self) -> dict[str, bool]:
        return {name: pid_alive(pid, self.markers[name]) for name, pid in self.pids.items()}


class LocalServices:
    """Mosquitto and influxd as children of this process, under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        influx_admin: tuple[str, str] | None = None,
        attached: bool = True,
    ) -> None:
        """`attached` servers are stopped if this process dies without stopping them."""
        programs = ensure_programs(SERVER_PACKAGES)
        self.directory = directory.resolve()
        self.mosquitto = Mosquitto(programs["mosquitto"], self.directory / "mosquitto")
        self.influxd = Influxd(programs["influxd"], self.directory / "influxdb", influx_admin)
        for server in self.servers:
            server.attached = attached

    @property
    def servers(self) -> tuple[ManagedServer, ...]:
        return (self.mosquitto, self.influxd)

    def start(self) -> ServiceState:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        return self.state()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def state(self) -> ServiceState:
        return ServiceState(
            directory=str(self.directory),
            mqtt_url=self.mosquitto.url(),
            influx_url=self.influxd.url(),
            pids={server.name: server.pid or 0 for server in self.servers},
            markers={server.name: str(server.config_path) for server in self.servers},
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def __enter__(self) -> ServiceState:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def read_state(var_dir: Path) -> ServiceState | None:
    path = var_dir / STATE_FILE
    try:
        return ServiceState(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise ServiceError(f"{path}: unreadable state file ({exc}); remove it") from exc


def up(var_dir: Path) -> ServiceState:
    """Start the servers in the background and record them; refuses if they already run."""
    current = read_state(var_dir)
    if current is not None and any(current.alive().values()):
        raise ServiceError(
            f"services already running (pids {current.pids}); run 'streetlight services down'"
        )
    state = LocalServices(var_dir / "services", attached=False).start()
    (var_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")
    return state


def down(var_dir: Path) -> ServiceState | None:
    """Stop what `up` started, by PID; returns what was stopped (None if nothing was)."""
    state = read_state(var_dir)
    if state is None:
        return None
    for name in reversed(list(state.pids)):
        stop_pid(state.pids[name], state.markers[name], name)
    (var_dir / STATE_FILE).unlink()
    return state


__all__ = [
    "SERVER_PACKAGES",
    "STATE_FILE",
    "TOOL_PACKAGES",
    "Influxd",
    "InstallError",
    "LocalServices",
    "ManagedServer",
    "Mosquitto",
    "ServiceError",
    "ServiceState",
    "die_with_parent",
    "down",
    "ensure_programs",
    "find_program",
    "free_port",
    "read_state",
    "up",
]
