"""The demo's stand-in for the crews' chat groups: a webhook receiver on loopback.

It takes what the controller's notifier posts to a generic webhook (docs/contract.md,
"Notifications"), appends every body to a JSON-lines file, and prints one line per alarm
event, so whoever watches the demo sees what a maintainer's crew would be told. Anything that
is not a JSON object gets 400 with the reason, and is kept in the file as received.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MAX_BODY = 1_000_000


class WebhookReceiver:
    """Listens on 127.0.0.1 (a free port) in a thread of its own until `stop`."""

    def __init__(self, out: Path, say: Callable[[str], None], tz: ZoneInfo) -> None:
        self.out = out
        self.say = say
        self.tz = tz
        self.received = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY))
                status, reason = receiver.take(self.path, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ok": status == 200, "reason": reason}).encode())

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # one line per notice is said instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self, path: str, body: bytes) -> tuple[int, str]:
        try:
            document = json.loads(body)
        except ValueError as exc:
            document, problem = None, f"body is not JSON: {exc}"
        else:
            problem = "" if isinstance(document, dict) else "body is not a JSON object"
        record = {"path": path, "body": document if document is not None else body.decode(
            "utf-8", "replace")}  # fmt: skip
        with self._lock:
            self.received += 1
            with self.out.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
        if problem:
            self.say(f"notified    {path}: refused, {problem}")
            return 400, problem
        for notice in document.get("notices", []):
            self.say(self._line(path, notice))
        return 200, "ok"

    def _line(self, path: str, notice: dict[str, Any]) -> str:
        try:
            at = datetime.fromisoformat(notice["at"]).astimezone(self.tz).strftime("%d %b %H:%M")
        except (KeyError, TypeError, ValueError):
            at = "?"
        maintainer = path.rstrip("/").rpartition("/")[2]
        return (
            f"notified    {maintainer:<8} {at}  {notice.get('event', '?'):<9} "
            f"{notice.get('severity', '?'):<9} {notice.get('type', '?')} {notice.get('asset', '?')}"
            f" ({notice.get('alarm_id', '?')})"
        )
