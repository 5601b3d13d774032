"""Profiles as Markdown tables, for docs/contract.md (a test keeps the two equal)."""

from __future__ import annotations

from streetlight.profiles._model import (
    ModbusCabinetProfile,
    ModbusLampProfile,
    MqttLampProfile,
    Profile,
    RegisterSpec,
)

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
        lines = [
            f"#### `{profile.id}` ({profile.description})",
            "",
            "| field | JSON path | vendor unit (x scale) |",
            "|---|---|---|",
        ]
        for name, spec in profile.report.fields.items():
            lines.append(f"| `{name}` | `{spec.path}` | {spec.type} x {spec.scale:g} |")
        if profile.report.faults:
            bits = ", ".join(f"{b} {f.value}" for b, f in profile.report.faults.bits.items())
            lines.append(f"| `faults` | `{profile.report.faults.path}` | bits: {bits} |")
        return "\n".join(lines)
    order = f"32-bit word order {profile.word_order}, byte order {profile.byte_order}"
    extra = (
        f", {profile.slots} slots"
        if isinstance(profile, ModbusLampProfile)
        else f", up to {profile.max_circuits} circuits"
    )
    return (
        f"#### `{profile.id}` ({profile.description}; {order}{extra})\n\n{register_table(profile)}"
    )
