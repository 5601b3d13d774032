"""Profiles as Markdown tables, for docs/contract.md (a test keeps the two equal)."""

from __future__ import annotations

from streetlight.profiles._model import (
    ModbusCabinetProfile,
    ModbusLampProfile,
    Profile,
    RegisterSpec,
)
from streetlight.profiles._mqtt import JsonField, MqttLampProfile

_HEADER = (
    "| group | field | table | address | stride | type | scale | unit | access |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def _row(group: str, name: str, spec: RegisterSpec) -> str:
    scale = f"{spec.scale:g}" if spec.type != "bool" else ""
    unit = spec.unit or (
        "bits: " + ", ".join(f"{b} {f.value}" for b, f in spec.bits.items()) if spec.bits else ""
    )
    access = "read/write" if spec.writable else "read"
    if spec.event is not None:  # latched: cleared when read; counter: counts the events
        access = f"read ({spec.event})"
    return (
        f"| {group} | `{name}` | {spec.table} | {spec.address} | {spec.stride or ''} | {spec.type} "
        f"| {scale} | {unit} | {access} |"
    )


def register_table(profile: ModbusLampProfile | ModbusCabinetProfile) -> str:
    rows = [_HEADER]
    if isinstance(profile, ModbusLampProfile):
        rows += [_row("lamp slot", name, spec) for name, spec in profile.fields.items()]
        broadcast = profile.broadcast or {}
        rows += [_row("every slot", name, spec) for name, spec in broadcast.items()]
    else:
        rows += [_row("phase A/B/C", name, spec) for name, spec in profile.phases.items()]
        rows += [_row("circuit 1..n", name, spec) for name, spec in profile.circuits.items()]
        rows += [_row("cabinet", name, spec) for name, spec in profile.fields.items()]
    return "\n".join(rows)


def profile_section(profile: Profile) -> str:
    """The Markdown of one profile: a heading line, its order and the table (or JSON map)."""
    if isinstance(profile, MqttLampProfile):
        return _mqtt_section(profile)
    order = f"32-bit word order {profile.word_order}, byte order {profile.byte_order}"
    extra = (
        f", {profile.slots} slots"
        if isinstance(profile, ModbusLampProfile)
        else f", up to {profile.max_circuits} circuits"
    )
    return (
        f"#### `{profile.id}` ({profile.description}; {order}{extra})\n\n{register_table(profile)}"
    )


def _reading(spec: JsonField) -> str:
    if spec.type == "bool":
        words = spec.words
        on = "/".join(word for word, value in words.items() if value)
        off = "/".join(word for word, value in words.items() if not value)
        return f"bool: {on} on, {off} off"
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{spec.type} x {spec.scale:g}{unit}"


def _mqtt_section(profile: MqttLampProfile) -> str:
    report = profile.report
    device = report.device
    named = "device address" if profile.devices_named_by == "device_address" else "lamp id"
    where = f"`{device.path}`" if device.path else "the topic's {device}"
    pattern = f" (matching `{device.pattern}`)" if device.pattern else ""
    time = (
        f"`{report.time.path}` ({report.time.format})" if report.time else "absent: time of receipt"
    )
    lines = [
        f"#### `{profile.id}` ({profile.description})",
        "",
        f"Device ({named}): {where}{pattern}; time: {time}.",
        "",
        "| field | JSON path | read as |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{name}` | `{_cell(spec.path)}` | {_reading(spec)} |"
        for name, spec in report.fields.items()
    ]
    faults = report.faults
    if faults is not None:
        if faults.bits is not None:
            meaning = "bits: " + ", ".join(f"{b} {f.value}" for b, f in faults.bits.items())
        else:
            words = faults.words or {}
            meaning = "words: " + ", ".join(
                f"{w} {f.value if f else '(none)'}" for w, f in words.items()
            )
        lines.append(f"| `faults` | `{_cell(faults.path)}` | {meaning} |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a path's `|` (a JMESPath pipe) escaped."""
    return text.replace("|", "\\|")
