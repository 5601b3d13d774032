"""A profile's vendor commands and acknowledgements, both ways: the gateway writes commands and
reads acks, the simulator reads commands and writes acks, with the same mapping."""

from __future__ import annotations

from typing import Any

import orjson

from streetlight.profiles._json import compiled
from streetlight.profiles._mqtt import JsonField, MqttAck, MqttCommand


def command_body(spec: MqttCommand, command_id: str, on: bool, level: int) -> bytes:
    """The vendor JSON of a command: switch on at `level` percent, or off."""
    document: dict[str, Any] = {}
    for path, value in spec.constant.items():
        compiled(path).put(document, value)
    compiled(spec.id).put(document, command_id)
    compiled(spec.relay.path).put(document, spec.relay.on if on else spec.relay.off)
    vendor_level = level / spec.level.scale
    compiled(spec.level.path).put(
        document, round(vendor_level) if spec.level.type == "int" else vendor_level
    )
    return orjson.dumps(document)


def read_command(spec: MqttCommand, document: Any) -> tuple[str | None, bool, int] | str:
    """(command id, on, level percent) of a vendor command, or why it cannot be carried out."""
    if not isinstance(document, dict):
        return "not a JSON object"
    command_id = compiled(spec.id).get(document)
    relay = compiled(spec.relay.path).get(document)
    level = compiled(spec.level.path).get(document)

    def same(value: Any, wanted: Any) -> bool:
        return value == wanted and isinstance(value, bool) == isinstance(wanted, bool)

    if same(relay, spec.relay.on):
        on = True
    elif same(relay, spec.relay.off):
        on = False
    else:
        return f"{spec.relay.path} must be {spec.relay.on!r} or {spec.relay.off!r}"
    if isinstance(level, bool) or not isinstance(level, int | float):
        return f"{spec.level.path} must be a number"
    percent = round(level * spec.level.scale, 6)
    if percent != int(percent) or not 0 <= percent <= 100:
        return f"{spec.level.path} must be a level of 0-100 %"
    return (str(command_id) if command_id is not None else None), on, int(percent)


def ack_body(spec: MqttAck, command_id: str | None, ok: bool, code: int, at: float) -> bytes:
    """A node's vendor acknowledgement (what the simulator's nodes send)."""
    document: dict[str, Any] = {}
    compiled(spec.id).put(document, command_id)
    words = [word for word, value in spec.ok.words.items() if value is ok]
    answer: object = ok if spec.ok.states is None or not words else words[0]
    compiled(spec.ok.path).put(document, answer)
    if spec.code is not None:
        compiled(spec.code).put(document, code)
    document.setdefault("ts", int(at))
    return orjson.dumps(document)


def read_ack(spec: MqttAck, document: Any) -> tuple[str, bool, int] | None:
    """(command id, ok, vendor code or -1) of a vendor acknowledgement; None if it has no id."""
    if not isinstance(document, dict | list):
        return None
    command_id = compiled(spec.id).get(document)
    if command_id is None:
        return None
    code = compiled(spec.code).get(document) if spec.code is not None else None
    ok = _state(spec.ok, compiled(spec.ok.path).get(document))
    return str(command_id), ok is True, code if isinstance(code, int) else -1


def _state(spec: JsonField, raw: Any) -> bool | None:
    if raw is True or raw is False:
        return raw
    if isinstance(raw, str):
        wanted = raw.strip().lower()
        return next((v for word, v in spec.words.items() if word.lower() == wanted), None)
    if raw in (0, 1) and not isinstance(raw, float):
        return bool(raw)
    return None
