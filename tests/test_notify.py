"""Crew notifications, delivered to real servers on loopback: an HTTP receiver standing in for a
webhook, a WeCom and a DingTalk robot, and an aiosmtpd mail server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from controller.notify import (
    Notice,
    Notifier,
    NotifyConfig,
    NotifyConfigError,
    load_notify_config,
)
from streetlight.domain import AlarmType, Severity
from streetlight.services import free_port
from tests.conftest import ROOT
from tests.helpers import eventually, sample_district

T0 = datetime(2026, 12, 21, 10, 5, tzinfo=UTC)  # 18:05 in Xunyang
ROBOT_OK = {"errcode": 0, "errmsg": "ok"}
KEY = "a1b2c3d4-robot-key"  # the WeCom robot's key, in its URL's query string


# --- a webhook receiver --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    path: str
    raw_query: str
    content_type: str
    body: Any

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query)


class _Server(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        parts = urlsplit(self.path)
        with self.server.lock:
            content_type = self.headers.get("content-type", "")
            self.server.requests.append(Request(parts.path, parts.query, content_type, body))
            status, reply = self.server.script.pop(0) if self.server.script else (200, ROBOT_OK)
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Quiet: the test looks at the requests."""


class Receiver:
    """An HTTP server on loopback that records what it is sent. The first requests get the
    answers in `script` (status, JSON reply); the rest get 200 and a robot's errcode 0."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="receiver"
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def answer(self, *replies: tuple[int, dict[str, Any]]) -> None:
        with self._server.lock:
            self._server.script.extend(replies)

    def on(self, path: str) -> list[Request]:
        with self._server.lock:
            return [r for r in self._server.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


# --- a mail server -------------------------------------------------------------------------------


@dataclasses.dataclass
class Mailbox:
    """aiosmtpd's handler and authenticator: keeps what it is sent, takes one password."""

    port: int
    password: bytes = b"hunter2"
    mails: list[tuple[str, list[str], EmailMessage]] = dataclasses.field(default_factory=list)
    logins: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        assert isinstance(envelope.content, bytes)
        mail = BytesParser(policy=default_policy).parsebytes(envelope.content)
        self.mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), mail))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        # handled=False: aiosmtpd answers a refusal with 535 itself
        return AuthResult(success=data.password == self.password, handled=False)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    server = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=box.authenticate,
        auth_require_tls=False,  # loopback only; STARTTLS would need a certificate here
    )
    server.start()
    try:
        yield box
    finally:
        server.stop()


def email_target(mailbox: Mailbox, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "username": "crew",
        "password": "hunter2",
        "sender": "Streetlight <alarms@streetlight.test>",
        "recipients": ["duty@xy-lds.test", "lead@xy-lds.test"],
        **changes,
    }


# --- notices and notifiers -----------------------------------------------------------------------


def notice(n: int = 1, **changes: Any) -> Notice:
    base = Notice(
        alarm_id=f"al-{n}",
        type=AlarmType.LAMP_FAILURE,
        severity=Severity.ORDINARY,
        event="raised",
        asset=f"lamp:XY-S01-L{n:03d}",
        site="XY-S01",
        site_name="湓城巷",
        maintainer="XY-LDS",
        at=T0 + timedelta(seconds=n),
        raised_at=T0 + timedelta(seconds=n),
    )
    return dataclasses.replace(base, **changes)


CIRCUIT_CUT = notice(
    type=AlarmType.CIRCUIT_DEAD,
    severity=Severity.EMERGENCY,
    asset="circuit:XY-S01-K1-C2",
    at=T0,
    raised_at=T0,
    detail="12 lamps lost supply together, cabinet live",
    work_order="WO-0007",
    deadline=T0 + timedelta(hours=1),
)


def config(maintainers: dict[str, list[dict[str, Any]]], **settings: Any) -> NotifyConfig:
    """Tests close windows with `flush` (or a short window) and retry quickly."""
    return NotifyConfig.model_validate(
        {
            "maintainers": maintainers,
            "digest_window_s": 60,
            "backoff_initial_s": 0.01,
            "backoff_cap_s": 0.05,
            **settings,
        }
    )


@contextlib.asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop), name="notifier")
    try:
        yield
    finally:
        stop.set()
        await task


# --- the four formats ----------------------------------------------------------------------------


async def test_webhook_gets_the_notice_as_json(receiver: Receiver) -> None:
    notifier = Notifier(config({"XY-LDS": [{"kind": "webhook", "url": receiver.url("/hook")}]}))
    notifier.submit(CIRCUIT_CUT)
    await notifier.flush()  # without run(): flush sends by itself

    [request] = receiver.on("/hook")
    assert request.content_type.startswith("application/json")
    assert request.body == {
        "event": "alarm",
        "notices": [
            {
                "alarm_id": "al-1",
                "type": "circuit_dead",
                "severity": "emergency",
                "event": "raised",
                "asset": "circuit:XY-S01-K1-C2",
                "site": "XY-S01",
                "site_name": "湓城巷",
                "maintainer": "XY-LDS",
                "at": "2026-12-21T10:05:00+00:00",
                "raised_at": "2026-12-21T10:05:00+00:00",
                "detail": "12 lamps lost supply together, cabinet live",
                "work_order": "WO-0007",
                "deadline": "2026-12-21T11:05:00+00:00",
                "parent": None,
            }
        ],
    }
    assert notifier.stats.sent_messages == 1


async def test_wecom_gets_markdown_and_its_rate_limit_is_retried(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.notify")
    url = receiver.url(f"/cgi-bin/webhook/send?key={KEY}")
    notifier = Notifier(config({"XY-LDS": [{"kind": "wecom", "url": url}]}))
    receiver.answer((200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    async with running(notifier):
        notifier.submit(CIRCUIT_CUT)
        await notifier.flush()

    first, second = receiver.on("/cgi-bin/webhook/send")
    assert first == second
    assert second.query == {"key": [KEY]}
    assert second.body["msgtype"] == "markdown"
    content = second.body["markdown"]["content"]
    for expected in (
        "紧急 emergency",
        "circuit_dead",
        "circuit:XY-S01-K1-C2",
        "湓城巷",
        "2026-12-21 18:05",  # raised, in Asia/Shanghai
        "WO-0007",
        "2026-12-21 19:05",  # the deadline
        "12 lamps lost supply together",
    ):
        assert expected in content
    assert (notifier.stats.retried, notifier.stats.sent_messages) == (1, 1)
    assert "/cgi-bin/webhook/send" in caplog.text  # the target is named...
    assert KEY not in caplog.text  # ...without its key


async def test_dingtalk_gets_signed_markdown(receiver: Receiver) -> None:
    secret = "SEC0123456789abcdef"
    url = receiver.url("/robot/send?access_token=tok-42")
    notifier = Notifier(config({"XY-LDS": [{"kind": "dingtalk", "url": url, "secret": secret}]}))
    async with running(notifier):
        notifier.submit(CIRCUIT_CUT)
        await notifier.flush()

    [request] = receiver.on("/robot/send")
    timestamp = request.query["timestamp"][0]
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = base64.b64encode(digest).decode()
    assert request.query["access_token"] == ["tok-42"]
    assert request.query["sign"] == [sign]
    assert f"sign={quote_plus(sign)}" in request.raw_query
    assert abs(int(timestamp) - time.time() * 1000) < 3_600_000  # DingTalk's own limit
    assert request.body["msgtype"] == "markdown"
    assert "circuit_dead" in request.body["markdown"]["title"]
    assert "WO-0007" in request.body["markdown"]["text"]


async def test_email_is_plain_utf8_text_after_login(
    mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.notify")
    notifier = Notifier(config({"XY-LDS": [email_target(mailbox)]}))
    async with running(notifier):
        notifier.submit(CIRCUIT_CUT)
        await notifier.flush()

    [(sender, recipients, mail)] = mailbox.mails
    assert sender == "alarms@streetlight.test"
    assert recipients == ["duty@xy-lds.test", "lead@xy-lds.test"]
    assert mailbox.logins == [("crew", "hunter2")]
    subject = str(mail["subject"])
    assert "emergency" in subject
    assert "circuit_dead" in subject
    assert "circuit:XY-S01-K1-C2" in subject
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    body = mail.get_content()
    assert "湓城巷" in body
    assert "WO-0007" in body
    assert notifier.stats.sent_messages == 1
    assert "hunter2" not in caplog.text


# --- retries -------------------------------------------------------------------------------------


async def test_two_server_errors_then_success(receiver: Receiver) -> None:
    notifier = Notifier(config({"XY-LDS": [{"kind": "webhook", "url": receiver.url("/hook")}]}))
    receiver.answer((500, {}), (503, {}))
    async with running(notifier):
        notifier.submit(notice())
        await notifier.flush()

    assert len(receiver.on("/hook")) == 3
    stats = notifier.stats
    assert (stats.retried, stats.sent_messages, stats.failed) == (2, 1, 0)


async def test_gives_up_after_attempts_with_one_line(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = receiver.url("/hook")
    notifier = Notifier(config({"XY-LDS": [{"kind": "webhook", "url": url}]}, attempts=3))
    receiver.answer(*[(500, {})] * 5)
    async with running(notifier):
        notifier.submit(notice())
        await notifier.flush()

    assert len(receiver.on("/hook")) == 3
    assert (notifier.stats.failed, notifier.stats.sent_messages) == (1, 0)
    [line] = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert "/hook" in line
    assert "HTTP 500" in line


@pytest.mark.parametrize(
    ("kind", "reply"),
    [
        ("webhook", (400, {"error": "bad request"})),
        ("wecom", (200, {"errcode": 93000, "errmsg": "invalid webhook url"})),
        ("dingtalk", (200, {"errcode": 310000, "errmsg": "sign not match"})),
    ],
)
async def test_a_refusal_is_not_retried(
    receiver: Receiver, kind: str, reply: tuple[int, dict[str, Any]]
) -> None:
    notifier = Notifier(config({"XY-LDS": [{"kind": kind, "url": receiver.url("/target")}]}))
    receiver.answer(reply)
    async with running(notifier):
        notifier.submit(notice())
        await notifier.flush()

    assert len(receiver.on("/target")) == 1
    assert (notifier.stats.failed, notifier.stats.retried) == (1, 0)


async def test_a_wrong_smtp_password_is_not_retried(mailbox: Mailbox) -> None:
    notifier = Notifier(config({"XY-LDS": [email_target(mailbox, password="wrong")]}))
    async with running(notifier):
        notifier.submit(notice())
        await notifier.flush()

    assert set(mailbox.logins) == {("crew", "wrong")}  # smtplib tries PLAIN, then LOGIN
    assert mailbox.mails == []
    assert (notifier.stats.failed, notifier.stats.retried) == (1, 0)


async def test_dead_targets_do_not_hold_up_a_live_one(receiver: Receiver) -> None:
    """A closed port (retried after a long backoff) and a mail server that never answers (a
    long timeout) are both still trying when the group robot has its message."""
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen()
        targets = [
            {"kind": "webhook", "url": f"http://127.0.0.1:{free_port()}/hook"},
            {
                "kind": "email",
                "smtp_host": "127.0.0.1",
                "smtp_port": black_hole.getsockname()[1],
                "sender": "alarms@streetlight.test",
                "recipients": ["duty@xy-lds.test"],
                "timeout_s": 60,
            },
            {"kind": "wecom", "url": receiver.url(f"/cgi-bin/webhook/send?key={KEY}")},
        ]
        settings = {"digest_window_s": 0.05, "backoff_initial_s": 60, "backoff_cap_s": 60}
        notifier = Notifier(config({"XY-LDS": targets}, shutdown_grace_s=0.1, **settings))
        async with running(notifier):
            notifier.submit(CIRCUIT_CUT)
            stats = notifier.stats
            # the robot has its message; the closed port waits a minute to retry
            await eventually(lambda: (stats.sent_messages, stats.retried) == (1, 1))
            assert len(receiver.on("/cgi-bin/webhook/send")) == 1
            assert stats.failed == 0  # the other two are still trying
        # closing the listener resets the mail client's connection, ending its thread
    assert notifier.stats.failed == 2  # given up at shutdown


# --- gathering -----------------------------------------------------------------------------------


async def test_a_flood_becomes_one_digest_per_target(receiver: Receiver, mailbox: Mailbox) -> None:
    maintainers = {
        "XY-LDS": [
            {"kind": "webhook", "url": receiver.url("/hook")},
            {"kind": "wecom", "url": receiver.url(f"/cgi-bin/webhook/send?key={KEY}")},
            {"kind": "dingtalk", "url": receiver.url("/robot/send?access_token=t")},
            email_target(mailbox),
        ],
        "WY-LS": [{"kind": "webhook", "url": receiver.url("/hook/WY-LS")}],
    }
    notifier = Notifier(config(maintainers))
    async with running(notifier):
        notifier.submit(CIRCUIT_CUT)
        for n in range(2, 41):
            notifier.submit(notice(n))
        for n in range(5):  # at the threshold: still one message each
            notifier.submit(notice(100 + n, maintainer="WY-LS"))
        await notifier.flush()

    [hook] = receiver.on("/hook")
    assert hook.body["event"] == "digest"
    assert len(hook.body["notices"]) == 40
    [wecom] = receiver.on("/cgi-bin/webhook/send")
    content = wecom.body["markdown"]["content"]
    assert "40" in content.splitlines()[0]
    assert "一般 ordinary 39 · 紧急 emergency 1" in content
    assert content.index("circuit:XY-S01-K1-C2") < content.index("lamp:XY-S01-L002")
    [dingtalk] = receiver.on("/robot/send")
    assert "40" in dingtalk.body["markdown"]["title"]
    [(_, _, mail)] = mailbox.mails
    assert "40" in str(mail["subject"])
    assert [r.body["event"] for r in receiver.on("/hook/WY-LS")] == ["alarm"] * 5
    assert (notifier.stats.digests, notifier.stats.sent_messages) == (4, 9)


async def test_a_window_closes_by_itself(receiver: Receiver) -> None:
    url = receiver.url("/hook")
    notifier = Notifier(config({"XY-LDS": [{"kind": "webhook", "url": url}]}, digest_window_s=0.05))
    async with running(notifier):
        for n in range(3):
            notifier.submit(notice(n))
        await eventually(lambda: len(receiver.on("/hook")) == 3, what="three messages")


async def test_children_and_unrouted_notices_are_not_sent(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(config({"XY-LDS": [{"kind": "webhook", "url": receiver.url("/hook")}]}))
    for n in range(3):
        notifier.submit(notice(n, parent="al-root"))
    for n in range(2):
        notifier.submit(notice(n, maintainer="WY-CJ"))
    await notifier.flush()

    assert receiver.on("/hook") == []
    stats = notifier.stats
    assert (stats.submitted, stats.dropped_children, stats.unrouted) == (5, 3, 2)
    assert len([r for r in caplog.records if "WY-CJ" in r.getMessage()]) == 1


def test_a_notice_checks_itself() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        notice(at=datetime(2026, 12, 21, 18, 5))  # noqa: DTZ001 - the naive time under test
    with pytest.raises(ValueError, match="event"):
        notice(event="acknowledged")
    with pytest.raises(ValueError, match="asset"):
        notice(asset="XY-S01-L001")


# --- the file ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "maintainers:\n  pm-lushan:\n    - {kind: wecom}\n",
            "maintainers.pm-lushan[0].url: required",
        ),
        (
            "maintainers:\n  X:\n    - {kind: webhook, url: 'http://h/a'}\n    - {kind: sms}\n",
            "maintainers.X[1].kind: Input should be",
        ),
        (
            "maintainers:\n  X: [{kind: webhook, url: 'ftp://h/a'}]\n",
            "maintainers.X[0].url: scheme must be http or https",
        ),
        (
            "maintainers:\n  X: [{kind: email, smtp_host: h, sender: a@b.test}]\n",
            "maintainers.X[0].recipients: required for kind email",
        ),
        (
            "maintainers:\n  X: [{kind: webhook, url: 'http://h/a', secret: s}]\n",
            "maintainers.X[0].secret: only for kind dingtalk",
        ),
        (
            "maintainers:\n  X: [{kind: webhook, url: 'http://h/a', colour: red}]\n",
            "maintainers.X[0].colour: Extra inputs are not permitted",
        ),
        ("digest_window_s: 0\n", "digest_window_s: Input should be greater than 0"),
        ("backoff_initial_s: 10\nbackoff_cap_s: 1\n", "backoff_cap_s: must be at least"),
        ("- just a list\n", "expected a mapping"),
        ("maintainers: [\n", "not YAML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NotifyConfigError) as caught:
        load_notify_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_the_example_file_routes_every_maintainer_of_the_sample_district() -> None:
    loaded = load_notify_config(ROOT / "examples" / "xunyang" / "notify.yaml")
    maintainers = {site.maintainer_id for site in sample_district().sites.values()}
    assert set(loaded.maintainers) == maintainers
    for maintainer, targets in loaded.maintainers.items():
        assert [(t.kind, t.url) for t in targets] == [
            ("webhook", f"http://127.0.0.1:8765/hook/{maintainer}")
        ]
