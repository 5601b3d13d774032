"""Loading profiles from a directory of YAML files; a bad one is refused with file, key, reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from streetlight.errors import StreetlightError
from streetlight.profiles._model import (
    ModbusCabinetProfile,
    ModbusLampProfile,
    MqttLampProfile,
    Profile,
)
from streetlight.yamlfile import read_yaml

DEFAULT_DIR = Path("profiles")


class ProfileError(StreetlightError):
    """A profile file that cannot be used."""


_KINDS: dict[tuple[str, str], type[Profile]] = {
    ("modbus", "lamp"): ModbusLampProfile,
    ("modbus", "cabinet"): ModbusCabinetProfile,
    ("mqtt", "lamp"): MqttLampProfile,
}


def load_profile(path: Path) -> Profile:
    document: Any = read_yaml(path, ProfileError)
    if not isinstance(document, dict):
        raise ProfileError(f"{path}: a profile is a mapping of keys to values")
    kind = (document.get("transport"), document.get("device"))
    model = _KINDS.get(kind)  # type: ignore[arg-type]
    if model is None:
        raise ProfileError(
            f"{path}: transport/device must be one of "
            f"{', '.join(f'{t}/{d}' for t, d in _KINDS)}, got {kind[0]}/{kind[1]}"
        )
    try:
        profile = TypeAdapter(model).validate_python(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "profile"
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ProfileError(f"{path}: {key}: {message}{more}") from exc
    if profile.id != path.stem:
        raise ProfileError(f"{path}: id {profile.id!r} must match the file name {path.stem!r}")
    return profile


def load_profiles(directory: Path = DEFAULT_DIR) -> dict[str, Profile]:
    """Every `*.yaml` profile in `directory`, by id."""
    if not directory.is_dir():
        raise ProfileError(f"{directory}: no such profile directory")
    return {path.stem: load_profile(path) for path in sorted(directory.glob("*.yaml"))}
