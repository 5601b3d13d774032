"""Telling the controller that the schedule in the store changed (docs/contract.md, "Overrides").

Whoever saves programs, calendars or overrides publishes a `schedule_change` notice once the
transaction is committed, and the controller reads the store at once rather than at its next
poll. The store holds the schedule; the notice only says "read it now". A notice that cannot
be sent loses nothing: the controller's poll (`ControllerConfig.reload_s`) still finds the
change, only later.
"""

from __future__ import annotations

import asyncio
import os

from aiomqtt import MqttError

from streetlight.contract import ScheduleChange, TargetKind, Topics, encode
from streetlight.mqtt import make_client, publish
from streetlight.settings import CommonSettings

ANNOUNCE_TIMEOUT_S = 3.0  # a broker that does not take the notice by then is reported


async def announce(
    settings: CommonSettings,
    change: ScheduleChange,
    *,
    kind: TargetKind = TargetKind.OPERATOR,
    writer: str = "cli",
) -> str | None:
    """Publish `change` on the bus as `kind`/`writer`; None once the broker has it, otherwise
    what went wrong (for the caller to tell its user: the change itself is saved)."""
    topic = Topics(settings.mqtt_root).schedule(kind, writer)
    try:
        async with asyncio.timeout(ANNOUNCE_TIMEOUT_S):
            async with make_client(
                settings.mqtt,
                identifier=f"{settings.mqtt_root}-{writer}-{os.getpid()}",
                ca_file=settings.mqtt_ca_file,
            ) as client:
                await publish(client, topic, encode(change))
    except TimeoutError:
        return f"the MQTT broker at {settings.mqtt} did not answer in {ANNOUNCE_TIMEOUT_S:g} s"
    except (MqttError, OSError) as exc:
        return f"the MQTT broker at {settings.mqtt}: {exc}"
    return None
