"""Detection thresholds: defaults for every lamp and cabinet, overridden per lamp model and site.

A thresholds file (YAML, docs/contract.md "Alarm thresholds") may set any field for all
assets (`defaults`), for the lamps of one model (`models`, by profile id) and for one site
(`sites`); a site's values win over its lamps' model, which wins over the defaults:

    defaults: {report_interval_s: 60}
    models:   {slc-modbus-b: {temperature_limit_c: 80}}
    sites:    {PP-S04: {power_tolerance: 0.2}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streetlight.errors import StreetlightError
from streetlight.yamlfile import read_yaml


class ThresholdError(StreetlightError):
    """A thresholds file that cannot be used; the message names the file and the key."""


class Thresholds(BaseModel):
    """What counts as a fault, and how much evidence it takes (DESIGN.md section 6)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_interval_s: float = Field(default=60.0, gt=0, description="how often devices report")
    failure_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="lamp_failure: lit below this share of expected"
    )
    power_tolerance: float = Field(
        default=0.15, gt=0, lt=1, description="low/high_power: outside expected x (1 +- this)"
    )
    day_burning_w: float = Field(default=5.0, gt=0, description="drawing more while off")
    cycling_transitions: int = Field(
        default=3, ge=2, description="cycling: this many lit/dark changes within the window"
    )
    cycling_window_s: float = Field(default=1200.0, gt=0)
    offline_intervals: float = Field(
        default=3.0, gt=0, description="lamp_offline: silent this many reporting intervals"
    )
    voltage_low: float = Field(default=0.9, gt=0, description="share of nominal voltage")
    voltage_high: float = Field(default=1.1, gt=1)
    dead_voltage_v: float = Field(default=50.0, ge=0, description="below this a phase is dead")
    temperature_limit_c: float = Field(default=85.0, description="driver temperature limit")
    leakage_ma: float = Field(default=30.0, gt=0, description="earth leakage limit")
    dead_circuit_a: float = Field(
        default=0.02, ge=0, description="a circuit drawing less than this carries no load"
    )
    warmup_s: float = Field(
        default=120.0, ge=0, description="power alarms wait this long after a command"
    )
    dim_confirm_s: float = Field(
        default=120.0, gt=0, description="dimming_failure: a command's time to take effect"
    )
    raise_after: int = Field(default=2, ge=1, description="bad reports in a row to raise")
    clear_after: int = Field(default=2, ge=1, description="good reports in a row to clear")

    @property
    def offline_after_s(self) -> float:
        return self.offline_intervals * self.report_interval_s


class ThresholdBook:
    """The thresholds that apply to a lamp (by model and site) or a cabinet (by site)."""

    def __init__(
        self,
        defaults: dict[str, Any] | None = None,
        models: dict[str, dict[str, Any]] | None = None,
        sites: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self._defaults = dict(defaults or {})
        self._models = models or {}
        self._sites = sites or {}
        self._cache: dict[tuple[str | None, str], Thresholds] = {}
        self.default = Thresholds(**self._defaults)
        layers = [  # each layer must be valid on its own
            Thresholds(**{**self._defaults, **extra})
            for extra in (*self._models.values(), *self._sites.values())
        ]
        # the slowest devices' interval, for what must wait for any lamp's next report
        self.longest_report_interval_s = max(t.report_interval_s for t in (self.default, *layers))

    def for_asset(self, model: str | None, site: str) -> Thresholds:
        key = (model, site)
        found = self._cache.get(key)
        if found is None:
            merged = {
                **self._defaults,
                **(self._models.get(model, {}) if model else {}),
                **self._sites.get(site, {}),
            }
            found = self._cache[key] = Thresholds(**merged) if merged else self.default
        return found


def load_thresholds(path: Path) -> ThresholdBook:
    document = read_yaml(path, ThresholdError) or {}
    if not isinstance(document, dict):
        raise ThresholdError(f"{path}: expected a mapping with defaults, models and sites")
    unknown = set(document) - {"defaults", "models", "sites"}
    if unknown:
        raise ThresholdError(f"{path}: unknown key(s) {sorted(unknown)}")
    layers: dict[str, dict[str, dict[str, Any]]] = {}
    for section in ("models", "sites"):
        value = document.get(section) or {}
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ThresholdError(f"{path}: {section}: expected a mapping of id to thresholds")
        layers[section] = value
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ThresholdError(f"{path}: defaults: expected a mapping")
    for where, values in (
        ("defaults", defaults),
        *((f"models.{k}", v) for k, v in layers["models"].items()),
        *((f"sites.{k}", v) for k, v in layers["sites"].items()),
    ):
        try:
            Thresholds(**{**defaults, **values})
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            raise ThresholdError(f"{path}: {where}.{field}: {error['msg']}") from None
    return ThresholdBook(defaults, layers["models"], layers["sites"])
