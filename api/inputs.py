"""What a request may carry besides ids: moments and free text the store and InfluxDB hold.

A time far from now is no one's meaning, and at the ends of the calendar converting it to UTC
overflows; InfluxDB's own range ends in 2262. Free text (notes, names of crews) may not carry
control characters, which PostgreSQL (NUL) and every log and terminal (the rest) mishandle.
Each is refused as a 422 that names the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # tabs and line breaks are text


def _bounded(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("a time from 1970 to 2200")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(_bounded)]
