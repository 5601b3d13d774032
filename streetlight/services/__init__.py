"""Local Mosquitto and InfluxDB for development, the demo and the tests.

`LocalServices` runs both as children of the current process (the tests' session fixture and
`streetlight demo` use it). `up`/`down`/`status` back `streetlight services up|down|status`:
`up` leaves the servers running and writes their URLs and PIDs to ``<var>/services.json``;
`down` stops them by those PIDs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from streetlight.profiles import MqttLampProfile, load_profiles
from streetlight.services._clientid import ensure_build_tools
from streetlight.services._install import (
    CONSOLE_PACKAGES,
    REPORT_PACKAGES,
    SERVER_PACKAGES,
    TOOL_PACKAGES,
    InstallError,
    ensure_browser,
    ensure_programs,
    ensure_report_tools,
    find_program,
)
from streetlight.services._postgres import Postgres
from streetlight.services._servers import (
    BrokerAuth,
    Influxd,
    ManagedServer,
    Mosquitto,
    ServiceError,
    TlsFiles,
    die_with_parent,
    free_port,
    pid_alive,
    stop_pid,
)

STATE_FILE = "services.json"


@dataclass(frozen=True)
class ServiceState:
    """What `services up` started: where to reach it, as whom, and how to stop it."""

    directory: str
    mqtt_url: str  # with the admin identity's credentials
    influx_url: str
    pids: dict[str, int]
    markers: dict[str, str]  # a string in each server's command line: its config path
    started_at: str
    mqtt_urls: dict[str, str] = field(default_factory=dict)  # identity -> URL with its password
    credentials_file: str | None = None

    def url_for(self, identity: str) -> str:
        """The broker's URL as `identity` (a role or a device class)."""
        return self.mqtt_urls.get(identity, self.mqtt_url)

    def env(self, identity: str = "admin") -> dict[str, str]:
        """The settings that point a Streetlight process at these servers, as `identity`."""
        return {
            "STREETLIGHT_MQTT_URL": self.url_for(identity),
            "STREETLIGHT_INFLUX_URL": self.influx_url,
        }

    def alive(self) -> dict[str, bool]:
        return {name: pid_alive(pid, self.markers[name]) for name, pid in self.pids.items()}


class LocalServices:
    """Mosquitto and influxd as children of this process, under `directory`."""

    def __init__(
        self,
        directory: Path,
        *,
        auth: BrokerAuth | None = None,
        influx_admin: tuple[str, str] | None = None,
        attached: bool = True,
    ) -> None:
        """`attached` servers are stopped if this process dies without stopping them;
        `auth` closes the broker to all but the project's identities (None: anonymous)."""
        programs = ensure_programs(SERVER_PACKAGES)
        self.directory = directory.resolve()
        self.mosquitto = Mosquitto(
            programs["mosquitto"],
            self.directory / "mosquitto",
            auth=auth,
            passwd_program=programs["mosquitto_passwd"],
        )
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
        mosquitto = self.mosquitto
        return ServiceState(
            directory=str(self.directory),
            mqtt_url=mosquitto.url(),
            influx_url=self.influxd.url(),
            pids={server.name: server.pid or 0 for server in self.servers},
            markers={server.name: str(server.config_path) for server in self.servers},
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            mqtt_urls={identity: mosquitto.url(identity) for identity in mosquitto.credentials},
            credentials_file=(
                str(mosquitto.directory / "credentials.json") if mosquitto.credentials else None
            ),
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


def up(var_dir: Path, auth: BrokerAuth | None = None) -> ServiceState:
    """Start the servers in the background and record them; refuses if they already run."""
    current = read_state(var_dir)
    if current is not None and any(current.alive().values()):
        raise ServiceError(
            f"services already running (pids {current.pids}); run 'streetlight services down'"
        )
    state = LocalServices(var_dir / "services", auth=auth, attached=False).start()
    path = var_dir / STATE_FILE
    path.write_text(json.dumps(asdict(state), indent=2) + "\n")
    path.chmod(0o600)  # it holds the broker's passwords
    return state


def broker_auth(bus_root: str, field_root: str, profiles_dir: Path) -> BrokerAuth:
    """The project's identities for a broker serving these roots, device classes from profiles."""
    classes = {
        profile_id: profile
        for profile_id, profile in load_profiles(profiles_dir).items()
        if isinstance(profile, MqttLampProfile)
    }
    return BrokerAuth(bus_root=bus_root, field_root=field_root, device_classes=classes)


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
    "CONSOLE_PACKAGES",
    "REPORT_PACKAGES",
    "SERVER_PACKAGES",
    "STATE_FILE",
    "TOOL_PACKAGES",
    "BrokerAuth",
    "Influxd",
    "InstallError",
    "LocalServices",
    "ManagedServer",
    "Mosquitto",
    "Postgres",
    "ServiceError",
    "ServiceState",
    "TlsFiles",
    "broker_auth",
    "die_with_parent",
    "down",
    "ensure_browser",
    "ensure_build_tools",
    "ensure_programs",
    "ensure_report_tools",
    "find_program",
    "free_port",
    "read_state",
    "up",
]
