"""Can this process reach what its settings point at? One line per server, or a clear error."""

from __future__ import annotations

import asyncio

import aiomqtt
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from streetlight.errors import StreetlightError
from streetlight.influx import InfluxClient, InfluxError
from streetlight.mqtt import make_client
from streetlight.settings import CommonSettings
from streetlight.store import StoreError, open_store

TIMEOUT = 5.0


class UnreachableError(StreetlightError):
    """A server the settings name does not answer."""


async def check_mqtt(settings: CommonSettings) -> str:
    url = settings.mqtt
    try:
        async with asyncio.timeout(TIMEOUT):
            client = make_client(url, identifier="streetlight-check", ca_file=settings.mqtt_ca_file)
            async with client:
                pass
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise UnreachableError(f"MQTT broker at {url} (STREETLIGHT_MQTT_URL): {reason}") from exc
    return f"MQTT broker at {url}: connected"


async def check_influx(settings: CommonSettings) -> str:
    try:
        async with InfluxClient.from_settings(settings, timeout=TIMEOUT) as client:
            version = await client.ping()
    except InfluxError as exc:
        raise UnreachableError(f"{exc} (STREETLIGHT_INFLUX_URL)") from exc
    return f"InfluxDB at {settings.influx_url}: version {version}"


async def check_store(settings: CommonSettings) -> str:
    try:
        async with (
            open_store(settings, migrate=False) as engine,
            asyncio.timeout(TIMEOUT),
            engine.connect() as connection,
        ):
            await connection.execute(text("SELECT 1"))
    except StoreError as exc:
        raise UnreachableError(f"{exc} (STREETLIGHT_DB_URL)") from exc
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        raise UnreachableError(f"store at {settings.db_url} (STREETLIGHT_DB_URL): {exc}") from exc
    return f"store at {settings.db_url}: reachable"


async def check_all(settings: CommonSettings) -> list[str]:
    """A line per server that answers; raises UnreachableError for the first that does not."""
    return [
        await check_mqtt(settings),
        await check_influx(settings),
        await check_store(settings),
    ]
