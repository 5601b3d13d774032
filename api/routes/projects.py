"""Renovation projects (照亮工程): their sites and the dates of their phases; list, read, add,
change, delete. Anyone reads; operators and admins change them (laying out the programme is
the lighting office's business), each change audited as `project.verb` on `project:id` with
the record before and after. The core (streetlight.store.projects) checks each change as the
domain checks a project: the dates in order, the sites existing and in no other project."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Now, Page, Pages, Session
from api.errors import ApiError
from api.security import Operator, Reader
from streetlight.domain import ID_PATTERN, PHASE_FIELDS, Project, ProjectPhase
from streetlight.store.asset_edits import AssetConflictError, AssetError, AssetNotFoundError
from streetlight.store.models import DistrictRow
from streetlight.store.projects import (
    create_project,
    delete_project,
    get_project,
    list_projects,
    update_project,
)
from streetlight.store.users import audit

router = APIRouter(tags=["projects"])

Id = Annotated[str, Field(pattern=ID_PATTERN.pattern, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Sites = Annotated[list[Id], Field(max_length=10_000)]
Ident = Annotated[str, Path(pattern=ID_PATTERN.pattern, max_length=64)]


class _Dates(BaseModel):
    survey_start: date | None = None
    survey_end: date | None = None
    implementation_start: date | None = None
    implementation_end: date | None = None
    acceptance_start: date | None = None
    acceptance_end: date | None = None
    handover_start: date | None = None
    handover_end: date | None = None


class ProjectIn(_Dates):
    model_config = ConfigDict(extra="forbid")

    id: Id
    name: Name
    sites: Sites = []


class ProjectChange(_Dates):
    """The fields given are changed (`sites`: the whole list); a date may be emptied with
    null, the name and the sites may not."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    sites: Sites | None = None


class ProjectOut(_Dates):
    id: str
    name: str
    sites: list[str]
    phase: ProjectPhase | None = Field(
        description="the phase it is in today (the district's date): the last one started"
    )


assert set(PHASE_FIELDS) == set(_Dates.model_fields)  # one list of phases


def _refused(exc: AssetError, where: str = "body") -> ApiError:
    field = f"{where}.{exc.field}" if exc.field else None
    if isinstance(exc, AssetNotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, AssetConflictError):
        return ApiError(409, "conflict", str(exc), field)
    return ApiError(422, "invalid", str(exc), field)


async def _today(session: AsyncSession, now: datetime) -> date:
    """Today in the district's time zone (UTC's, before there is a district)."""
    zone = await session.scalar(select(DistrictRow.timezone).limit(1))
    return now.astimezone(ZoneInfo(zone) if zone is not None else UTC).date()


def _out(record: dict[str, Any], today: date) -> ProjectOut:
    project = Project(record["id"], record["name"], tuple(record["sites"]),
                      **{name: record[name] for name in PHASE_FIELDS})  # fmt: skip
    return ProjectOut.model_validate({**record, "phase": project.phase_on(today)})


@router.get("/projects", summary="Renovation projects, in id order")
async def projects(
    _who: Reader,
    session: Session,
    now: Now,
    paging: Pages,
    site: Annotated[str | None, Query(pattern=ID_PATTERN.pattern, max_length=64,
                                      description="the project holding this site")] = None,
) -> Page[ProjectOut]:  # fmt: skip
    after = paging.after
    if after is not None and not isinstance(after, str):
        raise ApiError(422, "invalid", "not a cursor this API gave", "query.cursor")
    records = await list_projects(session, after=after, limit=paging.limit + 1, site=site)
    today = await _today(session, now)
    return paging.page([_out(r, today) for r in records], lambda item: item.id)


@router.get("/projects/{project_id}", summary="A renovation project, with today's phase")
async def project(project_id: Ident, _who: Reader, session: Session, now: Now) -> ProjectOut:
    record = await get_project(session, project_id)
    if record is None:
        raise ApiError(404, "not_found", f"no project {project_id!r}")
    return _out(record, await _today(session, now))


@router.post("/projects", status_code=201, summary="Add a renovation project")
async def add_project(body: ProjectIn, who: Operator, session: Session, now: Now) -> ProjectOut:
    async with session.begin():
        try:
            created = await create_project(session, body.model_dump())
        except AssetError as exc:
            raise _refused(exc) from exc
        await audit(session, actor=who.name, action="project.create",
                    target=f"project:{created['id']}", after=created, at=now)  # fmt: skip
        today = await _today(session, now)
    return _out(created, today)


@router.patch("/projects/{project_id}", summary="Change a project: name, sites, dates")
async def change_project(
    project_id: Ident, body: ProjectChange, who: Operator, session: Session, now: Now
) -> ProjectOut:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(422, "invalid", "nothing to change: give at least one field", "body")
    for field in ("name", "sites"):
        if field in changes and changes[field] is None:
            raise ApiError(422, "invalid", f"{field} may not be null", f"body.{field}")
    async with session.begin():
        try:
            before, after = await update_project(session, project_id, changes)
        except AssetError as exc:
            raise _refused(exc) from exc
        await audit(session, actor=who.name, action="project.update",
                    target=f"project:{project_id}", before=before, after=after,
                    at=now)  # fmt: skip
        today = await _today(session, now)
    return _out(after, today)


@router.delete("/projects/{project_id}", summary="Delete a project (its sites stay)")
async def remove_project(project_id: Ident, who: Operator, session: Session, now: Now
                         ) -> ProjectOut:  # fmt: skip
    async with session.begin():
        try:
            before = await delete_project(session, project_id)
        except AssetError as exc:
            raise _refused(exc, "path") from exc
        await audit(session, actor=who.name, action="project.delete",
                    target=f"project:{project_id}", before=before, at=now)  # fmt: skip
        today = await _today(session, now)
    return _out(before, today)
