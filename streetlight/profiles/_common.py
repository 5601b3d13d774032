"""What Modbus and MQTT profiles share: strict models, ids, the canonical lamp fields."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from streetlight.domain import ID_PATTERN

ProfileId = Annotated[str, Field(pattern=ID_PATTERN.pattern)]

LAMP_FIELDS = frozenset(
    {
        "voltage_v",
        "current_a",
        "power_w",
        "power_factor",
        "energy_wh",
        "dim_pct",
        "relay_on",
        "driver_temp_c",
        "burning_hours",
        "faults",
        "online",  # the concentrator still hears the lamp (1) or lost it (0)
    }
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
