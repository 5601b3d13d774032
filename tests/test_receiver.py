"""The demo's webhook receiver, and the notification file the demo points at it."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import yaml

from controller.notify import load_notify_config
from streetlight.cli._demo import _notify_config
from streetlight.cli._receiver import WebhookReceiver
from tests.conftest import ROOT

NOTICE = {
    "alarm_id": "al-3", "type": "door_open", "severity": "emergency", "event": "raised",
    "asset": "cabinet:GT-S05-K1", "site": "GT-S05", "at": "2026-12-21T10:21:00+00:00",
}  # fmt: skip


def test_it_prints_each_notice_keeps_every_body_and_refuses_what_is_not_json(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    out = tmp_path / "notifications.jsonl"
    receiver = WebhookReceiver(out, said.append, ZoneInfo("Asia/Shanghai")).start()
    try:
        good = httpx.post(
            f"{receiver.url}/hook/WY-LS", json={"event": "alarm", "notices": [NOTICE]}
        )
        bad = httpx.post(f"{receiver.url}/hook/WY-LS", content=b"{not json")
    finally:
        receiver.stop()
    assert good.status_code == 200
    assert bad.status_code == 400
    assert "not JSON" in bad.json()["reason"]
    assert said[0].split() == [
        "notified", "WY-LS", "21", "Dec", "18:21", "raised", "emergency", "door_open",
        "cabinet:GT-S05-K1", "(al-3)",
    ]  # fmt: skip
    assert "refused" in said[1]
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert kept[0] == {"path": "/hook/WY-LS", "body": {"event": "alarm", "notices": [NOTICE]}}
    assert kept[1] == {"path": "/hook/WY-LS", "body": "{not json"}


def test_the_demo_sends_the_sample_webhooks_to_its_receiver(tmp_path: Path) -> None:
    sample = ROOT / "examples" / "xunyang" / "notify.yaml"
    written = Path(_notify_config(sample, "http://127.0.0.1:40123", tmp_path))
    config = load_notify_config(written)  # still a valid notification file
    urls = {t.url for targets in config.maintainers.values() for t in targets}
    maintainers = yaml.safe_load(sample.read_text())["maintainers"]
    assert urls == {f"http://127.0.0.1:40123/hook/{m}" for m in maintainers}
