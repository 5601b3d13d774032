"""Renovation projects in the store, one at a time: list, read, add, change, delete.

A project's record is as the inventory file gives it: `{"id", "name", "sites", "survey_start",
"survey_end", ..., "handover_end"}`, its sites in id order. The domain (`Project`) checks the
values and the dates' order; the sites must exist and may be in no other project (a site is in
one project). The caller commits (and audits) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.domain import PHASE_FIELDS, Project
from streetlight.store.asset_edits import (
    AssetConflictError,
    AssetNotFoundError,
    InvalidAssetError,
)
from streetlight.store.models import ProjectRow, ProjectSiteRow, SiteRow

Record = dict[str, Any]
EDITABLE = frozenset({"name", "sites", *PHASE_FIELDS})


def _record(row: ProjectRow, sites: list[str]) -> Record:
    return {"id": row.id, "name": row.name, "sites": sorted(sites),
            **{name: getattr(row, name) for name in PHASE_FIELDS}}  # fmt: skip


async def _sites_of(session: AsyncSession, project_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {project_id: [] for project_id in project_ids}
    if project_ids:
        rows = await session.execute(
            select(ProjectSiteRow.project_id, ProjectSiteRow.site_id).where(
                ProjectSiteRow.project_id.in_(project_ids)
            )
        )
        for project_id, site_id in rows.all():
            found[project_id].append(site_id)
    return found


async def get_project(session: AsyncSession, ident: str) -> Record | None:
    row = await session.get(ProjectRow, ident)
    if row is None:
        return None
    return _record(row, (await _sites_of(session, [ident]))[ident])


async def list_projects(
    session: AsyncSession, *, after: str | None, limit: int, site: str | None = None
) -> list[Record]:
    """Up to `limit` projects after the id `after`, in id order (only the one holding `site`,
    if given)."""
    statement = select(ProjectRow).order_by(ProjectRow.id).limit(limit)
    if after is not None:
        statement = statement.where(ProjectRow.id > after)
    if site is not None:
        holder = select(ProjectSiteRow.project_id).where(ProjectSiteRow.site_id == site)
        statement = statement.where(ProjectRow.id.in_(holder))
    rows = list((await session.scalars(statement)).all())
    sites = await _sites_of(session, [row.id for row in rows])
    return [_record(row, sites[row.id]) for row in rows]


def _build(record: Mapping[str, Any]) -> None:
    try:
        Project(record["id"], record["name"], tuple(record["sites"]),
                **{name: record.get(name) for name in PHASE_FIELDS})  # fmt: skip
    except ValueError as exc:
        message = str(exc)
        named = [f for f in PHASE_FIELDS if f in message]  # the first date the message names
        field = min(named, key=message.index) if named else None
        if field is None and "site" in message:
            field = "sites"
        raise InvalidAssetError(message, field) from exc


async def _check_sites(session: AsyncSession, project_id: str, sites: list[str]) -> None:
    for site_id in sites:
        if await session.get(SiteRow, site_id) is None:
            raise InvalidAssetError(f"no site {site_id!r}", "sites")
        holder = await session.get(ProjectSiteRow, site_id)
        if holder is not None and holder.project_id != project_id:
            raise AssetConflictError(
                f"site {site_id!r} is in project {holder.project_id!r} (a site is in one "
                "project: take it out of that one first)",
                "sites",
            )


async def _set_sites(session: AsyncSession, project_id: str, sites: list[str]) -> None:
    await session.execute(delete(ProjectSiteRow).where(ProjectSiteRow.project_id == project_id))
    await session.flush()
    session.add_all(ProjectSiteRow(site_id=site_id, project_id=project_id) for site_id in sites)
    await session.flush()


async def create_project(session: AsyncSession, record: Mapping[str, Any]) -> Record:
    record = {"sites": [], **record}
    _build(record)
    if await session.get(ProjectRow, record["id"]) is not None:
        raise AssetConflictError(f"project {record['id']!r} exists already", "id")
    await _check_sites(session, record["id"], record["sites"])
    session.add(ProjectRow(id=record["id"], name=record["name"],
                           **{name: record.get(name) for name in PHASE_FIELDS}))  # fmt: skip
    await session.flush()
    await _set_sites(session, record["id"], record["sites"])
    found = await get_project(session, record["id"])
    assert found is not None
    return found


async def update_project(
    session: AsyncSession, ident: str, changes: Mapping[str, Any]
) -> tuple[Record, Record]:
    """Change some fields (`sites`: the whole list); the record before and after."""
    before = await get_project(session, ident)
    if before is None:
        raise AssetNotFoundError(f"no project {ident!r}")
    for field in changes:
        if field not in EDITABLE:
            raise InvalidAssetError(f"a project's {field} cannot be changed", field)
    after = {**before, **changes}
    _build(after)
    if "sites" in changes:
        await _check_sites(session, ident, after["sites"])
        await _set_sites(session, ident, after["sites"])
    row = await session.get(ProjectRow, ident)
    for field, value in changes.items():
        if field != "sites":
            setattr(row, field, value)
    await session.flush()
    found = await get_project(session, ident)
    assert found is not None
    return before, found


async def delete_project(session: AsyncSession, ident: str) -> Record:
    """Delete a project and its sites' membership (the sites stay); the record deleted."""
    before = await get_project(session, ident)
    if before is None:
        raise AssetNotFoundError(f"no project {ident!r}")
    await session.execute(delete(ProjectSiteRow).where(ProjectSiteRow.project_id == ident))
    await session.execute(delete(ProjectRow).where(ProjectRow.id == ident))
    await session.flush()
    return before
