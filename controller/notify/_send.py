"""Delivering one message to one target, and telling a failure worth another try
(`TransientError`: no connection, a timeout, HTTP 5xx or 429, a robot's "busy" or rate-limit
errcode, an SMTP 4xx) from a refusal (`RejectedError`: any other HTTP answer from 300 up, a
malformed answer, any other errcode, an SMTP 5xx, an untrusted certificate)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import smtplib
import ssl
import time
from datetime import tzinfo
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
import orjson

from controller.notify._config import NotifyTarget
from controller.notify._errors import RejectedError, TransientError
from controller.notify._messages import (
    Message,
    clip,
    email_message,
    headline,
    render_markdown,
    webhook_body,
)

logger = logging.getLogger(__name__)

# errcodes worth trying again: -1 "system busy"; 45009 / 130101 "over the rate limit" (each
# robot takes 20 messages a minute). Any other non-zero errcode is a permanent refusal.
WECOM_RETRIABLE = frozenset({-1, 45009})
DINGTALK_RETRIABLE = frozenset({-1, 130101})


def dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The robot URL with DingTalk's `timestamp` and `sign` (HMAC-SHA256, base64, URL-encoded)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if urlsplit(url).query else '?'}timestamp={timestamp_ms}&sign={sign}"


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
    raise error(f"errcode {code}: {clip(str(reply.get('errmsg', '')), 200)}")


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
        raise error(f"SMTP {exc.smtp_code}: {clip(reply, 200)}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientError(f"disconnected: {exc}") from exc
    except smtplib.SMTPException as exc:  # e.g. no STARTTLS, no usable AUTH method
        raise RejectedError(str(exc)) from exc
    except ssl.SSLCertVerificationError as exc:
        raise RejectedError(f"server certificate not trusted: {exc.verify_message}") from exc
    except OSError as exc:  # refused, unreachable, timed out
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc


async def send(
    http: httpx.AsyncClient, target: NotifyTarget, message: Message, tz: tzinfo, lines: int
) -> None:
    """Send `message` to `target` once, in the target's format (`lines`: notices listed in a
    digest); raises `TransientError` or `RejectedError` if it does not get there."""
    if target.kind == "email":
        mail = email_message(target, message, tz, lines)
        refused = await asyncio.to_thread(send_mail, target, mail)
        if refused:
            logger.warning("%s: recipients refused: %s", target.where, ", ".join(refused))
        return
    assert target.url is not None
    if target.kind == "webhook":
        await _post(http, target.url, webhook_body(message), target.timeout_s)
    elif target.kind == "wecom":
        content = render_markdown(message, tz, lines)
        body = {"msgtype": "markdown", "markdown": {"content": content}}
        response = await _post(http, target.url, body, target.timeout_s)
        _check_errcode(response, WECOM_RETRIABLE)
    else:
        url = target.url
        if target.secret is not None:
            stamp = int(time.time() * 1000)  # DingTalk wants wall time within the hour
            url = dingtalk_url(url, target.secret.get_secret_value(), stamp)
        text = render_markdown(message, tz, lines, sep="\n\n")
        body = {"msgtype": "markdown", "markdown": {"title": headline(message), "text": text}}
        response = await _post(http, url, body, target.timeout_s)
        _check_errcode(response, DINGTALK_RETRIABLE)
