"""The thresholds an acceptance is judged by, and how a lamp's reports are read into samples.

Defaults are the project's own figures (DESIGN.md section 7; docs/contract.md "KPI
measurements" and "Acceptance"): the lighting targets of the KPI writer, its switch
tolerance (`STREETLIGHT_KPI_SWITCH_TOLERANCE_MIN`), detection's reading of a lamp as lit
(`failure_fraction`) and online (3 reporting intervals), the controller's confirm time. A
committee that agreed other limits writes them in a YAML file (`--criteria PATH`):

    lighting_targets: {main: 98, branch: 96}   # per road class, %; the others keep theirs
    switch_tolerance_min: 5                    # a switch within +-5 min of the plan
    energy_tolerance_pct: 15                   # mean power within +-15 % of the curve's
    max_nights: 31
    sampling: {mark_s: 300, confirm_s: 180, offline_after_s: 180, failure_fraction: 0.2}

An unknown key or a wrong value is refused with the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streetlight.domain import LightingTargets, RoadClass
from streetlight.errors import StreetlightError
from streetlight.yamlfile import first_problem, read_yaml

TOLERANCE_ENV = "STREETLIGHT_KPI_SWITCH_TOLERANCE_MIN"


class AcceptanceError(StreetlightError):
    """An acceptance that cannot be run, stored or accepted as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Sampling:
    """How a lamp's reports become the samples the criteria count, as the KPI writer counts
    its marks: every `mark_s` the newest report, online when at most `offline_after_s` old,
    lit when it shows the relay on and at least `failure_fraction` of the curve's power at
    its dim level; should be lit when the plan has had it on for `confirm_s`."""

    mark_s: int = 300
    confirm_s: float = 180.0
    offline_after_s: float = 180.0
    failure_fraction: float = 0.2


@dataclass(frozen=True, slots=True)
class AcceptanceCriteria:
    targets: LightingTargets = field(default_factory=LightingTargets)
    switch_tolerance_min: float = 5.0
    energy_tolerance_pct: float = 15.0
    max_nights: int = 31
    sampling: Sampling = field(default_factory=Sampling)

    def target_of(self, road_class: str) -> float:
        return self.targets.of(RoadClass(road_class))

    def as_plain(self) -> dict[str, Any]:
        """As stored with a run (and as the file would say it)."""
        return {
            "lighting_targets": {r.value: t for r, t in self.targets.by_road_class.items()},
            "switch_tolerance_min": self.switch_tolerance_min,
            "energy_tolerance_pct": self.energy_tolerance_pct,
            "max_nights": self.max_nights,
            "sampling": {
                "mark_s": self.sampling.mark_s,
                "confirm_s": self.sampling.confirm_s,
                "offline_after_s": self.sampling.offline_after_s,
                "failure_fraction": self.sampling.failure_fraction,
            },
        }


class _SamplingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mark_s: int = Field(default=300, ge=10, le=3600)
    confirm_s: float = Field(default=180.0, ge=0, le=3600)
    offline_after_s: float = Field(default=180.0, gt=0, le=86400)
    failure_fraction: float = Field(default=0.2, gt=0, lt=1)


class _CriteriaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lighting_targets: dict[str, float] = Field(default_factory=dict)
    switch_tolerance_min: float | None = Field(default=None, gt=0, le=180)
    energy_tolerance_pct: float = Field(default=15.0, gt=0, le=100)
    max_nights: int = Field(default=31, ge=1, le=366)
    sampling: _SamplingFile = Field(default_factory=_SamplingFile)


def default_tolerance_min(environ: Mapping[str, str] | None = None) -> float:
    """The KPI writer's switch tolerance, from the same variable it reads."""
    raw = (os.environ if environ is None else environ).get(TOLERANCE_ENV)
    if raw is None or not raw.strip():
        return 5.0
    try:
        value = float(raw)
    except ValueError:
        raise AcceptanceError(f"{TOLERANCE_ENV}: not a number: {raw!r}") from None
    if not 0 < value <= 180:
        raise AcceptanceError(f"{TOLERANCE_ENV}: must be above 0 and at most 180, got {raw}")
    return value


def criteria_from(document: Any, source: str = "criteria") -> AcceptanceCriteria:
    """Criteria from a parsed document (None: the defaults); raises AcceptanceError naming
    `source` and the key."""
    try:
        raw = _CriteriaFile.model_validate(document or {})
    except ValidationError as exc:
        raise AcceptanceError(f"{source}: {first_problem(exc)}") from exc
    try:
        targets = LightingTargets.with_overrides(raw.lighting_targets)
    except ValueError as exc:
        raise AcceptanceError(f"{source}: lighting_targets: {exc}") from exc
    tolerance = raw.switch_tolerance_min
    return AcceptanceCriteria(
        targets=targets,
        switch_tolerance_min=default_tolerance_min() if tolerance is None else tolerance,
        energy_tolerance_pct=raw.energy_tolerance_pct,
        max_nights=raw.max_nights,
        sampling=Sampling(**raw.sampling.model_dump()),
    )


def load_criteria(path: Path | str | None) -> AcceptanceCriteria:
    """The criteria of a YAML file, or the defaults (None)."""
    if path is None:
        return criteria_from(None)
    return criteria_from(read_yaml(path, AcceptanceError), str(path))
