"""What the lighting routes share: the schedule read to be changed and saved whole, the notice
that tells the controller, levels, group references, ids, and paging of short lists."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Literal, TypeVar

from fastapi import Path, Request
from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Page, Paging
from api.errors import ApiError
from api.security import Principal
from streetlight.contract import ScheduleChange
from streetlight.domain import ID_PATTERN
from streetlight.schedule import SCOPES, GroupRef, Groups, ProgramError, Schedule
from streetlight.store import read_inventory
from streetlight.store.schedules import (
    lock_schedule,
    read_named_groups,
    read_schedule,
    save_schedule,
)
from streetlight.store.users import audit

logger = logging.getLogger(__name__)

T = TypeVar("T")

Ident = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]
GROUP_PATTERN = rf"^({'|'.join(SCOPES)}):[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$"
GROUP_EXAMPLE = "site:PP-S01"
# the years a moment or a night may fall in: far enough either way, and clear of the calendar's
# end, where a night's next morning cannot be reckoned
YEARS = range(1970, 3000)


def within_years(day: date, field: str) -> None:
    if day.year not in YEARS:
        raise ApiError(422, "invalid", f"{day.isoformat()} is not in the years "
                       f"{YEARS.start}-{YEARS.stop - 1}", field)  # fmt: skip


def _level(value: object) -> int | Literal["off"]:
    if value == "off":
        return "off"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
        return value
    raise ValueError(f"level {value!r}: expected 'off' or a whole number 0-100")


# a dim level as the schedule file writes it: off, or on at 0-100 %
Level = Annotated[
    int | Literal["off"],
    PlainValidator(_level),
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 100}, {"const": "off"}]}
    ),
]


def level_of(level: int | None) -> int | Literal["off"]:
    return "off" if level is None else level


class Told(BaseModel):
    """Whether the controller was told of the change at once."""

    told_controller: bool = Field(description="a `schedule_change` notice is on the bus")
    not_told: str | None = Field(
        default=None,
        description="why not; the change is saved all the same, and the controller finds it "
        "at its next read of the store (within seconds)",
    )


class Deleted(Told):
    deleted: str = Field(description="what was deleted, as kind:id")


async def tell(request: Request, change: ScheduleChange) -> Told:
    """After the commit: the API's own live state reads the store now, and the controller is
    told on the bus (`schedule/api/{id}`). A notice that cannot be sent loses nothing."""
    request.app.state.lighting.notice()
    problem: str | None = await request.app.state.bus.announce(change)
    if problem is not None:
        logger.warning("%s saved, but the controller was not told at once: %s", change.what,
                       problem)  # fmt: skip
    return Told(told_controller=problem is None, not_told=problem)


async def groups_of(session: AsyncSession) -> Groups:
    """The store's asset tree and named groups, as the schedule's check sees them."""
    inventory = await read_inventory(session)
    if inventory is None:
        raise ApiError(409, "no_inventory", "the store holds no inventory: load the asset tree "
                       "first ('streetlight inventory load PATH')")  # fmt: skip
    return Groups(inventory, await read_named_groups(session))


def group_ref(text: str, field: str, groups: Groups | None = None) -> GroupRef:
    """`scope:id` as GroupRef.parse reads it, known to `groups` when given; 422 naming `field`."""
    try:
        group = GroupRef.parse(text)
        if groups is not None:
            groups.check(group)
    except ProgramError as exc:
        raise ApiError(422, "invalid", str(exc), field) from exc
    return group


async def schedule_to_change(session: AsyncSession) -> Schedule:
    """The schedule, read under its write lock, to be changed and saved by `save_changed`."""
    await lock_schedule(session)
    return await read_schedule(session)


async def save_changed(
    session: AsyncSession,
    schedule: Schedule,
    who: Principal,
    now: datetime,
    *,
    action: str,
    target: str,
    before: object,
    after: object,
) -> None:
    """Save the changed schedule whole, checked as the schedule file is (save_schedule), and
    its audit row, in the caller's transaction. Overrides are not part of it (they are rows of
    their own), as a file's are not."""
    groups = await groups_of(session)
    await save_schedule(
        session, dataclasses.replace(schedule, overrides=[]), groups, by=who.name, at=now
    )
    await audit(session, actor=who.name, action=action, target=target, before=before,
                after=after, at=now)  # fmt: skip


async def tell_saved(request: Request, who: Principal, now: datetime) -> Told:
    """`tell` of a change of programs, calendars, special days or assignments."""
    return await tell(request, ScheduleChange(what="schedule", by=who.name, at=now))


def page_of(items: Sequence[T], key: Callable[[T], str], paging: Paging) -> Page[T]:
    """A page of a short list held whole (sorted by `key`), after the cursor's key."""
    after = paging.after if isinstance(paging.after, str) else None
    rest = [item for item in items if after is None or key(item) > after]
    return paging.page(rest[: paging.limit + 1], key)
