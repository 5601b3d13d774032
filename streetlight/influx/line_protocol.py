"""InfluxDB line protocol, as InfluxDB 1.x parses it (and 2.x/3.x accept it).

    lamp,lamp=L1,site=S1 power_w=40.5,relay_on=true,dim_pct=50i,faults="" 1700000000000000000

Escaping: in measurement names ``,`` and space; in tag keys, tag values and field keys ``,``,
``=`` and space; in string field values ``"`` and ``\\``. InfluxDB 1.x does not unescape a
backslash in names, tags or field keys, so a backslash there (or a control character such as
a newline or tab) cannot round-trip and is refused with `LineProtocolError`, as are NaN and
infinite floats, integers outside int64, and tag or field keys named ``time``. Tags with an
empty value are left out, as line protocol has no empty tag value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

FieldValue = float | int | bool | str

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
# InfluxDB 1.x keeps a backslash in names as is (so it cannot be escaped), ends a line at a
# newline, trims leading tabs and mangles other control characters in keys
_FORBIDDEN_IN_NAMES = re.compile(r"[\\\x00-\x1f\x7f]")
_NEEDS_ESCAPE = frozenset(", =")


class LineProtocolError(ValueError):
    """A value line protocol cannot carry; the message names the part and the reason."""


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch, exactly (a float timestamp would lose the microseconds)."""
    if moment.tzinfo is None:
        raise LineProtocolError(f"timestamp {moment.isoformat()} has no time zone")
    delta = moment - _EPOCH  # whole days, seconds and microseconds: exact, and fast
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(nanoseconds: int) -> datetime:
    """The UTC datetime of a timestamp in ns (to the microsecond, as datetime holds)."""
    return _EPOCH + timedelta(microseconds=nanoseconds // 1000)


def _check_name(what: str, value: str) -> None:
    if not value:
        raise LineProtocolError(f"{what} must not be empty")
    bad = _FORBIDDEN_IN_NAMES.search(value)
    if bad:
        raise LineProtocolError(
            f"{what} {value!r} contains {bad.group()!r}, which InfluxDB 1.x cannot store"
        )


def escape_measurement(name: str) -> str:
    _check_name("measurement", name)
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} starts with '#', which marks a comment line")
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(what: str, value: str) -> str:
    """Escape a tag key, tag value or field key."""
    _check_name(what, value)
    if value == "time" and what != "tag value":
        raise LineProtocolError(f"{what} 'time' is reserved for the timestamp")
    if _NEEDS_ESCAPE.isdisjoint(value):
        return value
    return value.translate(_KEY_ESCAPES)


def format_float(key: str, value: float) -> str:
    if not math.isfinite(value):
        raise LineProtocolError(f"field {key!r}: {value} is not a finite number")
    return repr(value)


def format_field_value(key: str, value: FieldValue) -> str:
    """A field value in line protocol: ``1.5``, ``3i``, ``true``, ``"text"``."""
    if isinstance(value, float):
        return format_float(key, value)
    # bool before int: bool is a subclass of int
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise LineProtocolError(f"field {key!r}: integer {value} is outside int64")
        return f"{value}i"
    if isinstance(value, str):
        if '"' in value or "\\" in value:
            value = value.translate(_STRING_ESCAPES)
        return f'"{value}"'
    raise LineProtocolError(f"field {key!r}: unsupported type {type(value).__name__}")


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key, as InfluxDB stores them.

    Tags whose value is empty are left out (line protocol has no empty tag value).
    """
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value == "":
            continue
        parts.append(f"{escape_key('tag key', key)}={escape_key('tag value', value)}")
    return ",".join(parts)


_field_keys: dict[str, str] = {}  # field key -> escaped; a schema has few field keys
_FIELD_KEY_CACHE_LIMIT = 10_000


def _field_key(key: str) -> str:
    escaped = _field_keys.get(key)
    if escaped is None:
        escaped = escape_key("field key", key)
        if len(_field_keys) < _FIELD_KEY_CACHE_LIMIT:
            _field_keys[key] = escaped
    return escaped


def encode_line(series: str, fields: Mapping[str, FieldValue | None], time_ns: int) -> str:
    """One line from a prebuilt `series_key`; fields whose value is None are left out."""
    rendered = [
        f"{_field_key(key)}={format_field_value(key, value)}"
        for key, value in fields.items()
        if value is not None
    ]
    if not rendered:
        raise LineProtocolError(f"point {series!r} has no fields")
    return f"{series} {','.join(rendered)} {time_ns}"


@dataclass(frozen=True, slots=True)
class Point:
    """One point: measurement, tags, fields and a timestamp in nanoseconds since the epoch."""

    measurement: str
    fields: Mapping[str, FieldValue | None]
    time_ns: int
    tags: Mapping[str, str] = field(default_factory=dict)

    def to_line(self) -> str:
        return encode_line(series_key(self.measurement, self.tags), self.fields, self.time_ns)
