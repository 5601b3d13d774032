"""The data contract between processes: MQTT topics, JSON payloads, the InfluxDB schema.

docs/contract.md describes it for people; this package is what the code uses, and the tests
check that the two agree.
"""

from streetlight.contract.influx_schema import (
    GATEWAY_HEALTH,
    MEASUREMENTS,
    FieldSpec,
    MeasurementSpec,
    TelemetryLines,
    alarm_line,
)
from streetlight.contract.payloads import (
    PAYLOADS,
    SCHEMA_VERSION,
    TELEMETRY_BATCH_MAX,
    AckOutcome,
    AlarmEvent,
    CabinetTelemetry,
    CircuitReading,
    Command,
    CommandAck,
    DeviceStatus,
    GatewayHealth,
    LampFault,
    LampTelemetry,
    PayloadError,
    PhaseReading,
    ScheduleChange,
    Target,
    TelemetryBatch,
    decode,
    encode,
    json_schemas,
)
from streetlight.contract.topics import Channel, TargetKind, TopicAddress, TopicError, Topics

__all__ = [
    "GATEWAY_HEALTH",
    "MEASUREMENTS",
    "PAYLOADS",
    "SCHEMA_VERSION",
    "TELEMETRY_BATCH_MAX",
    "AckOutcome",
    "AlarmEvent",
    "CabinetTelemetry",
    "Channel",
    "CircuitReading",
    "Command",
    "CommandAck",
    "DeviceStatus",
    "FieldSpec",
    "GatewayHealth",
    "LampFault",
    "LampTelemetry",
    "MeasurementSpec",
    "PayloadError",
    "PhaseReading",
    "ScheduleChange",
    "Target",
    "TargetKind",
    "TelemetryBatch",
    "TelemetryLines",
    "TopicAddress",
    "TopicError",
    "Topics",
    "alarm_line",
    "decode",
    "encode",
    "json_schemas",
]
