"""Mosquitto and influxd as child processes on free loopback ports, data under one directory.

Each server writes its own config file, starts, is waited for until it answers, and is stopped
by PID (SIGTERM, then SIGKILL after a grace period). A stopped server can be started again on
the same port with the same data, which the fault tests use to take a server away and back.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import logging
import os
import pwd
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from streetlight.errors import StreetlightError
from streetlight.profiles import MqttLampProfile
from streetlight.services._clientid import clientid_plugin
from streetlight.services._mqtt_auth import ROLES, acl_text, load_credentials, write_password_file

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
STOP_GRACE = 10.0


class ServiceError(StreetlightError):
    """A local server did not start or stop; the message has the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the server that takes it may still race another)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if `pid` runs and (when given) its command line contains `marker`."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if status.split(") ", 1)[-1].startswith("Z"):  # a zombie has exited
        return False
    return marker is None or marker.encode() in cmdline


def stop_pid(pid: int, marker: str, name: str, grace: float = STOP_GRACE) -> None:
    """Stop a server we started, identified by PID and a marker in its command line."""
    if not pid_alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not pid_alive(pid, marker):
            return
        time.sleep(0.05)
    logger.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, pid, grace)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def die_with_parent() -> None:
    """In a child, before exec: be sent SIGTERM if the process that started us dies.

    So that a demo or a test run that is killed outright (SIGKILL, no cleanup) still leaves
    no server behind. Linux only; elsewhere a no-op.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


class ManagedServer(ABC):
    """One server process with its config, data and log under `directory`."""

    name: str
    run_as: str | None = None  # a system user to run the server as (None: as we are)

    def __init__(self, program: Path, directory: Path) -> None:
        self.program = program
        self.directory = directory.resolve()
        self.port = 0
        self.attached = True  # stops when this process dies; `services up` detaches
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / f"{self.name}.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def _write_config(self) -> None: ...

    @abstractmethod
    def _command(self) -> list[str]: ...

    @abstractmethod
    def _ready(self) -> bool: ...

    def _pick_ports(self) -> None:
        self.port = free_port()

    def start(self) -> None:
        """Start (on the same port as before, if it ran before) and wait until it answers."""
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.port else 3
        for attempt in range(1, attempts + 1):
            if not self.port or attempt > 1:
                self._pick_ports()
            self._write_config()
            if self._launch():
                return
        raise ServiceError(f"{self.name} did not start: {_log_tail(self.log_path)}")

    def _launch(self) -> bool:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - a fixed program and our config
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
                user=self.run_as,
                preexec_fn=die_with_parent if self.attached else None,  # noqa: PLW1509 - no threads touch it before exec
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False  # most likely the port was taken meanwhile: try another
            if self._ready():
                logger.info("%s started: pid %d, %s", self.name, self._process.pid, self.url())
                return True
            time.sleep(0.05)
        self.stop()
        raise ServiceError(
            f"{self.name} did not answer within {START_TIMEOUT:.0f} s: {_log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Stop by PID: SIGTERM, then SIGKILL after the grace period; reaps the child."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            logger.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, process.pid)
            process.kill()
            process.wait(STOP_GRACE)

    def kill(self) -> None:
        """Stop at once with SIGKILL, as a crash would (no chance to save state)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_GRACE)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class BrokerAuth:
    """Password authentication and the project's ACL (see `_mqtt_auth`)."""

    bus_root: str = "streetlight"
    field_root: str = "field"
    device_classes: dict[str, MqttLampProfile] = field(default_factory=dict)


@dataclass(frozen=True)
class TlsFiles:
    """A certificate and key for a TLS listener (mqtts://)."""

    certfile: Path
    keyfile: Path


class Mosquitto(ManagedServer):
    """The MQTT broker. Persistent: sessions and queued QoS 1 messages survive a restart."""

    name = "mosquitto"

    def __init__(
        self,
        program: Path,
        directory: Path,
        *,
        auth: BrokerAuth | None = None,
        passwd_program: Path | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        super().__init__(program, directory)
        self.auth = auth
        self.passwd_program = passwd_program
        self.tls = tls
        self.tls_port = 0
        self.credentials: dict[str, str] = {}

    def url(self, identity: str | None = "admin") -> str:
        """The broker's URL, with `identity`'s credentials when the broker wants them."""
        password = self.credentials.get(identity or "")
        user = f"{identity}:{quote(password, safe='')}@" if identity and password else ""
        return f"mqtt://{user}127.0.0.1:{self.port}"

    def tls_url(self, identity: str | None = "admin") -> str:
        return (
            self.url(identity).replace("mqtt://", "mqtts://").rsplit(":", 1)[0]
            + f":{self.tls_port}"
        )

    def _pick_ports(self) -> None:
        self.port = free_port()
        self.tls_port = free_port() if self.tls else 0

    def _write_config(self) -> None:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = [
            "# written by streetlight services; see docs/contract.md for the choices",
            f"listener {self.port} 127.0.0.1",
            *self._security_lines(),
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 30",
            # a gateway that restarts must find its queued QoS 1 telemetry waiting for it
            "max_queued_messages 1000000",
            # the gateway acknowledges a report once its batch is in InfluxDB (or spooled):
            # the broker must let that many be unacknowledged, or ingest stalls on the limit
            "max_inflight_messages 20000",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "connection_messages false",
            # run as whoever started it (as it does for any user but root): a broker that
            # changed its user would lose the signal that stops it with its parent
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _security_lines(self) -> list[str]:
        if self.auth is None:
            return ["allow_anonymous true"]
        auth = self.auth
        identities = [*ROLES, *auth.device_classes]
        self.credentials = load_credentials(self.directory / "credentials.json", identities)
        passwords, acl = self.directory / "passwords", self.directory / "acl"
        if self.passwd_program is None:
            raise ServiceError("mosquitto_passwd is needed for password authentication")
        write_password_file(passwords, self.credentials, self.passwd_program)
        acl.write_text(acl_text(auth.bus_root, auth.field_root, auth.device_classes))
        return [
            "allow_anonymous false",
            # an identity may use only client ids of its own: "<identity>" or "<identity>-..."
            f"plugin {clientid_plugin(self.directory)}",
            f"password_file {passwords}",
            f"acl_file {acl}",
        ]

    def _command(self) -> list[str]:
        return [str(self.program), "-c", str(self.config_path)]

    def _ready(self) -> bool:
        return _port_open(self.port)


class Influxd(ManagedServer):
    """InfluxDB 1.x; optionally with authentication and a first admin user."""

    name = "influxd"

    def __init__(
        self, program: Path, directory: Path, admin: tuple[str, str] | None = None
    ) -> None:
        super().__init__(program, directory)
        self.rpc_port = 0
        self.admin = admin  # (user, password): enable authentication with this first admin

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _pick_ports(self) -> None:
        self.port, self.rpc_port = free_port(), free_port()

    def _write_config(self) -> None:
        d = self.directory
        self.config_path.write_text(
            f"""# written by streetlight services; see docs/contract.md for the choices
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  index-version = "tsi1"
  # 100,000 lamps are 100,000 values of the tag "lamp": above the default limit of 100,000
  max-values-per-tag = 0
[coordinator]
  log-queries-after = "0s"
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  auth-enabled = {"true" if self.admin else "false"}
[monitor]
  store-enabled = false
[continuous_queries]
  log-enabled = false
[logging]
  level = "warn"
"""
        )

    def _command(self) -> list[str]:
        return [str(self.program), "-config", str(self.config_path)]

    def _ready(self) -> bool:
        try:
            status = self._http("GET", "/ping")
        except OSError:
            return False
        if status == 204 and self.admin and not (self.directory / "admin-created").exists():
            # with auth enabled, InfluxDB 1.x lets the first admin be created without credentials
            user, password = self.admin
            statement = f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
            if self._http("POST", "/query?" + urlencode({"q": statement})) != 200:
                raise ServiceError(f"influxd: could not create admin user {user!r}")
            (self.directory / "admin-created").touch()
        return status == 204

    def _http(self, method: str, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request(method, path)
            return connection.getresponse().status
        finally:
            connection.close()
