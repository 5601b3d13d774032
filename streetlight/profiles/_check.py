"""An inventory against the profiles: every lamp and cabinet names a profile that exists and
fits it, and every device a profile names by address has one."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from streetlight.domain import Inventory
from streetlight.profiles._model import ModbusCabinetProfile, ModbusLampProfile, Profile
from streetlight.profiles._mqtt import MqttLampProfile


def profile_problem(
    kind: str, profile_id: str, device_address: str | None, profiles: Mapping[str, Profile]
) -> tuple[str, str] | None:
    """What is wrong with a lamp's or cabinet's profile, as (the field at fault, why); None
    when nothing is."""
    profile = profiles.get(profile_id)
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        return "profile", f"profile {profile_id!r} does not exist (profiles: {known})"
    if kind == "cabinet" and not isinstance(profile, ModbusCabinetProfile):
        return "profile", f"profile {profile_id!r} is not a cabinet profile"
    if kind == "lamp" and not isinstance(profile, ModbusLampProfile | MqttLampProfile):
        return "profile", f"profile {profile_id!r} is not a lamp profile"
    if (
        isinstance(profile, MqttLampProfile)
        and profile.devices_named_by == "device_address"
        and device_address is None
    ):
        return "device_address", (
            f"profile {profile_id!r} names devices by address, and the lamp has no device_address"
        )
    return None


def inventory_problems(inventory: Inventory, profiles: Mapping[str, Profile]) -> list[str]:
    """One line per lamp or cabinet whose profile is missing or of the wrong kind."""
    problems: list[str] = []
    assets = [
        *(("cabinet", c.id, c.profile, c.device_address) for c in inventory.cabinets.values()),
        *(("lamp", x.id, x.profile, x.device_address) for x in inventory.lamps.values()),
    ]
    for kind, ident, profile_id, address in assets:
        found = profile_problem(kind, profile_id, address, profiles)
        if found is not None:
            problems.append(f"{kind} {ident!r}: {found[1]}")
    return problems


def profile_check(
    profiles: Mapping[str, Profile],
) -> Callable[[str, str, str, str | None], list[tuple[str, str]]]:
    """`profile_problem` as an inventory loader's record check (streetlight.inventory)."""

    def check(kind: str, _id: str, profile_id: str, address: str | None) -> list[tuple[str, str]]:
        found = profile_problem(kind, profile_id, address, profiles)
        return [] if found is None else [found]

    return check
