"""Calendars, special days and who follows which calendar, in the schedule file's JSON forms.

Each change is saved with the whole schedule, checked as the schedule file is. What another
entry uses cannot be deleted: a calendar a group follows, a special day a calendar's rule
names (409, naming them).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Now, Page, Pages, Session
from api.errors import ApiError, not_found
from api.routes.lighting._common import (
    GROUP_EXAMPLE,
    GROUP_PATTERN,
    Deleted,
    Ident,
    Told,
    group_ref,
    page_of,
    save_changed,
    schedule_to_change,
    tell_saved,
)
from api.security import Operator, Reader
from streetlight.schedule import Schedule
from streetlight.schedule.file import calendar_document, parse_calendar
from streetlight.store.schedules import SavedEntry, read_schedule, saved_calendars

router = APIRouter(tags=["lighting: calendars"])

Name = Annotated[str, Field(min_length=1, max_length=64)]
GroupPath = Annotated[str, Path(pattern=GROUP_PATTERN, max_length=80, examples=[GROUP_EXAMPLE])]


class Rule(BaseModel):
    """A rule: the program on matching dates (weekdays, a date range, special days)."""

    model_config = ConfigDict(extra="forbid")

    program: Name
    name: str | None = Field(default=None, max_length=200)
    weekdays: list[Annotated[str, Field(max_length=9)]] | None = Field(
        default=None, max_length=7, examples=[["fri", "sat"]]
    )
    dates: str | None = Field(default=None, max_length=16, examples=["05-01..09-30"])
    special_days: list[Name] | None = Field(default=None, max_length=50)


class CalendarBody(BaseModel):
    """A calendar as the schedule file writes it: the first rule that matches a date wins."""

    model_config = ConfigDict(extra="forbid")

    default: Name = Field(description="the program when no rule matches")
    rules: list[Rule] = Field(default_factory=list, max_length=100)


class CalendarOut(CalendarBody):
    id: str
    saved_at: datetime
    saved_by: str


class CalendarSaved(CalendarOut, Told):
    pass


class SpecialDayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[date] = Field(min_length=1, max_length=1000)


class SpecialDay(SpecialDayBody):
    name: str


class SpecialDaySaved(SpecialDay, Told):
    pass


class AssignmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    calendar: Name


class Assignment(AssignmentBody):
    group: str = Field(examples=[GROUP_EXAMPLE])


class AssignmentSaved(Assignment, Told):
    pass


# --- calendars ---------------------------------------------------------------------------------


def _calendar(entry: SavedEntry) -> CalendarOut:
    return CalendarOut.model_validate(
        {**entry.document, "id": entry.id, "saved_at": entry.saved_at, "saved_by": entry.saved_by}
    )


@router.get("/calendars", summary="Calendars, by id")
async def list_calendars(_who: Reader, session: Session, paging: Pages) -> Page[CalendarOut]:
    return page_of([_calendar(e) for e in await saved_calendars(session)], lambda c: c.id, paging)


@router.get("/calendars/{calendar_id}", summary="A calendar")
async def get_calendar(calendar_id: Ident, _who: Reader, session: Session) -> CalendarOut:
    found = await saved_calendars(session, calendar_id)
    if not found:
        raise not_found("calendar", calendar_id)
    return _calendar(found[0])


@router.put(
    "/calendars/{calendar_id}",
    summary="Create or replace a calendar, checked with the whole schedule",
    responses={201: {"model": CalendarSaved, "description": "created"}},
)
async def put_calendar(
    calendar_id: Ident, body: CalendarBody, who: Operator, session: Session, now: Now,
    request: Request, response: Response,
) -> CalendarSaved:  # fmt: skip
    calendar = parse_calendar(calendar_id, body.model_dump(exclude_none=True))
    async with session.begin():
        schedule = await schedule_to_change(session)
        before = schedule.calendars.get(calendar_id)
        schedule.calendars[calendar_id] = calendar
        await save_changed(
            session, schedule, who, now, action="calendar.save", target=f"calendar:{calendar_id}",
            before=None if before is None else calendar_document(before),
            after=calendar_document(calendar),
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    if before is None:
        response.status_code = 201
    (entry,) = await saved_calendars(session, calendar_id)
    return CalendarSaved(**_calendar(entry).model_dump(), **told.model_dump())


@router.delete("/calendars/{calendar_id}", summary="Delete a calendar no group follows")
async def delete_calendar(
    calendar_id: Ident, who: Operator, session: Session, now: Now, request: Request
) -> Deleted:
    async with session.begin():
        schedule = await schedule_to_change(session)
        calendar = schedule.calendars.pop(calendar_id, None)
        if calendar is None:
            raise not_found("calendar", calendar_id)
        followers = sorted(str(g) for g, c in schedule.assignments.items() if c == calendar_id)
        if followers:
            raise ApiError(409, "in_use", f"calendar {calendar_id} is followed by "
                           f"{', '.join(followers)}: assign them another first")  # fmt: skip
        await save_changed(
            session, schedule, who, now, action="calendar.delete",
            target=f"calendar:{calendar_id}", before=calendar_document(calendar), after=None,
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    return Deleted(deleted=f"calendar:{calendar_id}", **told.model_dump())


# --- special days ------------------------------------------------------------------------------


def _special_days(schedule: Schedule) -> dict[str, list[date]]:
    named: dict[str, list[date]] = {}
    for day in sorted(schedule.special_days):
        for name in schedule.special_days[day]:
            named.setdefault(name, []).append(day)
    return dict(sorted(named.items()))


def _set_days(schedule: Schedule, name: str, days: list[date]) -> None:
    """Make `name` fall on `days` (none: no more)."""
    special = {day: names - {name} for day, names in schedule.special_days.items()}
    for day in days:
        special[day] = special.get(day, frozenset()) | {name}
    schedule.special_days = {day: names for day, names in special.items() if names}


@router.get("/special-days", summary="Special days (holidays, events) and their dates, by name")
async def list_special_days(_who: Reader, session: Session, paging: Pages) -> Page[SpecialDay]:
    named = _special_days(await read_schedule(session))
    days = [SpecialDay(name=name, days=dates) for name, dates in named.items()]
    return page_of(days, lambda d: d.name, paging)


@router.get("/special-days/{name}", summary="A special day's dates")
async def get_special_day(name: Ident, _who: Reader, session: Session) -> SpecialDay:
    dates = _special_days(await read_schedule(session)).get(name)
    if dates is None:
        raise not_found("special day", name)
    return SpecialDay(name=name, days=dates)


@router.put(
    "/special-days/{name}",
    summary="Set a special day's dates",
    responses={201: {"model": SpecialDaySaved, "description": "created"}},
)
async def put_special_day(
    name: Ident, body: SpecialDayBody, who: Operator, session: Session, now: Now,
    request: Request, response: Response,
) -> SpecialDaySaved:  # fmt: skip
    days = sorted(set(body.days))
    async with session.begin():
        schedule = await schedule_to_change(session)
        before = _special_days(schedule).get(name)
        _set_days(schedule, name, days)
        await save_changed(
            session, schedule, who, now, action="special_day.save", target=f"special_day:{name}",
            before=None if before is None else [d.isoformat() for d in before],
            after=[d.isoformat() for d in days],
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    if before is None:
        response.status_code = 201
    return SpecialDaySaved(name=name, days=days, **told.model_dump())


@router.delete("/special-days/{name}", summary="Delete a special day no calendar names")
async def delete_special_day(
    name: Ident, who: Operator, session: Session, now: Now, request: Request
) -> Deleted:
    async with session.begin():
        schedule = await schedule_to_change(session)
        before = _special_days(schedule).get(name)
        if before is None:
            raise not_found("special day", name)
        calendars = sorted(
            c.id
            for c in schedule.calendars.values()
            if any(name in r.special_days for r in c.rules)
        )
        if calendars:
            raise ApiError(409, "in_use", f"special day {name} is named by calendar "
                           f"{', '.join(calendars)}: change the calendar first")  # fmt: skip
        _set_days(schedule, name, [])
        await save_changed(
            session, schedule, who, now, action="special_day.delete",
            target=f"special_day:{name}", before=[d.isoformat() for d in before], after=None,
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    return Deleted(deleted=f"special_day:{name}", **told.model_dump())


# --- assignments -------------------------------------------------------------------------------


@router.get("/assignments", summary="Which calendar each group follows, by group")
async def list_assignments(_who: Reader, session: Session, paging: Pages) -> Page[Assignment]:
    schedule = await read_schedule(session)
    items = sorted(
        (Assignment(group=str(g), calendar=c) for g, c in schedule.assignments.items()),
        key=lambda a: a.group,
    )
    return page_of(items, lambda a: a.group, paging)


@router.get("/assignments/{group}", summary="The calendar a group follows")
async def get_assignment(group: GroupPath, _who: Reader, session: Session) -> Assignment:
    ref = group_ref(group, "path.group")
    calendar = (await read_schedule(session)).assignments.get(ref)
    if calendar is None:
        raise not_found("assignment of", group)
    return Assignment(group=group, calendar=calendar)


@router.put(
    "/assignments/{group}",
    summary="Make a group (scope:id) follow a calendar",
    responses={201: {"model": AssignmentSaved, "description": "created"}},
)
async def put_assignment(
    group: GroupPath, body: AssignmentBody, who: Operator, session: Session, now: Now,
    request: Request, response: Response,
) -> AssignmentSaved:  # fmt: skip
    ref = group_ref(group, "path.group")
    async with session.begin():
        schedule = await schedule_to_change(session)
        before = schedule.assignments.get(ref)
        schedule.assignments[ref] = body.calendar
        await save_changed(
            session, schedule, who, now, action="assignment.save", target=f"assignment:{group}",
            before=before, after=body.calendar,
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    if before is None:
        response.status_code = 201
    return AssignmentSaved(group=group, calendar=body.calendar, **told.model_dump())


@router.delete("/assignments/{group}", summary="A group follows its parent's calendar again")
async def delete_assignment(
    group: GroupPath, who: Operator, session: Session, now: Now, request: Request
) -> Deleted:
    ref = group_ref(group, "path.group")
    async with session.begin():
        schedule = await schedule_to_change(session)
        before = schedule.assignments.pop(ref, None)
        if before is None:
            raise not_found("assignment of", group)
        await save_changed(
            session, schedule, who, now, action="assignment.delete",
            target=f"assignment:{group}", before=before, after=None,
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    return Deleted(deleted=f"assignment:{group}", **told.model_dump())
