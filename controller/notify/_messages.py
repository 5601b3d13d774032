"""What crews are told: an alarm event as a `Notice`, what one target is sent as a `Message`
(one notice, or a window's digest), and how a message reads: markdown for the group robots,
plain text for email, JSON for the generic webhook. Messages are bilingual, Chinese first."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from enum import StrEnum
from typing import Any

from controller.notify._config import NotifyTarget
from streetlight.domain import AlarmType, AssetKind, Severity

EVENTS = frozenset({"raised", "cleared", "escalated"})  # escalated: a work order is overdue
_ASSET_KINDS = frozenset(kind.value for kind in AssetKind)
MARKDOWN_LIMIT = 4_000  # bytes: WeCom refuses markdown over 4096
DETAIL_LIMIT = 500  # characters of an alarm's detail in a message


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


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis if longer."""
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
        rows.append(("详情 Detail", clip(notice.detail, DETAIL_LIMIT)))
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
