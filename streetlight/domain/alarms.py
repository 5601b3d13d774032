"""The alarm vocabulary of DESIGN.md section 6, used by name everywhere (API, MQTT, InfluxDB)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from streetlight.domain.model import AssetKind


class AlarmType(StrEnum):
    LAMP_FAILURE = "lamp_failure"
    LOW_POWER = "low_power"
    HIGH_POWER = "high_power"
    DIMMING_FAILURE = "dimming_failure"
    DAY_BURNING = "day_burning"
    CYCLING = "cycling"
    LAMP_OFFLINE = "lamp_offline"
    VOLTAGE_HIGH = "voltage_high"
    VOLTAGE_LOW = "voltage_low"
    OVER_TEMPERATURE = "over_temperature"
    SUPPLY_LOSS = "supply_loss"
    PHASE_LOSS = "phase_loss"
    CIRCUIT_DEAD = "circuit_dead"
    LEAKAGE = "leakage"
    DOOR_OPEN = "door_open"
    COMMAND_FAILED = "command_failed"
    # the data path (a gateway, its broker, its feed) stopped or fell behind: not the lamps
    DATA_STALE = "data_stale"


class Severity(StrEnum):
    """Repair classes of DESIGN.md section 7, each with its deadline."""

    EMERGENCY = "emergency"  # made safe within 1 h
    SERIOUS = "serious"  # repaired within 3 working days
    ORDINARY = "ordinary"  # repaired within 24 h


REPAIR_DEADLINE: dict[Severity, timedelta] = {
    Severity.EMERGENCY: timedelta(hours=1),
    Severity.ORDINARY: timedelta(hours=24),
    Severity.SERIOUS: timedelta(days=3),  # working days: the ledger counts them on its calendar
}

SEVERITY: dict[AlarmType, Severity] = {
    AlarmType.LAMP_FAILURE: Severity.ORDINARY,
    AlarmType.LOW_POWER: Severity.ORDINARY,
    AlarmType.HIGH_POWER: Severity.ORDINARY,
    AlarmType.DIMMING_FAILURE: Severity.ORDINARY,
    AlarmType.DAY_BURNING: Severity.ORDINARY,
    AlarmType.CYCLING: Severity.ORDINARY,
    AlarmType.LAMP_OFFLINE: Severity.ORDINARY,
    AlarmType.VOLTAGE_HIGH: Severity.SERIOUS,
    AlarmType.VOLTAGE_LOW: Severity.SERIOUS,
    AlarmType.OVER_TEMPERATURE: Severity.ORDINARY,
    AlarmType.SUPPLY_LOSS: Severity.SERIOUS,
    AlarmType.PHASE_LOSS: Severity.SERIOUS,
    # a dead circuit while the cabinet is live suggests a cut or stolen cable: exposed conductors
    AlarmType.CIRCUIT_DEAD: Severity.EMERGENCY,
    AlarmType.LEAKAGE: Severity.EMERGENCY,
    # an open cabinet door exposes live parts in a street where people walk
    AlarmType.DOOR_OPEN: Severity.EMERGENCY,
    AlarmType.COMMAND_FAILED: Severity.ORDINARY,
    # in place of the lamp_offline alarms it holds back (ordinary, too)
    AlarmType.DATA_STALE: Severity.ORDINARY,
}

ASSET_KINDS: dict[AlarmType, frozenset[AssetKind]] = {
    **{
        kind: frozenset({AssetKind.LAMP})
        for kind in (
            AlarmType.LAMP_FAILURE,
            AlarmType.LOW_POWER,
            AlarmType.HIGH_POWER,
            AlarmType.DIMMING_FAILURE,
            AlarmType.DAY_BURNING,
            AlarmType.CYCLING,
            AlarmType.LAMP_OFFLINE,
            AlarmType.OVER_TEMPERATURE,
        )
    },
    AlarmType.VOLTAGE_HIGH: frozenset({AssetKind.LAMP, AssetKind.CABINET}),
    AlarmType.VOLTAGE_LOW: frozenset({AssetKind.LAMP, AssetKind.CABINET}),
    AlarmType.SUPPLY_LOSS: frozenset({AssetKind.CABINET}),
    AlarmType.PHASE_LOSS: frozenset({AssetKind.CABINET}),
    AlarmType.CIRCUIT_DEAD: frozenset({AssetKind.CIRCUIT}),
    AlarmType.LEAKAGE: frozenset({AssetKind.CABINET}),
    AlarmType.DOOR_OPEN: frozenset({AssetKind.CABINET}),
    AlarmType.COMMAND_FAILED: frozenset({AssetKind.LAMP, AssetKind.CIRCUIT, AssetKind.CABINET}),
    AlarmType.DATA_STALE: frozenset({AssetKind.GATEWAY}),
}

# alarms a maintenance crew repairs: a root alarm of these opens a work order and is told to
# the site's crew; a gateway's data path is not a street's (its alarm is on the bus, in the
# store and in InfluxDB for the operator, and holds back its lamps' offline alarms)
CREW_ALARMS: frozenset[AlarmType] = frozenset(
    kind for kind, assets in ASSET_KINDS.items() if AssetKind.GATEWAY not in assets
)


class AlarmState(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    CLOSED = "closed"


class AlarmChange(StrEnum):
    """What happened to an alarm (the store's transition log uses these words)."""

    RAISED = "raised"
    SUPPRESSED = "suppressed"  # linked under a root cause after it was raised
    SURFACED = "surfaced"  # its root cleared while it was still bad: now its own alarm
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


# open alarms of these types are no broken facility: a door or a lost command is not, and a
# gateway's stale data is the data path's. The KPIs' integrity and the acceptance's open
# faults leave them out.
NOT_FAULTS = frozenset({AlarmType.DOOR_OPEN, AlarmType.COMMAND_FAILED, AlarmType.DATA_STALE})
