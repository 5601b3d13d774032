"""Settings shared by every process, read from `STREETLIGHT_*` environment variables.

Each process builds one settings object in its `main()` (never at import time) through
`load_settings`, which turns pydantic's validation errors into one line per variable:
``STREETLIGHT_MQTT_URL: scheme must be mqtt or mqtts, got 'http'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from streetlight.clock import Clock, clock_from
from streetlight.domain.renovation import DEFAULT_DARK_FACTOR, DarkRoadRule
from streetlight.errors import ConfigError

ENV_PREFIX = "STREETLIGHT_"

_TOPIC_ROOT = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
_INFLUX_DB = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DURATION = re.compile(r"^[1-9][0-9]{0,5}[hdw]$")


@dataclass(frozen=True, slots=True)
class MqttUrl:
    """Where the broker is: ``mqtt://user:pass@host:port`` or ``mqtts://`` for TLS."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, value: str) -> MqttUrl:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"scheme must be mqtt or mqtts, got {parts.scheme!r} in {value!r}")
        if not parts.hostname:
            raise ValueError(f"no host in {value!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port if port is not None else (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __str__(self) -> str:
        """The URL without its password, for logs and messages."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def _check_http_url(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme must be http or https, got {parts.scheme!r} in {value!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {value!r}")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in {value!r}") from exc
    return value.rstrip("/")


HttpUrlField = Annotated[str, BeforeValidator(_check_http_url)]


class CommonSettings(BaseSettings):
    """What every Streetlight process needs to reach the bus, the time series and the store."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_ca_file: Path | None = None
    mqtt_root: str = "streetlight"
    # first topic level(s) of field devices' vendor topics (the simulator's, or real nodes')
    field_root: str = "field"
    influx_url: HttpUrlField = "http://127.0.0.1:8086"
    influx_db: str = "streetlight"
    influx_token: SecretStr | None = None
    influx_user: str | None = None
    influx_password: SecretStr | None = None
    influx_retention: str = "35d"
    # the KPI measurements' retention policy `kpi` (docs/contract.md "KPI measurements")
    influx_kpi_retention: str = "INF"
    # gzip request bodies: "auto" compresses unless InfluxDB is on this host (loopback), where
    # compressing only spends CPU the server needs (bench/influx_write.py measures both)
    influx_gzip: Literal["auto", "on", "off"] = "auto"
    db_url: str = Field(default="", description="default: a SQLite file in var_dir")
    var_dir: Path = Path("var")
    profiles_dir: Path = Path("profiles")
    # simulated time: processes given the same three agree on it (see streetlight.clock)
    clock_start: datetime | None = None
    clock_speed: float = Field(default=1.0, gt=0, le=10_000)
    clock_anchor: float | None = Field(default=None, description="wall epoch of clock_start")
    log_level: str = "INFO"
    # the survey (docs/contract.md "Survey"): a lamp is reporting with a report this recent
    # (3 reporting intervals of 60 s, as lamp_offline judges silence); a road is dark farther
    # than survey_dark_factor x its class's designed pole spacing from every installed lamp
    # (defaults: streetlight.domain.DEFAULT_POLE_SPACING_M; give some, e.g. {"main": 45})
    survey_reporting_s: float = Field(default=180.0, gt=0, le=30 * 86_400)
    survey_pole_spacing_m: dict[str, float] = Field(default_factory=dict)
    survey_dark_factor: float = Field(default=DEFAULT_DARK_FACTOR, ge=0.5, le=10)

    @field_validator("survey_pole_spacing_m")
    @classmethod
    def _pole_spacing(cls, value: dict[str, float]) -> dict[str, float]:
        DarkRoadRule.with_overrides(value)  # refuses an unknown class or spacing, naming it
        return value

    def dark_road_rule(self) -> DarkRoadRule:
        return DarkRoadRule.with_overrides(self.survey_pole_spacing_m, self.survey_dark_factor)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        MqttUrl.parse(value)
        return value

    @property
    def mqtt(self) -> MqttUrl:
        return MqttUrl.parse(self.mqtt_url)

    @field_validator("mqtt_root", "field_root")
    @classmethod
    def _topic_root(cls, value: str) -> str:
        if not _TOPIC_ROOT.match(value):
            raise ValueError(
                f"must be topic levels of letters, digits, '_' or '-' joined by '/', got {value!r}"
            )
        return value

    @field_validator("influx_db")
    @classmethod
    def _influx_db(cls, value: str) -> str:
        if not _INFLUX_DB.match(value):
            raise ValueError(f"must be 1-64 letters, digits, '_' or '-', got {value!r}")
        return value

    @field_validator("influx_retention", "influx_kpi_retention")
    @classmethod
    def _influx_retention(cls, value: str) -> str:
        if value != "INF" and not _DURATION.match(value):
            raise ValueError(f"must be INF or a duration like 35d, 12w or 720h, got {value!r}")
        return value

    @model_validator(mode="after")
    def _default_db_url(self) -> Self:
        if not self.db_url:
            # frozen model: set the derived default once, while it is being built
            object.__setattr__(self, "db_url", f"sqlite:///{self.var_dir / 'streetlight.db'}")
        return self

    @field_validator("db_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not an SQLAlchemy URL: {value!r}") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                f"backend must be sqlite or postgresql, got {url.get_backend_name()!r}"
            )
        return value

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must have a UTC offset, e.g. 2026-12-21T18:00:00+08:00")
        return value

    def clock(self) -> Clock:
        """The process's clock: wall time, or the shared simulated time."""
        return clock_from(self.clock_start, self.clock_speed, self.clock_anchor)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT], **overrides: Any) -> SettingsT:
    """Build `cls` from the environment; a bad value raises `ConfigError` naming the variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for error in exc.errors():
            name = prefix + "_".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise ConfigError("; ".join(problems)) from exc
