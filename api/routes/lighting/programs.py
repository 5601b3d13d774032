"""Programs: what lamps do through a night, in the schedule file's JSON form.

A program is saved by replacing it whole (`PUT`); the schedule it becomes part of is checked
as the schedule file is (every program at every site that runs it, every day of the year)
before anything is written. A program a calendar uses cannot be deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.deps import Now, Page, Pages, Session
from api.errors import ApiError, not_found
from api.routes.lighting._common import (
    Deleted,
    Ident,
    Level,
    Told,
    page_of,
    save_changed,
    schedule_to_change,
    tell_saved,
)
from api.security import Operator, Reader
from streetlight.schedule import Schedule
from streetlight.schedule.file import parse_program, program_document
from streetlight.store.schedules import SavedEntry, saved_programs

router = APIRouter(tags=["lighting: programs"])


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: str = Field(
        min_length=1,
        max_length=32,
        description="HH:MM local, or sunset, sunrise, dusk or dawn with an optional offset in "
        "minutes (at most 180)",
        examples=["sunset+5", "22:30", "sunrise-10"],
    )
    level: Level = "off"


class Lux(BaseModel):
    """The light-sensor rule: on when dark enough for `hold_s`, off when bright enough."""

    model_config = ConfigDict(extra="forbid")

    on_below: float = Field(ge=0, le=200_000, allow_inf_nan=False)
    off_above: float = Field(ge=0, le=200_000, allow_inf_nan=False)
    hold_s: float = Field(default=300.0, ge=0, le=3600, allow_inf_nan=False)
    level: Annotated[StrictInt, Field(ge=0, le=100)] = 100


class ProgramBody(BaseModel):
    """A program as the schedule file writes it (docs/contract.md, "Schedule file")."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    steps: list[Step] = Field(min_length=1, max_length=48, description="in the night's order")
    lux: Lux | None = None
    description: str | None = Field(default=None, max_length=2000)


class ProgramOut(ProgramBody):
    id: str
    name: str
    saved_at: datetime
    saved_by: str


class ProgramSaved(ProgramOut, Told):
    pass


def _out(entry: SavedEntry) -> ProgramOut:
    return ProgramOut.model_validate(
        {**entry.document, "id": entry.id, "saved_at": entry.saved_at, "saved_by": entry.saved_by}
    )


def users_of(schedule: Schedule, program_id: str) -> list[str]:
    """The calendars that may choose the program."""
    return sorted(
        calendar.id
        for calendar in schedule.calendars.values()
        if program_id in (calendar.default_program, *(rule.program for rule in calendar.rules))
    )


@router.get("/programs", summary="Programs, by id")
async def list_programs(_who: Reader, session: Session, paging: Pages) -> Page[ProgramOut]:
    return page_of([_out(e) for e in await saved_programs(session)], lambda p: p.id, paging)


@router.get("/programs/{program_id}", summary="A program")
async def get_program(program_id: Ident, _who: Reader, session: Session) -> ProgramOut:
    found = await saved_programs(session, program_id)
    if not found:
        raise not_found("program", program_id)
    return _out(found[0])


@router.put(
    "/programs/{program_id}",
    summary="Create or replace a program, checked with the whole schedule",
    responses={201: {"model": ProgramSaved, "description": "created"}},
)
async def put_program(
    program_id: Ident,
    body: ProgramBody,
    who: Operator,
    session: Session,
    now: Now,
    request: Request,
    response: Response,
) -> ProgramSaved:
    program = parse_program(program_id, body.model_dump(exclude_none=True))
    async with session.begin():
        schedule = await schedule_to_change(session)
        before = schedule.programs.get(program_id)
        schedule.programs[program_id] = program
        await save_changed(
            session, schedule, who, now, action="program.save", target=f"program:{program_id}",
            before=None if before is None else program_document(before),
            after=program_document(program),
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    if before is None:
        response.status_code = 201
    (entry,) = await saved_programs(session, program_id)
    return ProgramSaved(**_out(entry).model_dump(), **told.model_dump())


@router.delete("/programs/{program_id}", summary="Delete a program no calendar uses")
async def delete_program(
    program_id: Ident, who: Operator, session: Session, now: Now, request: Request
) -> Deleted:
    async with session.begin():
        schedule = await schedule_to_change(session)
        program = schedule.programs.pop(program_id, None)
        if program is None:
            raise not_found("program", program_id)
        calendars = users_of(schedule, program_id)
        if calendars:
            raise ApiError(409, "in_use", f"program {program_id} is used by calendar "
                           f"{', '.join(calendars)}: change the calendar first")  # fmt: skip
        await save_changed(
            session, schedule, who, now, action="program.delete", target=f"program:{program_id}",
            before=program_document(program), after=None,
        )  # fmt: skip
    told = await tell_saved(request, who, now)
    return Deleted(deleted=f"program:{program_id}", **told.model_dump())
