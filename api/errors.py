"""One error body for every refusal: `{"code", "message", "field"}`.

A client's mistake is a 4xx that names what was wrong and, where one field was, which
(`body.level`, `query.limit`); a refusal of the domain (a step the ledger refuses, a schedule
that does not check) keeps the domain's own message. Only a fault of the server is a 500, and
its body says no more than that: the log has the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from streetlight.domain.workorders import LedgerError
from streetlight.errors import StreetlightError
from streetlight.schedule import ProgramError
from streetlight.store import StoreError
from streetlight.store.alarms import AlarmStoreError

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ApiError(Exception):
    """A refusal with its status, a short machine code, a message for people, and the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {ident!r}")


# every route may answer these; declared once so the OpenAPI document says so
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "the request cannot be read"),
        (401, "no credentials, or expired or revoked ones"),
        (403, "the role may not do this"),
        (404, "no such thing"),
        (409, "refused in the thing's present state"),
        (413, "the request is too large"),
        (422, "a value is wrong; `field` names it"),
        (429, "too many attempts; wait as Retry-After says"),
    )
}


def _body(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    content = ErrorBody(code=code, message=message, field=field).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=content)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = _body(exc.status, exc.code, exc.message, exc.field)
    response.headers.update(exc.headers)
    return response


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    code = "unreadable" if first.get("type") == "json_invalid" else "invalid"
    return _body(422, code, message, _field(tuple(first.get("loc", ()))) or None)


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    codes = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method",
             413: "too_large", 429: "too_many"}  # fmt: skip
    response = _body(exc.status_code, codes.get(exc.status_code, "http"), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _domain(_request: Request, exc: Exception) -> JSONResponse:
    """The domain's refusals: a schedule that does not check, a step in the wrong state."""
    if isinstance(exc, ProgramError):
        return _body(422, "invalid_schedule", str(exc))
    if isinstance(exc, AlarmStoreError | LedgerError):
        return _body(409, "refused", str(exc))
    if isinstance(exc, StoreError):
        logger.error("store: %s", exc)
        return _body(503, "store_unavailable", "the store cannot be reached")
    return _body(422, "invalid", str(exc))


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    logger.info("refused by the store's constraints: %s", exc)
    return _body(409, "conflict", "conflicts with what the store holds (a duplicate id?)")


async def _internal(_request: Request, exc: Exception) -> JSONResponse:
    logger.error("internal error", exc_info=exc)
    return _body(500, "internal", "internal error; the server's log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(StreetlightError, _domain)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(Exception, _internal)
