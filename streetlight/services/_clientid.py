"""The broker plugin that binds client ids to identities, built from its C source when needed.

Mosquitto cannot say which identity may use which client id (the ACL speaks of topics only,
and `use_username_as_clientid` would let each identity hold one connection at a time, while a
device class's nodes share one identity). `clientid_binding.c` is a small plugin that refuses a
client id that is not its identity's own name or that name and "-" (docs/contract.md, "Bus
identities"). It is compiled with the system's C compiler against Mosquitto's plugin headers
(Debian's `mosquitto-dev` and `libmosquitto-dev`, installed when missing) into the broker's
directory, once per source change.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from streetlight.services._install import InstallError, _apt_install, find_program

SOURCE = Path(__file__).with_name("clientid_binding.c")
HEADERS = {
    Path("/usr/include/mosquitto_broker.h"): "mosquitto-dev",
    Path("/usr/include/mosquitto.h"): "libmosquitto-dev",
}
COMPILER = {"cc": "gcc"}


def ensure_build_tools() -> Path:
    """The C compiler, with Mosquitto's plugin headers installed; installs what is missing."""
    missing = sorted({package for header, package in HEADERS.items() if not header.exists()})
    compiler = find_program("cc")
    if compiler is None:
        missing += ["gcc", "libc6-dev"]
    if missing:
        _apt_install(missing)
        compiler = find_program("cc")
    if compiler is None or any(not header.exists() for header in HEADERS):
        raise InstallError("a C compiler and Mosquitto's plugin headers are needed for the broker")
    return compiler


def clientid_plugin(directory: Path) -> Path:
    """The plugin, built into `directory` unless the same source was built there already."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    plugin = directory / f"clientid_binding-{digest}.so"
    if plugin.exists():
        return plugin
    compiler = ensure_build_tools()
    directory.mkdir(parents=True, exist_ok=True)
    built = plugin.with_suffix(".tmp")
    result = subprocess.run(  # noqa: S603 - the system's compiler on our own source
        [str(compiler), "-shared", "-fPIC", "-O2", "-Wall", "-o", str(built), str(SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise InstallError(f"cannot build the broker's client-id plugin: {result.stderr.strip()}")
    built.replace(plugin)
    return plugin
