"""An inventory against the profiles: every lamp and cabinet names a profile that exists and
fits it, and every device a profile names by address has one."""

from __future__ import annotations

from collections.abc import Mapping

from streetlight.domain import Inventory
from streetlight.profiles._model import ModbusCabinetProfile, ModbusLampProfile, Profile
from streetlight.profiles._mqtt import MqttLampProfile


def inventory_problems(inventory: Inventory, profiles: Mapping[str, Profile]) -> list[str]:
    """One line per lamp or cabinet whose profile is missing or of the wrong kind."""
    problems: list[str] = []
    known = ", ".join(sorted(profiles)) or "none"
    for cabinet in inventory.cabinets.values():
        profile = profiles.get(cabinet.profile)
        if profile is None:
            problems.append(
                f"cabinet {cabinet.id!r}: profile {cabinet.profile!r} does not exist "
                f"(profiles: {known})"
            )
        elif not isinstance(profile, ModbusCabinetProfile):
            problems.append(
                f"cabinet {cabinet.id!r}: profile {cabinet.profile!r} is not a cabinet profile"
            )
    for lamp in inventory.lamps.values():
        profile = profiles.get(lamp.profile)
        if profile is None:
            problems.append(
                f"lamp {lamp.id!r}: profile {lamp.profile!r} does not exist (profiles: {known})"
            )
        elif not isinstance(profile, ModbusLampProfile | MqttLampProfile):
            problems.append(f"lamp {lamp.id!r}: profile {lamp.profile!r} is not a lamp profile")
        elif (
            isinstance(profile, MqttLampProfile)
            and profile.devices_named_by == "device_address"
            and lamp.device_address is None
        ):
            problems.append(
                f"lamp {lamp.id!r}: profile {lamp.profile!r} names devices by address, "
                f"and the lamp has no device_address"
            )
    return problems
