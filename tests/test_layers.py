"""The layering of the packages, from the import graph (docs/architecture.md).

The process packages (gateway, controller, simulator, api, dashboards) stand on the core
package `streetlight` and never on one another, and the core stands on none of them, so the
API can record operator intent and serve alarms without importing the controller. The contracts
are declared once, in pyproject.toml's `[tool.importlinter]`; import-linter checks them on the
graph grimp builds from every import statement, including those inside functions.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import ROOT

PROCESSES = {"gateway", "controller", "simulator", "api", "dashboards"}


def test_the_contracts_cover_every_process_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["type"]: c for c in config["contracts"]}
    assert set(contracts["independence"]["modules"]) == PROCESSES
    assert contracts["forbidden"]["source_modules"] == ["streetlight"]
    assert set(contracts["forbidden"]["forbidden_modules"]) == PROCESSES
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests", "bench"}
    assert packages == PROCESSES | {"streetlight"}, "a new package needs its place in the layers"


def test_no_process_package_imports_another_and_the_core_imports_none() -> None:
    result = subprocess.run(
        [Path(sys.executable).with_name("lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
