"""What every kind of asset does through the API, for the routes of `api.routes.assets`.

A read is anyone's (`View`); a change is an operator's or an admin's (`Edit`), checked by the
core (streetlight.store.asset_edits: the domain builds the node, what it names must exist),
audited in the same transaction as `kind.verb` on `kind:id` with the record before and after,
and followed by the live state (`app.state.reload_assets`, api/reload.py). The core's
refusals become 404, 409 (the store's present state) or 422 (a value), naming the field.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.asset_schemas import NULLABLE, LampOut
from api.deps import Now, Page, Paging, Session
from api.errors import ApiError
from api.live import CODE, STATES, LiveState
from api.security import Operator, Principal, Reader
from streetlight.inventory import RecordCheck
from streetlight.profiles import profile_check, read_profiles
from streetlight.store.asset_edits import (
    AssetConflictError,
    AssetError,
    AssetNotFoundError,
    create_asset,
    delete_asset,
    retire_lamp,
    update_asset,
)
from streetlight.store.asset_queries import Record, get_record, list_records
from streetlight.store.users import audit

Out = TypeVar("Out", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Viewing:
    """A read: anyone's."""

    request: Request
    session: AsyncSession


@dataclass(frozen=True, slots=True)
class Editing:
    """A change: an operator's or an admin's, audited at `now`."""

    request: Request
    session: AsyncSession
    who: Principal
    now: datetime


# coroutines, not classes: FastAPI would build a class dependency in a thread pool
async def _viewing(request: Request, _who: Reader, session: Session) -> Viewing:
    return Viewing(request, session)


async def _editing(request: Request, who: Operator, session: Session, now: Now) -> Editing:
    return Editing(request, session, who, now)


View = Annotated[Viewing, Depends(_viewing)]
Edit = Annotated[Editing, Depends(_editing)]


def _refused(exc: AssetError, where: str = "body") -> ApiError:
    field = f"{where}.{exc.field}" if exc.field else None
    if isinstance(exc, AssetNotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, AssetConflictError):
        return ApiError(409, "conflict", str(exc), field)
    return ApiError(422, "invalid", str(exc), field)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


async def _profiles(request: Request, kind: str) -> RecordCheck | None:
    """The profile check of a lamp or cabinet (the profiles read now: a new file counts)."""
    if kind not in ("lamp", "cabinet"):
        return None
    directory = request.app.state.settings.profiles_dir
    profiles, _broken = await asyncio.to_thread(read_profiles, directory)
    return profile_check(profiles)


def _out(model: type[Out], record: Record, request: Request) -> Out:
    if model is LampOut:
        live: LiveState = request.app.state.live
        i = live.row.get(record["id"])
        record = {**record, "state": None if i is None else STATES[live.state[i]]}
    return model.model_validate(record)


async def list_of(
    view: Viewing, paging: Paging, kind: str, model: type[Out], filters: BaseModel | None = None
) -> Page[Out]:
    after = paging.after
    if after is not None and not isinstance(after, str):
        raise ApiError(422, "invalid", "not a cursor this API gave", "query.cursor")
    given = _plain(filters.model_dump(exclude_none=True)) if filters is not None else {}
    among = None
    if "state" in given:  # the live state's, not the store's: the lamps in it now
        live: LiveState = view.request.app.state.live
        code = CODE[given.pop("state")]
        among = sorted(lamp.id for i, lamp in enumerate(live.lamps) if live.state[i] == code)
    records = await list_records(view.session, kind, given, after=after, limit=paging.limit + 1,
                                 among=among)  # fmt: skip
    return paging.page([_out(model, r, view.request) for r in records], lambda item: item.id)


async def one(view: Viewing, kind: str, ident: str, model: type[Out]) -> Out:
    record = await get_record(view.session, kind, ident)
    if record is None:
        raise ApiError(404, "not_found", f"no {kind} {ident!r}")
    return _out(model, record, view.request)


async def create(edit: Editing, kind: str, body: BaseModel, model: type[Out]) -> Out:
    record = _plain(body.model_dump())
    check = await _profiles(edit.request, kind)
    async with edit.session.begin():
        try:
            created = await create_asset(edit.session, kind, record, check=check)
        except AssetError as exc:
            raise _refused(exc) from exc
        await audit(edit.session, actor=edit.who.name, action=f"{kind}.create",
                    target=f"{kind}:{created['id']}", after=created, at=edit.now)  # fmt: skip
    await edit.request.app.state.reload_assets()
    return _out(model, created, edit.request)


async def change(edit: Editing, kind: str, ident: str, body: BaseModel, model: type[Out]) -> Out:
    changes = _plain(body.model_dump(exclude_unset=True))
    if not changes:
        raise ApiError(422, "invalid", "nothing to change: give at least one field", "body")
    for field, value in changes.items():
        if value is None and field not in NULLABLE:
            raise ApiError(422, "invalid", f"{field} may not be null", f"body.{field}")
    check = await _profiles(edit.request, kind)
    async with edit.session.begin():
        try:
            before, after = await update_asset(edit.session, kind, ident, changes, check=check)
        except AssetError as exc:
            raise _refused(exc) from exc
        await audit(edit.session, actor=edit.who.name, action=f"{kind}.update",
                    target=f"{kind}:{ident}", before=before, after=after, at=edit.now)  # fmt: skip
    await edit.request.app.state.reload_assets()
    return _out(model, after, edit.request)


async def delete(edit: Editing, kind: str, ident: str, model: type[Out]) -> Out:
    async with edit.session.begin():
        try:
            before = await delete_asset(edit.session, kind, ident)
        except AssetError as exc:
            raise _refused(exc, "path") from exc
        await audit(edit.session, actor=edit.who.name, action=f"{kind}.delete",
                    target=f"{kind}:{ident}", before=before, at=edit.now)  # fmt: skip
    await edit.request.app.state.reload_assets()
    return _out(model, before, edit.request)


async def retire(edit: Editing, ident: str) -> LampOut:
    async with edit.session.begin():
        try:
            before, after = await retire_lamp(edit.session, ident)
        except AssetError as exc:
            raise _refused(exc, "path") from exc
        await audit(edit.session, actor=edit.who.name, action="lamp.retire",
                    target=f"lamp:{ident}", before=before, after=after, at=edit.now)  # fmt: skip
    await edit.request.app.state.reload_assets()
    return _out(LampOut, after, edit.request)
