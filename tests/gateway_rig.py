"""Running the gateway in a test, beside a simulator, on the same manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from gateway.app import Gateway
from gateway.config import GatewayConfig
from simulator.app import Simulator
from streetlight.clock import Clock
from streetlight.contract import Topics
from streetlight.influx import InfluxClient
from streetlight.services import ServiceState
from streetlight.settings import CommonSettings, MqttUrl, load_settings
from tests.helpers import running_role
from tests.simulation import profiles


def gateway_settings(
    mqtt_url: str, influx_url: str, influx_db: str, root: str, **extra: Any
) -> CommonSettings:
    return load_settings(
        CommonSettings,
        mqtt_url=mqtt_url,
        influx_url=influx_url,
        influx_db=influx_db,
        mqtt_root=root,
        field_root=root,
        influx_retention="INF",
        **extra,
    )


def config_for(simulator: Simulator, spool: Path, **extra: Any) -> GatewayConfig:
    """A gateway configuration for everything the simulator plays."""
    endpoints = [
        {
            "cabinet": e.cabinet,
            "host": e.host,
            "port": e.port,
            "unit": e.unit,
            "profile": e.profile,
            **({"lamp_profile": e.lamp_profile, "lamps": e.lamps} if e.lamp_profile else {}),
        }
        for e in simulator.farm.endpoints
    ]
    document: dict[str, Any] = {
        "id": "gw-test",
        "modbus": {"endpoints": endpoints, "timeout_s": 1.0},
        "mqtt": {"profiles": sorted(simulator.world.mqtt_profiles)},
        "spool": {"dir": str(spool), "max_mb": 8},
        "health_interval_s": 3600,
        "influx_flush_s": 0.1,
        "commands": {"timeout_s": 2.0, "attempts": 2},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return GatewayConfig.model_validate(document)


@asynccontextmanager
async def running_gateway(
    simulator: Simulator,
    settings: CommonSettings,
    config: GatewayConfig,
    clock: Clock | None = None,
) -> AsyncIterator[Gateway]:
    """The gateway running until the block ends; it shares the simulator's clock."""
    gateway = Gateway(
        config,
        config_dir=Path.cwd(),
        settings=settings,
        inventory=simulator.world.inventory,
        profiles=profiles(),
        clock=clock or simulator.world.clock,
    )
    async with running_role("gateway", gateway.run, gateway.ready):
        yield gateway


def url(state_url: str) -> MqttUrl:
    return MqttUrl.parse(state_url)


def role_settings(
    state: ServiceState, topics: Topics, influx: InfluxClient, identity: str
) -> CommonSettings:
    """Settings of a role connecting as its own broker identity."""
    url = state.url_for(identity)
    return gateway_settings(url, state.influx_url, influx.database, topics.root)
