"""Crew notifications: tell maintainers' crews about alarms by webhook, WeCom, DingTalk or email.

The alarm manager hands every alarm event a crew should hear about to `Notifier.submit`.
`Notifier.run` gathers each maintainer's notices for `digest_window_s` (wall seconds), then
sends them to each of the maintainer's targets: one message per notice, or one digest when
more than `digest_threshold` came in the window (a dead cabinet must not flood a group chat
with a hundred lamp alarms). Child alarms suppressed under a root cause are never sent.

Each target has its own bounded queue and worker, so a dead mail server never holds up a group
robot. Transient failures (connection errors, timeouts, HTTP 5xx or 429, a robot's "busy" or
rate-limit errcode, an SMTP 4xx) are retried with capped, jittered backoff up to `attempts`;
permanent ones (HTTP 4xx, any other errcode, an SMTP 5xx) are not. Robot URLs carry their key
in the query string: logs name a target by host and path only.

The file format and the messages are documented in docs/contract.md, "Notifications".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
import smtplib
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from streetlight.backoff import Backoff, LinkState
from streetlight.domain import AlarmType, AssetKind, Severity, check_id
from streetlight.errors import ConfigError, StreetlightError
from streetlight.yamlfile import first_problem, read_yaml

logger = logging.getLogger(__name__)

EVENTS = frozenset({"raised", "cleared", "escalated"})  # escalated: a work order is overdue
_ASSET_KINDS = frozenset(kind.value for kind in AssetKind)
MAX_WINDOW = 10_000  # notices one maintainer's window holds; more are dropped and counted
MAX_QUEUED = 1_000  # messages waiting for one target; more are dropped and counted
MARKDOWN_LIMIT = 4_000  # bytes: WeCom refuses markdown over 4096
DETAIL_LIMIT = 500  # characters of an alarm's detail in a message
# errcodes worth trying again: -1 "system busy"; 45009 / 130101 "over the rate limit" (each
# robot takes 20 messages a minute). Any other non-zero errcode is a permanent refusal.
WECOM_RETRIABLE = frozenset({-1, 45009})
DINGTALK_RETRIABLE = frozenset({-1, 130101})
USER_AGENT = "streetlight-notify"


class NotifyError(StreetlightError):
    """Base class of the notifier's errors."""


class NotifyConfigError(NotifyError, ConfigError, ValueError):
    """A notification file that cannot be used; the message names the file and the key."""


class DeliveryError(NotifyError):
    """A message did not reach its target."""


class TransientError(DeliveryError):
    """The target could not be reached or asked us to come back later: worth another try."""


class RejectedError(DeliveryError):
    """The target answered and refused the message: trying again would not help."""


# --- what is sent ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notice:
    """One alarm event a maintainer's crew should hear about."""

    alarm_id: str
    type: AlarmType
    severity: Severity
    event: str  # raised, cleared or escalated (a work order is overdue)
    asset: str  # "lamp:PP-S04-L001", "circuit:X", "cabinet:Y"
    site: str
    site_name: str
    maintainer: str  # maintainer id
    at: datetime  # when the event happened (simulated time)
    raised_at: datetime
    detail: str | None = None
    work_order: str | None = None
    deadline: datetime | None = None
    parent: str | None = None  # the root alarm a suppressed child alarm is filed under

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", AlarmType(self.type))
        object.__setattr__(self, "severity", Severity(self.severity))
        if self.event not in EVENTS:
            raise ValueError(f"notice {self.alarm_id}: event must be one of {sorted(EVENTS)}")
        kind, _, ident = self.asset.partition(":")
        if kind not in _ASSET_KINDS or not ident:
            raise ValueError(f"notice {self.alarm_id}: asset must be kind:id, got {self.asset!r}")
        for name in ("at", "raised_at", "deadline"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"notice {self.alarm_id}: {name} must be timezone-aware")

    def document(self) -> dict[str, Any]:
        """Every field, JSON-ready (datetimes in ISO 8601), as the generic webhook sends it."""
        document = asdict(self)
        for key, value in document.items():
            if isinstance(value, datetime):
                document[key] = value.isoformat()
            elif isinstance(value, StrEnum):
                document[key] = value.value
        return document


@dataclass(frozen=True, slots=True)
class Message:
    """What one target is sent: one notice, or a digest of a window's notices."""

    maintainer: str
    notices: tuple[Notice, ...]
    digest: bool

    def describe(self) -> str:
        if self.digest:
            return f"digest of {len(self.notices)} notices"
        notice = self.notices[0]
        return f"{notice.event} {notice.type.value} {notice.asset} ({notice.alarm_id})"


@dataclass
class NotifyStats:
    submitted: int = 0
    sent_messages: int = 0  # delivered, counted per target (digests included)
    digests: int = 0  # digest messages delivered, counted per target
    retried: int = 0  # attempts repeated after a transient failure
    failed: int = 0  # messages given up, counted per target
    dropped_children: int = 0
    unrouted: int = 0  # notices for a maintainer without targets
    overflowed: int = 0  # notices or messages dropped because a window or a queue was full


# --- configuration -----------------------------------------------------------------------------

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


# --- how it reads ------------------------------------------------------------------------------

SEVERITY_ZH = {Severity.EMERGENCY: "紧急", Severity.SERIOUS: "严重", Severity.ORDINARY: "一般"}
_SEVERITY_RANK = {Severity.EMERGENCY: 0, Severity.SERIOUS: 1, Severity.ORDINARY: 2}
EVENT_ZH = {"raised": "新告警", "cleared": "已恢复", "escalated": "超期未修"}
TYPE_ZH = {
    AlarmType.LAMP_FAILURE: "灯具故障",
    AlarmType.LOW_POWER: "功率偏低",
    AlarmType.HIGH_POWER: "功率偏高",
    AlarmType.DIMMING_FAILURE: "调光失败",
    AlarmType.DAY_BURNING: "白天亮灯",
    AlarmType.CYCLING: "频繁开关",
    AlarmType.LAMP_OFFLINE: "单灯离线",
    AlarmType.VOLTAGE_HIGH: "电压过高",
    AlarmType.VOLTAGE_LOW: "电压过低",
    AlarmType.OVER_TEMPERATURE: "温度过高",
    AlarmType.SUPPLY_LOSS: "配电箱失电",
    AlarmType.PHASE_LOSS: "缺相",
    AlarmType.CIRCUIT_DEAD: "回路断电（疑似电缆被盗）",  # noqa: RUF001 - Chinese punctuation
    AlarmType.LEAKAGE: "漏电",
    AlarmType.DOOR_OPEN: "箱门打开",
    AlarmType.COMMAND_FAILED: "指令失败",
}


def _local(when: datetime, tz: tzinfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def headline(message: Message) -> str:
    """One line: the email subject and the DingTalk title."""
    if message.digest:
        notices = message.notices
        urgent = sum(n.severity is Severity.EMERGENCY for n in notices)
        extra = f", {urgent} 紧急 emergency" if urgent else ""
        return f"告警汇总 Alarm digest · {message.maintainer}: {len(notices)} 条 notices{extra}"
    notice = message.notices[0]
    return (
        f"[{SEVERITY_ZH[notice.severity]} {notice.severity.value}] "
        f"{EVENT_ZH[notice.event]} {TYPE_ZH.get(notice.type, '')} {notice.type.value} · "
        f"{notice.asset} · {notice.site_name}"
    )


def _fields(notice: Notice, tz: tzinfo) -> list[tuple[str, str]]:
    rows = [
        ("事件 Event", f"{EVENT_ZH[notice.event]} {notice.event}"),
        ("级别 Severity", f"{SEVERITY_ZH[notice.severity]} {notice.severity.value}"),
        ("类型 Type", f"{TYPE_ZH.get(notice.type, '')} {notice.type.value}"),
        ("设备 Asset", notice.asset),
        ("站点 Site", f"{notice.site_name} ({notice.site})"),
        ("发生 Raised", _local(notice.raised_at, tz)),
    ]
    if notice.event != "raised":
        rows.append(("时间 At", _local(notice.at, tz)))
    if notice.work_order is not None:
        rows.append(("工单 Work order", notice.work_order))
    if notice.deadline is not None:
        rows.append(("期限 Deadline", _local(notice.deadline, tz)))
    if notice.detail:
        rows.append(("详情 Detail", _clip(notice.detail, DETAIL_LIMIT)))
    rows.append(("告警 Alarm", notice.alarm_id))
    return rows


def _counts(counter: Counter[str]) -> str:
    return " · ".join(f"{name} {count}" for name, count in counter.most_common())


def _digest_lines(message: Message, tz: tzinfo, limit: int) -> tuple[list[str], list[str]]:
    """The digest's summary, and its first `limit` notices, most severe first."""
    notices = sorted(message.notices, key=lambda n: (_SEVERITY_RANK[n.severity], n.at))
    summary = [
        "级别 Severity: "
        + _counts(Counter(f"{SEVERITY_ZH[n.severity]} {n.severity.value}" for n in notices)),
        "事件 Events: " + _counts(Counter(f"{EVENT_ZH[n.event]} {n.event}" for n in notices)),
        "类型 Types: "
        + _counts(Counter(f"{TYPE_ZH.get(n.type, '')} {n.type.value}" for n in notices)),
        "站点 Sites: " + _counts(Counter(n.site_name for n in notices)),
    ]
    listed = []
    for index, n in enumerate(notices[:limit], start=1):
        order = f" · 工单 {n.work_order}" if n.work_order else ""
        listed.append(
            f"{index}. [{SEVERITY_ZH[n.severity]}] {EVENT_ZH[n.event]} {n.type.value} "
            f"{n.asset} · {n.site_name} · {_local(n.at, tz)}{order}"
        )
    if len(notices) > limit:
        listed.append(f"… 另有 {len(notices) - limit} 条 and {len(notices) - limit} more")
    return summary, listed


def render_markdown(message: Message, tz: tzinfo, digest_lines: int, sep: str = "\n") -> str:
    """The WeCom / DingTalk markdown, cut to fit `MARKDOWN_LIMIT` bytes."""
    lines = [f"### {headline(message)}"]
    if message.digest:
        summary, listed = _digest_lines(message, tz, digest_lines)
        lines += [f"> {line}" for line in summary] + listed
    else:
        lines += [f"> **{label}**: {value}" for label, value in _fields(message.notices[0], tz)]
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode()) + len(sep)
        if size > MARKDOWN_LIMIT - 100:  # room for the note below
            kept.append(
                f"… 已截断 {len(lines) - len(kept)} 行 ({len(lines) - len(kept)} lines cut)"
            )
            break
        kept.append(line)
    return sep.join(kept)


def render_text(message: Message, tz: tzinfo, digest_lines: int) -> str:
    """The plain-text email body."""
    lines = [headline(message), ""]
    if message.digest:
        summary, listed = _digest_lines(message, tz, digest_lines)
        lines += [*summary, "", *listed]
    else:
        lines += [f"{label}: {value}" for label, value in _fields(message.notices[0], tz)]
    return "\n".join([*lines, "", "-- Streetlight"]) + "\n"


def webhook_body(message: Message) -> dict[str, Any]:
    return {
        "event": "digest" if message.digest else "alarm",
        "notices": [notice.document() for notice in message.notices],
    }


def dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The robot URL with DingTalk's `timestamp` and `sign` (HMAC-SHA256, base64, URL-encoded)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if urlsplit(url).query else '?'}timestamp={timestamp_ms}&sign={sign}"


def email_message(target: NotifyTarget, message: Message, tz: tzinfo, lines: int) -> EmailMessage:
    assert target.sender is not None
    mail = EmailMessage()
    mail["Subject"] = headline(message)
    mail["From"] = target.sender
    mail["To"] = ", ".join(target.recipients)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=parseaddr(target.sender)[1].partition("@")[2])
    mail.set_content(render_text(message, tz, lines), charset="utf-8")
    return mail


# --- how it is sent ----------------------------------------------------------------------------


async def _post(http: httpx.AsyncClient, url: str, body: Any, timeout_s: float) -> httpx.Response:
    try:
        response = await http.post(
            url,
            content=orjson.dumps(body),
            headers={"content-type": "application/json; charset=utf-8"},
            timeout=timeout_s,
        )
    except httpx.TimeoutException as exc:
        raise TransientError("timed out") from exc
    except httpx.TransportError as exc:  # raised before any answer: the URL is not in it
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # e.g. a malformed answer
        raise RejectedError(type(exc).__name__) from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientError(f"HTTP {status}")
    if status >= 300:
        raise RejectedError(f"HTTP {status}")
    return response


def _check_errcode(response: httpx.Response, retriable: frozenset[int]) -> None:
    try:
        reply = orjson.loads(response.content)
        code = int(reply["errcode"])
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
        raise RejectedError("the reply has no errcode: not a group robot?") from exc
    if code == 0:
        return
    error = TransientError if code in retriable else RejectedError
    raise error(f"errcode {code}: {_clip(str(reply.get('errmsg', '')), 200)}")


def send_mail(target: NotifyTarget, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """Send by SMTP (blocking: run it in a thread); returns the recipients refused."""
    assert target.smtp_host is not None
    try:
        with smtplib.SMTP(target.smtp_host, target.port, timeout=target.timeout_s) as smtp:
            if target.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if target.username is not None and target.password is not None:
                smtp.login(target.username, target.password.get_secret_value())
            return smtp.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = TransientError if all(400 <= c < 500 for c in codes) else RejectedError
        raise error(f"every recipient refused (SMTP {', '.join(map(str, codes))})") from exc
    except smtplib.SMTPResponseException as exc:  # the server answered with an error code
        error = TransientError if 400 <= exc.smtp_code < 500 else RejectedError
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        raise error(f"SMTP {exc.smtp_code}: {_clip(reply, 200)}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientError(f"disconnected: {exc}") from exc
    except smtplib.SMTPException as exc:  # e.g. no STARTTLS, no usable AUTH method
        raise RejectedError(str(exc)) from exc
    except ssl.SSLCertVerificationError as exc:
        raise RejectedError(f"server certificate not trusted: {exc.verify_message}") from exc
    except OSError as exc:  # refused, unreachable, timed out
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc


@dataclass(eq=False)
class _Route:
    """One target of one maintainer: its queue of messages and its link state."""

    maintainer: str
    target: NotifyTarget
    name: str
    link: LinkState
    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED))
    busy: bool = False
    full_logged: bool = False


@dataclass
class _Window:
    due: float  # time.monotonic()
    notices: list[Notice] = field(default_factory=list)
    overflowed: int = 0


class Notifier:
    """Gathers notices per maintainer and delivers them to the maintainer's targets.

    Call `submit` from the event loop's thread; run `run` in a TaskGroup.
    """

    def __init__(self, config: NotifyConfig, *, tz: tzinfo | None = None) -> None:
        self.config = config
        self.tz = tz if tz is not None else ZoneInfo(config.timezone)
        self.stats = NotifyStats()
        self._routes: dict[str, list[_Route]] = {}
        for maintainer, targets in config.maintainers.items():
            for index, target in enumerate(targets):
                name = f"{maintainer}[{index}] {target.kind} {target.where}"
                route = _Route(maintainer, target, name, LinkState(logger, f"notify {name}"))
                self._routes.setdefault(maintainer, []).append(route)
                if target.password is not None and not target.starttls:
                    logger.warning("%s: the SMTP password goes out without STARTTLS", name)
        self._windows: dict[str, _Window] = {}
        self._unrouted: set[str] = set()
        self._wake = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._running = False

    # --- taking notices ------------------------------------------------------------------------

    def submit(self, notice: Notice) -> None:
        """Take a notice, to be sent when its maintainer's window closes; never blocks."""
        self.stats.submitted += 1
        if notice.parent is not None:
            self.stats.dropped_children += 1
            return
        if notice.maintainer not in self._routes:
            self.stats.unrouted += 1
            if notice.maintainer not in self._unrouted:
                self._unrouted.add(notice.maintainer)
                logger.warning("maintainer %s has no notification targets", notice.maintainer)
            return
        window = self._windows.get(notice.maintainer)
        if window is None:
            window = _Window(time.monotonic() + self.config.digest_window_s)
            self._windows[notice.maintainer] = window
            self._wake.set()
        if len(window.notices) >= MAX_WINDOW:
            window.overflowed += 1
            self.stats.overflowed += 1
            return
        window.notices.append(notice)

    def _close(self, maintainer: str) -> None:
        """Turn a maintainer's window into messages on each of its targets' queues."""
        window = self._windows.pop(maintainer)
        if window.overflowed:
            logger.warning(
                "%s: %d notices beyond %d in one window were dropped",
                maintainer,
                window.overflowed,
                MAX_WINDOW,
            )
        notices = tuple(window.notices)
        if len(notices) > self.config.digest_threshold:
            messages = [Message(maintainer, notices, digest=True)]
        else:
            messages = [Message(maintainer, (notice,), digest=False) for notice in notices]
        for route in self._routes[maintainer]:
            for message in messages:
                try:
                    route.queue.put_nowait(message)
                except asyncio.QueueFull:
                    self.stats.overflowed += 1
                    if not route.full_logged:
                        route.full_logged = True
                        logger.warning(
                            "%s: %d messages waiting, dropping more", route.name, MAX_QUEUED
                        )
                else:
                    route.full_logged = False

    # --- running -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Gather and send until `stop` is set; then send what is pending, for up to
        `shutdown_grace_s`, and return."""
        if self._running:
            raise RuntimeError("Notifier.run is already running")
        self._running = True
        try:
            async with self._client(), asyncio.TaskGroup() as tasks:
                workers = [
                    tasks.create_task(self._work(route), name=f"notify {route.name}")
                    for route in self._all_routes()
                ]
                tasks.create_task(self._wake_on(stop), name="notify stop")
                await self._gather(stop)
                await self._shut_down()
                for worker in workers:
                    worker.cancel()
        finally:
            self._running = False

    async def flush(self) -> None:
        """Send everything pending now; return once each message is delivered or given up."""
        for maintainer in list(self._windows):
            self._close(maintainer)
        if self._running:
            for route in self._all_routes():
                await route.queue.join()
            return
        async with self._client(), asyncio.TaskGroup() as tasks:
            for route in self._all_routes():
                if not route.queue.empty():
                    tasks.create_task(self._drain(route), name=f"notify {route.name}")

    def _all_routes(self) -> Iterable[_Route]:
        for routes in self._routes.values():
            yield from routes

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[None]:
        async with httpx.AsyncClient(headers={"user-agent": USER_AGENT}) as http:
            self._http = http
            try:
                yield
            finally:
                self._http = None

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _gather(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            for maintainer, window in list(self._windows.items()):
                if window.due <= now:
                    self._close(maintainer)
            due = min((window.due for window in self._windows.values()), default=None)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else max(0.0, due - now)):
                    await self._wake.wait()

    async def _shut_down(self) -> None:
        try:
            async with asyncio.timeout(self.config.shutdown_grace_s):
                await self.flush()
        except TimeoutError:
            left = sum(route.queue.qsize() + route.busy for route in self._all_routes())
            self.stats.failed += left
            if not left:
                return
            logger.warning(
                "stopping with %d messages undelivered after %.1f s",
                left,
                self.config.shutdown_grace_s,
            )

    async def _work(self, route: _Route) -> None:
        while True:
            message = await route.queue.get()
            try:
                await self._deliver(route, message)
            finally:
                route.queue.task_done()

    async def _drain(self, route: _Route) -> None:
        while not route.queue.empty():
            message = route.queue.get_nowait()
            try:
                await self._deliver(route, message)
            finally:
                route.queue.task_done()

    async def _deliver(self, route: _Route, message: Message) -> None:
        """Send one message to one target, retrying transient failures up to `attempts`."""
        backoff = Backoff(self.config.backoff_initial_s, self.config.backoff_cap_s)
        route.busy = True
        try:
            for attempt in range(1, self.config.attempts + 1):
                try:
                    async with asyncio.timeout(route.target.timeout_s):
                        await self._send(route.target, message)
                except RejectedError as exc:
                    self._give_up(route, message, attempt, f"refused: {exc}")
                    return
                except (TransientError, TimeoutError) as exc:
                    reason = str(exc) or "timed out"
                    route.link.failed(reason)
                    if attempt == self.config.attempts:
                        self._give_up(route, message, attempt, reason)
                        return
                    self.stats.retried += 1
                    logger.debug("%s: attempt %d failed: %s", route.name, attempt, reason)
                    await asyncio.sleep(backoff.next_delay())
                else:
                    route.link.ok()
                    self.stats.sent_messages += 1
                    if message.digest:
                        self.stats.digests += 1
                    return
        finally:
            route.busy = False

    def _give_up(self, route: _Route, message: Message, attempts: int, reason: str) -> None:
        self.stats.failed += 1
        logger.warning(
            "%s: gave up on %s after %d attempt%s: %s",
            route.name,
            message.describe(),
            attempts,
            "" if attempts == 1 else "s",
            reason,
        )

    async def _send(self, target: NotifyTarget, message: Message) -> None:
        lines = self.config.digest_lines
        if target.kind == "email":
            mail = email_message(target, message, self.tz, lines)
            refused = await asyncio.to_thread(send_mail, target, mail)
            if refused:
                logger.warning("%s: recipients refused: %s", target.where, ", ".join(refused))
            return
        assert self._http is not None
        assert target.url is not None
        if target.kind == "webhook":
            await _post(self._http, target.url, webhook_body(message), target.timeout_s)
        elif target.kind == "wecom":
            content = render_markdown(message, self.tz, lines)
            body = {"msgtype": "markdown", "markdown": {"content": content}}
            response = await _post(self._http, target.url, body, target.timeout_s)
            _check_errcode(response, WECOM_RETRIABLE)
        else:
            url = target.url
            if target.secret is not None:
                stamp = int(time.time() * 1000)  # DingTalk wants wall time within the hour
                url = dingtalk_url(url, target.secret.get_secret_value(), stamp)
            text = render_markdown(message, self.tz, lines, sep="\n\n")
            body = {"msgtype": "markdown", "markdown": {"title": headline(message), "text": text}}
            response = await _post(self._http, url, body, target.timeout_s)
            _check_errcode(response, DINGTALK_RETRIABLE)
