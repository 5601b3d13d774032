"""Moments in the store: written in UTC, read back aware (SQLite returns them naive)."""

from __future__ import annotations

from datetime import UTC, datetime


def to_store(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def from_store(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes for timezone-aware columns: they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def maybe_from_store(moment: datetime | None) -> datetime | None:
    return None if moment is None else from_store(moment)
