"""Reading the project's YAML files (profiles, schedules, scenarios, configurations)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


def read_yaml(path: Path | str, error: Callable[[str], Exception]) -> Any:
    """The document in a YAML file; a file that cannot be read or is not YAML raises
    `error(message)`, the message naming the file and what is wrong."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not YAML: {exc}".replace("\n", " ")) from exc
    except ValueError as exc:  # YAML reads 2026-13-01 as a date, and fails on it
        raise error(f"{path}: a date that does not exist: {exc}") from exc


def first_problem(exc: ValidationError) -> str:
    """The first thing pydantic found wrong in a file's document, as `key[0].sub: message`
    (the message alone when it is about the whole document)."""
    first = exc.errors()[0]
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    message = first["msg"].removeprefix("Value error, ")
    return f"{key}: {message}" if key else message
