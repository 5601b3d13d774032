"""The gateway's configuration file (YAML), validated on load with file, key and reason.

id: gw-1                                  # its name on the bus
sites: all                                # or a list of site ids it serves
inventory: examples/xunyang/inventory.geojson   # absent: the store's asset tree
modbus:
  endpoints_file: var/simulator-endpoints.yaml  # an endpoint map, as the simulator writes
  endpoints: []                           # and/or entries of the same form here
  cabinet_interval_s: 60                  # simulated seconds between polls
  lamp_interval_s: 60
  timeout_s: 2.0                          # wall seconds to wait for an answer
mqtt:
  profiles: [slc-mqtt-a]                  # device profiles whose vendor topics to ingest
spool:
  dir: var/gateway-spool
  max_mb: 256
commands:
  timeout_s: 10.0                         # wall seconds to wait for a device's answer
  attempts: 3
  in_flight: 500                          # carried out at once
  queued: 10000                           # waiting; more are refused (command_overflow)
readings:                                 # null: no limit (replaying recorded data)
  max_ahead_s: 600                        # a report stamped further ahead of the clock: refused
  max_age_s: 86400                        # a report older than this: refused
health_interval_s: 30                     # wall seconds between health reports
shutdown_timeout_s: 10                    # wall seconds from a stop signal to the process's end
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streetlight.domain import ID_PATTERN
from streetlight.errors import StreetlightError
from streetlight.yamlfile import read_yaml

BUS_BATCH_S = 0.5  # by default, the longest a reading waits for its telemetry batch

Id = Annotated[str, Field(pattern=ID_PATTERN.pattern)]


class GatewayConfigError(StreetlightError):
    """A gateway configuration that cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModbusEndpoint(_Strict):
    """One cabinet's Modbus address, with its concentrator's lamps and their slots."""

    cabinet: Id
    host: str
    port: int = Field(ge=1, le=65535)
    unit: int = Field(ge=0, le=255)
    profile: Id
    lamp_profile: Id | None = None
    lamps: dict[str, int] = Field(default_factory=dict)


class ModbusConfig(_Strict):
    endpoints_file: Path | None = None
    endpoints: list[ModbusEndpoint] = Field(default_factory=list)
    cabinet_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    lamp_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    offline_after: int = Field(default=2, ge=1, le=100, description="failed polls in a row")


class MqttConfig(_Strict):
    profiles: list[Id] = Field(default_factory=list)


class SpoolConfig(_Strict):
    dir: Path = Path("var/gateway-spool")
    max_mb: float = Field(default=256, gt=0)


class CommandConfig(_Strict):
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    attempts: int = Field(default=3, ge=1, le=10)
    in_flight: int = Field(default=500, ge=1, le=100_000)
    # commands waiting for one of the in_flight slots; one more is refused (command_overflow)
    queued: int = Field(default=10_000, ge=1, le=1_000_000)


class ReadingsConfig(_Strict):
    """The window around the clock a report's time must fall in (docs/contract.md)."""

    max_ahead_s: float | None = Field(default=600.0, gt=0, le=86_400)
    max_age_s: float | None = Field(default=86_400.0, gt=0, le=366 * 86_400)


class GatewayConfig(_Strict):
    id: Id
    sites: Literal["all"] | list[Id] = "all"
    inventory: Path | None = None
    modbus: ModbusConfig = ModbusConfig()
    mqtt: MqttConfig = MqttConfig()
    spool: SpoolConfig = SpoolConfig()
    commands: CommandConfig = CommandConfig()
    readings: ReadingsConfig = ReadingsConfig()
    health_interval_s: float = Field(default=30.0, gt=0, le=3600)
    # from a stop signal to the process's end, whatever InfluxDB and the broker are doing
    shutdown_timeout_s: float = Field(default=10.0, ge=2, le=600)
    influx_batch_size: int = Field(default=5000, ge=1, le=100_000)
    influx_flush_s: float = Field(default=0.5, gt=0, le=60)
    # the longest a reading waits for its telemetry batch on the bus
    bus_batch_s: float = Field(default=BUS_BATCH_S, gt=0, le=10)

    def all_endpoints(self, base: Path) -> list[ModbusEndpoint]:
        """Inline endpoints and those of `endpoints_file` (relative to the config's folder)."""
        endpoints = list(self.modbus.endpoints)
        if self.modbus.endpoints_file is not None:
            path = self.modbus.endpoints_file
            path = path if path.is_absolute() else base / path
            document = _read_yaml(path)
            entries = document.get("modbus") if isinstance(document, dict) else None
            if not isinstance(entries, list):
                raise GatewayConfigError(f"{path}: expected a 'modbus' list of endpoints")
            for index, entry in enumerate(entries):
                try:
                    endpoints.append(ModbusEndpoint.model_validate(entry))
                except ValidationError as exc:
                    raise GatewayConfigError(f"{path}: modbus[{index}]: {_reason(exc)}") from exc
        return endpoints


def _read_yaml(path: Path) -> Any:
    return read_yaml(path, GatewayConfigError)


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "config"
    return f"{key}: {first['msg'].removeprefix('Value error, ')}"


def load_config(path: Path) -> GatewayConfig:
    document = _read_yaml(path)
    if not isinstance(document, dict):
        raise GatewayConfigError(f"{path}: a gateway configuration is a mapping of keys")
    try:
        return GatewayConfig.model_validate(document)
    except ValidationError as exc:
        raise GatewayConfigError(f"{path}: {_reason(exc)}") from exc
