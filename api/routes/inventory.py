"""The asset tree whole: the tree to read, an inventory file to import, and the export.

An import is the inventory file of `streetlight inventory load` (GeoJSON or CSV), uploaded as
`multipart/form-data` (field `file`) or as the raw body with its content type. It is all or
nothing: every problem of every row is answered in one 422 (`problems`, each with where, the
record's id and the property), and nothing is saved; else it is merged into the store in one
transaction (`save_inventory`: added, updated, and kept, what the store holds and the file
does not list) and the live state follows. `dry_run` checks and saves nothing. The export
writes the same format back, planned and retired lamps with their `status`, so an export
imported into an empty store gives the same store.
"""

from __future__ import annotations

import asyncio
import io
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from api.asset_schemas import ImportProblem, ImportProblems, ImportReport, Tree
from api.deps import Now, Session
from api.errors import ApiError
from api.security import Operator, Reader
from streetlight.inventory import (
    FORMATS,
    InventoryError,
    InventoryFile,
    dump_csv,
    dump_geojson,
    parse_inventory,
)
from streetlight.profiles import profile_check, read_profiles
from streetlight.store import import_inventory, read_assets
from streetlight.store.asset_queries import asset_tree
from streetlight.store.users import audit

router = APIRouter(tags=["assets"])

Format = Literal["geojson", "csv"]
CONTENT_TYPES = {
    "application/geo+json": "geojson",
    "application/json": "geojson",
    "text/csv": "csv",
    "application/csv": "csv",
}
MEDIA = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8"}
UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/geo+json": {"schema": {"type": "object"}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


@router.get(
    "/assets/tree",
    summary="The district down to its circuits, and the maintainers; lamps counted if asked",
    response_model_exclude_unset=True,
)
async def tree(
    _who: Reader,
    session: Session,
    counts: Annotated[bool, Query(description="count each node's lamps by status")] = False,
) -> Tree:
    return Tree.model_validate(await asset_tree(session, counts=counts))


def _format(given: str | None, name: str | None, content_type: str | None) -> str:
    """The upload's format: asked for, else by its file name, else by its content type."""
    if given is not None:
        return given
    for suffix, fmt in FORMATS.items():
        if name is not None and name.lower().endswith(suffix):
            return fmt
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    raise ApiError(
        422,
        "invalid",
        "which format? give ?format=geojson|csv, a file named .geojson or .csv, or the "
        "content type application/geo+json or text/csv",
        "query.format",
    )


async def _upload(request: Request, given: str | None) -> tuple[bytes, str, str]:
    """The file's bytes, its name (for the problems) and its format."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return await request.body(), "upload", _format(given, None, content_type)
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "invalid", "the inventory file goes in the field 'file'",
                           "body.file")  # fmt: skip
        name = upload.filename or "upload"
        return await upload.read(), name, _format(given, name, upload.content_type)


def _problems(exc: InventoryError, source: str) -> JSONResponse:
    problems = [
        ImportProblem(where=d.where, id=d.id, field=d.field, message=d.message) for d in exc.details
    ]
    body = ImportProblems(
        code="invalid_inventory",
        message=f"{len(problems)} problem(s) in {source}; nothing was saved",
        field="body",
        source=source,
        problems=problems,
    )
    return JSONResponse(status_code=422, content=body.model_dump())


@router.post(
    "/assets/import",
    summary="Import an inventory file (GeoJSON or CSV): all of it, or nothing and every problem",
    response_model=ImportReport,
    responses={422: {"model": ImportProblems, "description": "every problem; nothing saved"}},
    openapi_extra={"requestBody": UPLOAD},
)
async def import_assets(
    request: Request,
    who: Operator,
    session: Session,
    now: Now,
    fmt: Annotated[Format | None, Query(alias="format")] = None,
    dry_run: Annotated[bool, Query(description="check only: save nothing")] = False,
) -> Any:
    data, source, chosen = await _upload(request, fmt)
    directory = request.app.state.settings.profiles_dir
    profiles, _broken = await asyncio.to_thread(read_profiles, directory)

    def parse() -> InventoryFile:  # a district's file takes a while: off the event loop
        return parse_inventory(io.BytesIO(data), chosen, source, max_problems=None,
                               check=profile_check(profiles))  # fmt: skip

    try:
        loaded = await asyncio.to_thread(parse)
        report = await import_inventory(session, loaded, source)
    except InventoryError as exc:
        await session.rollback()
        return _problems(exc, source)
    out = ImportReport(source=source, dry_run=dry_run, added=report.added, updated=report.updated,
                       kept=report.absent, summary=report.summary())  # fmt: skip
    if dry_run:
        await session.rollback()
        return out
    await audit(session, actor=who.name, action="assets.import", target=f"inventory:{source}",
                after=out.model_dump(), at=now)  # fmt: skip
    await session.commit()
    await request.app.state.reload_assets()
    return out


@router.get(
    "/assets/export",
    summary="Every asset as an inventory file (GeoJSON or CSV), as import reads it",
    response_class=Response,
    responses={
        200: {
            "content": {"application/geo+json": {}, "text/csv": {}},
            "description": "the inventory file",
        }
    },
)
async def export_assets(
    _who: Reader,
    session: Session,
    fmt: Annotated[Format, Query(alias="format")] = "geojson",
) -> Response:
    loaded = await read_assets(session)
    if loaded is None:
        raise ApiError(404, "not_found", "the store holds no inventory: import one")

    def dump() -> bytes:
        if fmt == "csv":
            return dump_csv(loaded.inventory, loaded.status).encode()
        return orjson.dumps(dump_geojson(loaded.inventory, loaded.status))

    body = await asyncio.to_thread(dump)
    name = f"{loaded.inventory.district.id}.{fmt}"
    return Response(body, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
