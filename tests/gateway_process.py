"""`streetlight gateway` as a process of its own, for tests that kill it or must see it live on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from streetlight.domain import Inventory
from streetlight.inventory import dump_geojson
from streetlight.services import ServiceState
from tests.conftest import ROOT


class GatewayProcess:
    """One gateway process at a time, with its configuration, inventory and log in `directory`.

    It runs on wall time; `config` is merged over a configuration for the MQTT profile
    slc-mqtt-a (no Modbus), its spool in `directory`."""

    def __init__(
        self,
        directory: Path,
        state: ServiceState,
        root: str,
        inventory: Inventory,
        *,
        influx_url: str,
        influx_db: str,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        inventory_path = directory / "inventory.geojson"
        inventory_path.write_text(json.dumps(dump_geojson(inventory)))
        document: dict[str, Any] = {
            "id": "gw-test",
            "inventory": str(inventory_path),
            "mqtt": {"profiles": ["slc-mqtt-a"]},
            "spool": {"dir": str(directory / "spool"), "max_mb": 16},
            "health_interval_s": 3600,
            "influx_flush_s": 0.1,
            **(config or {}),
        }
        self.config_path = directory / "gateway.yaml"
        self.config_path.write_text(yaml.safe_dump(document))
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")},
            "STREETLIGHT_MQTT_URL": state.url_for("gateway"),
            "STREETLIGHT_INFLUX_URL": influx_url,
            "STREETLIGHT_INFLUX_DB": influx_db,
            "STREETLIGHT_INFLUX_RETENTION": "INF",
            "STREETLIGHT_MQTT_ROOT": root,
            "STREETLIGHT_FIELD_ROOT": root,
            "STREETLIGHT_PROFILES_DIR": str(ROOT / "profiles"),
        }
        self.log = directory / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streetlight", "gateway", "--config", str(self.config_path)],
                env=self.env, cwd=self.directory, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def kill(self) -> None:
        """SIGKILL: no warning, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)

    async def stop(self, within: float = 30.0) -> float:
        """SIGTERM, as a service manager stops it; the seconds it took to end (killed, and an
        error, if it does not end `within`)."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, within)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
            raise AssertionError(
                f"the gateway did not stop within {within} s:\n{self.output()}"
            ) from exc
        return loop.time() - started

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:] if self.log.exists() else ""
