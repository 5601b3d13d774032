"""The notification file: each maintainer's targets (a generic JSON webhook, a WeCom or
DingTalk group robot, an SMTP mailbox) and how notices are gathered and retried. Its format is
documented in docs/contract.md, "Notifications"."""

from __future__ import annotations

import re
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from controller.notify._errors import NotifyConfigError
from streetlight.domain import check_id
from streetlight.yamlfile import first_problem, read_yaml

_HTTP = frozenset({"webhook", "wecom", "dingtalk"})
_EMAIL = frozenset({"email"})
_BELONGS: dict[str, frozenset[str]] = {
    "url": _HTTP,
    "secret": frozenset({"dingtalk"}),
    **dict.fromkeys(
        ("smtp_host", "smtp_port", "username", "password", "starttls", "sender", "recipients"),
        _EMAIL,
    ),
}
_REQUIRED: dict[str, frozenset[str]] = {
    "url": _HTTP,
    "smtp_host": _EMAIL,
    "sender": _EMAIL,
    "recipients": _EMAIL,
}
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


class NotifyTarget(BaseModel):
    """Where one maintainer's notices go."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    kind: Literal["webhook", "wecom", "dingtalk", "email"]
    url: str | None = Field(default=None, repr=False)  # robot URLs carry their key
    secret: SecretStr | None = None  # DingTalk's signing secret ("SEC...")
    smtp_host: str | None = None
    # default 587 with STARTTLS, else 25
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    sender: str | None = None
    recipients: list[str] = []
    timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator(*_BELONGS)
    @classmethod
    def _for_kind(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is wrong, and reported
            return value
        name = str(info.field_name)
        given = value is not None and value is not False and value != []
        if given and kind not in _BELONGS[name]:
            raise ValueError(f"only for kind {' or '.join(sorted(_BELONGS[name]))}, not {kind}")
        if not given and kind in _REQUIRED.get(name, ()):
            raise ValueError(f"required for kind {kind}")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"scheme must be http or https, got {parts.scheme!r}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("bad port") from exc
        if not parts.hostname or port == 0:
            raise ValueError("needs a host (and a port other than 0)")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None:
            _check_address(value)
        return value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        for address in value:
            _check_address(address)
        return value

    @field_validator("password")
    @classmethod
    def _login(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if (value is None) != (info.data.get("username") is None):
            raise ValueError("username and password go together")
        return value

    @property
    def port(self) -> int:
        """The SMTP port."""
        if self.smtp_port is not None:
            return self.smtp_port
        return 587 if self.starttls else 25

    @property
    def where(self) -> str:
        """The target for logs: host and path, never a key, secret or password."""
        if self.kind == "email":
            return f"smtp {self.smtp_host}:{self.port}"
        parts = urlsplit(self.url or "")
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.hostname}{port}{parts.path}"


def _check_address(value: str) -> None:
    if "\n" in value or "\r" in value or not _ADDRESS.match(parseaddr(value)[1]):
        raise ValueError(f"not an email address: {value!r}")


class NotifyConfig(BaseModel):
    """The notification file: each maintainer's targets, and how to gather and retry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    maintainers: dict[str, list[NotifyTarget]] = {}
    digest_window_s: float = Field(default=30.0, gt=0, le=3600)
    digest_threshold: int = Field(default=5, ge=1)
    digest_lines: int = Field(default=20, ge=1, le=200)  # notices listed in a digest
    attempts: int = Field(default=5, ge=1, le=100)
    backoff_initial_s: float = Field(default=2.0, gt=0)
    backoff_cap_s: float = Field(default=120.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    timezone: str = "Asia/Shanghai"  # of the times in messages

    @field_validator("maintainers")
    @classmethod
    def _maintainer_ids(cls, value: dict[str, list[NotifyTarget]]) -> dict[str, list[NotifyTarget]]:
        for maintainer in value:
            check_id("maintainer", maintainer)
        return value

    @field_validator("backoff_cap_s")
    @classmethod
    def _cap(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("backoff_initial_s")
        if initial is not None and value < initial:
            raise ValueError(f"must be at least backoff_initial_s ({initial})")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def load_notify_config(path: Path) -> NotifyConfig:
    """Read a notification file; a bad one raises `NotifyConfigError` naming file and key."""
    document: Any = read_yaml(path, NotifyConfigError)
    if not isinstance(document, dict):
        raise NotifyConfigError(f"{path}: expected a mapping with maintainers and settings")
    try:
        return NotifyConfig.model_validate(document)
    except ValidationError as exc:
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise NotifyConfigError(f"{path}: {first_problem(exc)}{more}") from exc
