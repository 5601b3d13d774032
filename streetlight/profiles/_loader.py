"""Loading profiles from a directory of YAML files; every problem of every file is reported,
one line each: file, key, reason."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from streetlight.errors import StreetlightError
from streetlight.profiles._model import ModbusCabinetProfile, ModbusLampProfile, Profile
from streetlight.profiles._mqtt import MqttLampProfile
from streetlight.yamlfile import read_yaml

DEFAULT_DIR = Path("profiles")
SCHEMA_ID = "https://streetlight.invalid/schemas/v1/profile.schema.json"


class ProfileError(StreetlightError):
    """Profiles that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("\n".join(problems))


_KINDS: dict[tuple[str, str], type[Profile]] = {
    ("modbus", "lamp"): ModbusLampProfile,
    ("modbus", "cabinet"): ModbusCabinetProfile,
    ("mqtt", "lamp"): MqttLampProfile,
}


_SUBKEY = re.compile(r"^([\w.]+): (.*)$", re.DOTALL)


def _problems(exc: ValidationError) -> list[str]:
    """`key: reason` per error; a check of a whole section that names a key of it (`fields.x:
    ...`) is reported under the full key."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "value_error" and (found := _SUBKEY.match(message)):
            sub, message = found.groups()
            key = f"{key}.{sub}" if key and not sub.startswith(f"{key}.") else sub
        elif error["type"] not in ("missing", "extra_forbidden", "value_error"):
            shown = repr(error.get("input"))
            message += f", got {shown}" if len(shown) <= 60 else ""
        lines.append(f"{key}: {message}" if key else message)
    return lines


def load_profile(path: Path) -> Profile:
    """One profile file; raises ProfileError listing every problem, each naming file and key."""
    document: Any = read_yaml(path, ProfileError)
    if not isinstance(document, dict):
        raise ProfileError([f"{path}: a profile is a mapping of keys to values"])
    kind = (document.get("transport"), document.get("device"))
    model = _KINDS.get(kind)  # type: ignore[arg-type]
    if model is None:
        raise ProfileError(
            [
                f"{path}: transport/device: must be one of "
                f"{', '.join(f'{t}/{d}' for t, d in _KINDS)}, got {kind[0]}/{kind[1]}"
            ]
        )
    problems: list[str] = []
    if document.get("id") != path.stem:
        problems.append(f"id: {document.get('id')!r} must match the file name {path.stem!r}")
    try:
        profile = TypeAdapter(model).validate_python(document)
    except ValidationError as exc:
        problems += _problems(exc)
    if problems:
        raise ProfileError([f"{path}: {problem}" for problem in problems])
    return profile


def read_profiles(directory: Path = DEFAULT_DIR) -> tuple[dict[str, Profile], list[str]]:
    """The good profiles of `directory` by id, and the problems of the others."""
    if not directory.is_dir():
        return {}, [f"{directory}: no such profile directory"]
    profiles: dict[str, Profile] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            profiles[path.stem] = load_profile(path)
        except ProfileError as exc:
            problems += exc.problems
    return profiles, problems


def load_profiles(directory: Path = DEFAULT_DIR) -> dict[str, Profile]:
    """Every `*.yaml` profile in `directory`, by id; ProfileError lists every problem."""
    profiles, problems = read_profiles(directory)
    if problems:
        raise ProfileError(problems)
    return profiles


def profile_json_schema() -> dict[str, Any]:
    """The JSON schema of a profile file (docs/schemas/profile.schema.json)."""
    adapter: TypeAdapter[Profile] = TypeAdapter(Profile)
    schema = adapter.json_schema(mode="validation")
    schema["title"] = "Streetlight device profile"
    schema["description"] = (
        "A controller model as data: a Modbus register map or an MQTT payload mapping "
        "(docs/contract.md, 'Profile format')"
    )
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    return schema
