"""A throwaway PostgreSQL server (Debian's `postgresql`) on a free loopback port.

For the store's tests and benchmarks on PostgreSQL: `initdb` makes a cluster in a directory of
its own (trust authentication, loopback only, no fsync: nothing here must survive a crash), and
`postgres` serves it as the `postgres` system user, since PostgreSQL refuses to run as root.
Each test asks for a database of its own (`create_database`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from streetlight.services._install import _apt_install, find_program
from streetlight.services._servers import ManagedServer, ServiceError

SUPERUSER = "streetlight"
PACKAGE = "postgresql"
PROGRAMS = ("initdb", "postgres", "pg_isready", "createdb")


def postgres_programs() -> dict[str, Path]:
    """Debian keeps PostgreSQL's programs in /usr/lib/postgresql/<version>/bin, off the PATH;
    the package is installed with apt-get when they are missing."""

    def found() -> dict[str, Path] | None:
        for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
            paths = {name: Path(bindir) / name for name in PROGRAMS}
            if all(p.is_file() and os.access(p, os.X_OK) for p in paths.values()):
                return paths
        on_path = {name: find_program(name) for name in PROGRAMS}
        return (
            {k: v for k, v in on_path.items() if v is not None} if all(on_path.values()) else None
        )

    programs = found()
    if programs is None:
        _apt_install([PACKAGE])
        programs = found()
    if programs is None:
        raise ServiceError(f"PostgreSQL's programs {PROGRAMS} not found after installing {PACKAGE}")
    return programs


class Postgres(ManagedServer):
    name = "postgres"

    def __init__(self, directory: Path | None = None, user: str = "postgres") -> None:
        programs = postgres_programs()
        # under /tmp unless told: the server's user must reach the directory, and a test's own
        # temporary directory is private to root
        base = directory or Path(tempfile.mkdtemp(prefix="streetlight-pg-"))
        super().__init__(programs["postgres"], base)
        self.programs = programs
        self.run_as = user if os.geteuid() == 0 else None
        self.data = self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        if (self.data / "PG_VERSION").exists():
            return
        command = [str(self.programs["initdb"]), "-D", str(self.data), "-U", SUPERUSER,
                   "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]  # fmt: skip
        result = subprocess.run(  # noqa: S603 - Debian's program, on our own directory
            command, user=self.run_as, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {(result.stderr or result.stdout).strip()[-300:]}")

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [str(self.program), "-D", str(self.data), "-p", str(self.port), *options]

    def _ready(self) -> bool:
        result = subprocess.run(  # noqa: S603 - Debian's program
            [str(self.programs["pg_isready"]), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        result = subprocess.run(  # noqa: S603 - Debian's program
            [str(self.programs["createdb"]), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             SUPERUSER, name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServiceError(f"createdb {name}: {result.stderr.strip()}")
        return self.url(name)

    def remove(self) -> None:
        """Stop it and delete its data."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
