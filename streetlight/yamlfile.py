"""Reading the project's YAML files (profiles, schedules, scenarios, configurations)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def read_yaml(path: Path | str, error: Callable[[str], Exception]) -> Any:
    """The document in a YAML file; a file that cannot be read or is not YAML raises
    `error(message)`, the message naming the file and what is wrong."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: not YAML: {exc}".replace("\n", " ")) from exc
