"""Debian packages the local servers and tests need, installed with apt-get when missing."""

from __future__ import annotations

import ctypes.util
import logging
import os
import shutil
import subprocess
from pathlib import Path

from streetlight.errors import StreetlightError

logger = logging.getLogger(__name__)

# program -> the Debian package that provides it
SERVER_PACKAGES = {"mosquitto": "mosquitto", "mosquitto_passwd": "mosquitto", "influxd": "influxdb"}
TOOL_PACKAGES = {"mosquitto_sub": "mosquitto-clients", "mbpoll": "mbpoll", "openssl": "openssl"}
# the web console's tests and benchmark drive Debian's Chromium (Playwright cannot fetch a
# browser of its own here), with CJK fonts so that its Chinese renders; npm installs its packages
BROWSER_PACKAGES = {"chromium": "chromium"}
FONT_FILES = {Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"): "fonts-noto-cjk"}
CONSOLE_PACKAGES = {"npm": "npm"}
# reports: WeasyPrint lays out with Pango, which finds fonts through fontconfig (the CJK font
# above, for Chinese); poppler's pdftotext and pdftoppm read a PDF back (tests, the README's
# picture); matplotlib asks fc-match for the CJK font of its charts
REPORT_PACKAGES = {
    "pdftotext": "poppler-utils",
    "pdftoppm": "poppler-utils",
    "fc-match": "fontconfig",
}
REPORT_LIBRARIES = {  # ctypes' name of the shared library -> its Debian package
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz-subset": "libharfbuzz-subset0",
}
_SBIN = (Path("/usr/sbin"), Path("/usr/bin"), Path("/sbin"))


class InstallError(StreetlightError):
    """A program is missing and could not be installed."""


def find_program(name: str) -> Path | None:
    """The program's path, also looking in sbin directories a non-root PATH may lack."""
    found = shutil.which(name)
    if found:
        return Path(found)
    for directory in _SBIN:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_programs(programs: dict[str, str]) -> dict[str, Path]:
    """Paths of the programs, installing their Debian packages first where they are missing."""
    missing = sorted({package for name, package in programs.items() if not find_program(name)})
    if missing:
        _apt_install(missing)
    paths = {}
    for name, package in programs.items():
        path = find_program(name)
        if path is None:
            raise InstallError(f"{name} not found after installing Debian package {package!r}")
        paths[name] = path
    return paths


def ensure_files(files: dict[Path, str]) -> None:
    """Install the Debian packages of the files that are missing (fonts, data)."""
    missing = sorted({package for path, package in files.items() if not path.exists()})
    if missing:
        _apt_install(missing)
    for path, package in files.items():
        if not path.exists():
            raise InstallError(f"{path} not found after installing Debian package {package!r}")


def ensure_browser() -> Path:
    """Debian's Chromium, with the fonts a Chinese page needs, installed when missing."""
    ensure_files(FONT_FILES)
    return ensure_programs(BROWSER_PACKAGES)["chromium"]


def ensure_libraries(libraries: dict[str, str]) -> None:
    """Install the Debian packages of the shared libraries the dynamic linker cannot find."""
    missing = sorted({pkg for name, pkg in libraries.items() if not ctypes.util.find_library(name)})
    if missing:
        _apt_install(missing)
    for name, package in libraries.items():
        if not ctypes.util.find_library(name):
            raise InstallError(f"lib{name} not found after installing Debian package {package!r}")


def ensure_report_tools() -> dict[str, Path]:
    """What the reports need from Debian: Pango's libraries, the CJK font, and poppler's
    programs (returned by name), installed when missing."""
    ensure_files(FONT_FILES)
    ensure_libraries(REPORT_LIBRARIES)
    return ensure_programs(REPORT_PACKAGES)


def _apt_install(packages: list[str]) -> None:
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise InstallError(
                f"missing Debian packages {', '.join(packages)}; as root run: {' '.join(command)}"
            )
        command = ["sudo", "-n", *command]
    if not shutil.which("apt-get"):
        raise InstallError(f"missing packages {', '.join(packages)} and no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    logger.warning("installing Debian packages: %s", " ".join(packages))
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        # a fresh machine may have no package lists yet
        update = [*command[: command.index("install")], "update"]
        subprocess.run(update, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InstallError(f"apt-get could not install {', '.join(packages)}: {tail[0]}")
