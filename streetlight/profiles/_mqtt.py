"""MQTT lamp profiles: a vendor's topics and JSON, mapped onto the canonical lamp fields.

Paths are JMESPath expressions (streetlight/profiles/_json.py), so a profile reaches values
inside nested objects, under keys that are not identifiers (`"3316/0/5700"`, `"Voltage (V)"`)
and inside lists (`[?n=='voltage'].v | [0]`). A field says how to read its value: a number
(a JSON number or a numeric string), or an on/off state (JSON true/false, 0/1, or words), with a
scale and the vendor's unit, converted to the contract's. docs/contract.md ("Profile format")
describes every key; docs/schemas/profile.schema.json is generated from these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from streetlight.contract.payloads import LampFault
from streetlight.profiles._common import LAMP_FIELDS, ProfileId, Strict
from streetlight.profiles._json import compiled
from streetlight.profiles._units import conversion

ValueType = Literal["number", "int", "bool"]
JsonScalar = bool | int | float | str
DeviceNames = Literal["lamp_id", "device_address"]
REPORT_FIELDS = LAMP_FIELDS - {"faults", "online"}

# the words an on/off field takes when its profile gives no `states` (compared in lower case)
DEFAULT_STATES: dict[str, bool] = {
    "true": True,
    "false": False,
    "on": True,
    "off": False,
    "1": True,
    "0": False,
}


def _readable(expression: str) -> str:
    compiled(expression)  # raises ValueError naming what is wrong
    return expression


def _writable(expression: str) -> str:
    if not compiled(expression).writable:
        raise ValueError(
            f"{expression!r}: a path written to must be a chain of keys and indexes "
            f'(like params.light or "3311/0/5850"), not a filter or function'
        )
    return expression


Path = Annotated[
    str,
    AfterValidator(_readable),
    Field(description="a JMESPath expression (https://jmespath.org) into the vendor's JSON"),
]
WritablePath = Annotated[
    str,
    AfterValidator(_readable),
    AfterValidator(_writable),
    Field(description="a JMESPath chain of keys and indexes, e.g. params.switch"),
]


def _words(value: Any) -> Any:
    """State words as written; YAML reads an unquoted on, off, yes or no as a boolean."""
    if isinstance(value, dict):
        for key in value:
            if isinstance(key, bool | int | float):
                raise ValueError(  # noqa: TRY004 - pydantic reports a ValueError by key
                    f"state word {key!r} is not text: quote it in YAML ('on', 'off', 'yes' and "
                    f"'no' are otherwise read as true and false)"
                )
    return value


def _distinct_words(value: dict[str, Any]) -> dict[str, Any]:
    """Words are kept as written (the simulator sends them so) and compared without case."""
    if len({key.lower() for key in value}) != len(value):
        raise ValueError("words are compared without case: two of them differ only in case")
    return value


Words = Annotated[dict[str, bool], BeforeValidator(_words), AfterValidator(_distinct_words)]
FaultWords = Annotated[
    dict[str, LampFault | None], BeforeValidator(_words), AfterValidator(_distinct_words)
]


class JsonField(Strict):
    """Where a canonical field's value sits in a report, and how to read it."""

    path: Path
    type: ValueType = Field(
        default="number",
        description="number: a JSON number or numeric string; int: the same, sent whole by "
        "the vendor; bool: an on/off state (JSON true/false, 0/1, or state words)",
    )
    scale: float = Field(default=1.0, gt=0, description="value in `unit` = raw * scale")
    unit: str | None = Field(
        default=None,
        description="the vendor's unit of the scaled value, converted to the field's "
        "canonical unit (absent: already in it)",
    )
    states: Words | None = Field(
        default=None,
        description="for bool: vendor words (any case) -> true/false; default true/false, "
        "on/off, 1/0",
    )

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        if self.type == "bool":
            if self.scale != 1.0 or self.unit is not None:
                raise ValueError("a bool field has no scale or unit")
        elif self.states is not None:
            raise ValueError("states are for a bool field")
        return self

    @property
    def words(self) -> dict[str, bool]:
        return self.states if self.states is not None else DEFAULT_STATES


class JsonTime(Strict):
    """When the device took the reading."""

    path: Path
    format: Literal["epoch_s", "epoch_ms", "iso8601"] = Field(
        default="epoch_s",
        description="epoch seconds or milliseconds (a number or numeric string), or an "
        "ISO 8601 text with a UTC offset",
    )


class FaultSpec(Strict):
    """The device's fault flags: bits of an integer word, or words (one, or a list of them)."""

    path: Path
    bits: dict[int, LampFault] | None = Field(default=None, description="bit number -> flag")
    words: FaultWords | None = Field(
        default=None, description="vendor word (any case) -> flag, or null: not a fault"
    )

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.bits is None) == (self.words is None):
            raise ValueError("give exactly one of bits and words")
        if self.bits is not None and any(not 0 <= bit < 64 for bit in self.bits):
            raise ValueError("bit numbers must be 0..63")
        return self


def _device_shorthand(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class DeviceSpec(Strict):
    """Which device a report is from: in the payload (`path`) or the report topic's {device}."""

    path: Path | None = Field(default=None, description="absent: the report topic's {device}")
    pattern: str | None = Field(
        default=None,
        description="a regular expression with one group: the part of the value that names the "
        "device (e.g. ^urn:imei:(\\d{15})$)",
    )

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc}): {value!r}") from exc
        if groups != 1:
            raise ValueError(f"needs exactly one group (...), has {groups}: {value!r}")
        return value


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class MqttTopics(Strict):
    """Vendor topics; placeholders {root}, {device}, {group}, {link}."""

    report: str = Field(description="{root} and, unless report.device.path is given, {device}")
    command: str = Field(description="{root} and {device}")
    ack: str = Field(description="{root} and {device}")
    group_command: str = Field(description="{root} and {group} (a circuit id)")
    link_status: str = Field(description="{root} and {link}")

    @model_validator(mode="after")
    def _placeholders(self) -> Self:
        need = {
            "report": ({"root", "device"}, {"root"}),
            "command": ({"root", "device"},),
            "ack": ({"root", "device"},),
            "group_command": ({"root", "group"},),
            "link_status": ({"root", "link"},),
        }
        for name, allowed in need.items():
            template = getattr(self, name)
            found = set(_PLACEHOLDER.findall(template))
            if found not in allowed:
                choices = " or ".join(str(sorted(one)) for one in allowed)
                raise ValueError(f"{name}: needs exactly the placeholders {choices}")
            if "+" in template or "#" in template:
                raise ValueError(f"{name}: no MQTT wildcards in a topic template")
        return self


class MqttReport(Strict):
    """A report: the device it is from, its time, its fields and its fault flags."""

    device: Annotated[DeviceSpec, BeforeValidator(_device_shorthand)] = Field(
        description="a path (text), or {path, pattern}"
    )
    time: JsonTime | None = Field(
        default=None,
        description="absent: the gateway's time of receipt, flagged ts_source: gateway",
    )
    fields: dict[str, JsonField]
    faults: FaultSpec | None = None

    @model_validator(mode="after")
    def _fields(self) -> Self:
        unknown = sorted(set(self.fields) - REPORT_FIELDS)
        if unknown:
            raise ValueError(f"fields: unknown {unknown}; known: {sorted(REPORT_FIELDS)}")
        for required in ("relay_on", "dim_pct"):
            if required not in self.fields:
                raise ValueError(f"fields.{required}: required")
        for name, spec in self.fields.items():
            if (name == "relay_on") != (spec.type == "bool"):
                kind = "bool" if name == "relay_on" else "number or int"
                raise ValueError(f"fields.{name}: type must be {kind}")
            try:
                conversion(name, spec.unit)
            except ValueError as exc:
                raise ValueError(f"fields.{name}.unit: {exc}") from exc
        return self


def _relay_shorthand(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class RelayOut(Strict):
    """Where a command puts the relay state, and the values it sends for on and off."""

    path: WritablePath
    on: JsonScalar = 1
    off: JsonScalar = 0

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.on == self.off and type(self.on) is type(self.off):
            raise ValueError("on and off must differ")
        return self


class LevelOut(Strict):
    """Where a command puts the dim level: vendor value = level_pct / scale."""

    path: WritablePath
    type: Literal["int", "number"] = "int"
    scale: float = Field(default=1.0, gt=0)


class MqttCommand(Strict):
    """The vendor command the gateway sends for a canonical one; paths may nest."""

    id: WritablePath = Field(description="where the command id goes")
    relay: Annotated[RelayOut, BeforeValidator(_relay_shorthand)]
    level: Annotated[LevelOut, BeforeValidator(_relay_shorthand)]
    constant: dict[str, JsonScalar] = Field(
        default_factory=dict, description="path -> value sent in every command"
    )

    @field_validator("constant")
    @classmethod
    def _constant_paths(cls, value: dict[str, JsonScalar]) -> dict[str, JsonScalar]:
        for path in value:
            _writable(_readable(path))
        return value


def _flag_shorthand(value: Any) -> Any:
    return {"path": value, "type": "bool"} if isinstance(value, str) else value


class MqttAck(Strict):
    """The node's answer to a command."""

    id: Path = Field(description="where the command id is")
    ok: Annotated[JsonField, BeforeValidator(_flag_shorthand)] = Field(
        description="the success flag: a path, or a bool field with states"
    )
    code: Path | None = Field(default=None, description="the vendor's error code, if any")

    @field_validator("ok")
    @classmethod
    def _ok_is_bool(cls, value: JsonField) -> JsonField:
        if value.type != "bool":
            raise ValueError("ok is an on/off state: type bool")
        return value


class MqttLampProfile(Strict):
    """A lamp node that speaks JSON over MQTT."""

    id: ProfileId
    device: Literal["lamp"]
    transport: Literal["mqtt"]
    description: str = ""
    devices_named_by: DeviceNames = Field(
        default="lamp_id",
        description="what the device names in topics and payloads are: the lamp's id, or its "
        "device_address in the inventory (an IMEI, a DevEUI, a serial)",
    )
    topics: MqttTopics
    report: MqttReport
    command: MqttCommand
    ack: MqttAck

    @model_validator(mode="after")
    def _device_somewhere(self) -> Self:
        if self.report.device.path is None and "{device}" not in self.topics.report:
            raise ValueError(
                "report.device.path: required when topics.report has no {device} placeholder"
            )
        return self
