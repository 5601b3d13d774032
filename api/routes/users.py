"""Users and machines' keys (admins only): add, list, change, disable, revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from api.deps import Now, Session
from api.errors import ApiError, not_found
from api.security import Admin, new_key, passwords
from streetlight.store.users import (
    NAME_PATTERN,
    Account,
    AccountError,
    KeyRecord,
    Role,
    add_key,
    add_user,
    audit,
    list_keys,
    list_users,
    revoke_key,
    update_user,
    user_by_name,
)

router = APIRouter(tags=["users"])

UserName = Annotated[str, Path(pattern=NAME_PATTERN)]


class UserIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    password: str | None = Field(default=None, min_length=12, max_length=200)
    maintainer: str | None = Field(default=None, max_length=64)


class UserOut(BaseModel):
    name: str
    role: Role
    maintainer: str | None
    disabled: bool
    has_password: bool


class UserChange(BaseModel):
    password: str | None = Field(default=None, min_length=12, max_length=200)
    disabled: bool | None = None
    revoke_tokens: bool = False


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class KeyOut(BaseModel):
    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    revoked: bool


class NewKey(KeyOut):
    key: str = Field(description="shown this once; only its digest is kept")


def _user(account: Account) -> UserOut:
    return UserOut(
        name=account.name,
        role=account.role,
        maintainer=account.maintainer_id,
        disabled=account.disabled,
        has_password=account.password_hash is not None,
    )


def _key(record: KeyRecord) -> KeyOut:
    return KeyOut(
        id=record.id,
        user=record.user,
        name=record.name,
        prefix=record.prefix,
        created_at=record.created_at,
        revoked=record.revoked,
    )


def _refused(exc: AccountError) -> ApiError:
    return ApiError(409, "refused", str(exc))


@router.get("/users", summary="Every account")
async def users(_who: Admin, session: Session) -> list[UserOut]:
    return [_user(a) for a in await list_users(session)]


@router.post("/users", status_code=201, summary="Add an account")
async def create_user(body: UserIn, who: Admin, session: Session, now: Now) -> UserOut:
    hashed = passwords.hash(body.password) if body.password is not None else None
    async with session.begin():
        try:
            account = await add_user(
                session,
                name=body.name,
                role=body.role,
                password_hash=hashed,
                maintainer_id=body.maintainer,
                by=who.name,
                at=now,
            )
        except AccountError as exc:
            raise _refused(exc) from exc
        out = _user(account)
        await audit(
            session,
            actor=who.name,
            action="user.create",
            target=f"user:{body.name}",
            after=out.model_dump(),
            at=now,
        )
    return out


@router.patch("/users/{name}", summary="Change a password, disable, or revoke its tokens")
async def change_user(
    name: UserName, body: UserChange, request: Request, who: Admin, session: Session, now: Now
) -> UserOut:
    async with session.begin():
        before = await user_by_name(session, name)
        if before is None:
            raise not_found("user", name)
        hashed = passwords.hash(body.password) if body.password is not None else None
        # a new password ends the old one's tokens; tokens live in wall time
        revoke = body.revoke_tokens or hashed is not None
        tokens_after = datetime.now(UTC) if revoke else None
        account = await update_user(
            session,
            name,
            password_hash=hashed,
            disabled=body.disabled,
            tokens_after=tokens_after,
            at=now,
        )
        out = _user(account)
        await audit(
            session,
            actor=who.name,
            action="user.update",
            target=f"user:{name}",
            before=_user(before).model_dump(),
            after={
                **out.model_dump(),
                "password_changed": hashed is not None,
                "tokens_revoked": body.revoke_tokens,
            },
            at=now,
        )
    request.app.state.recognised.forget()  # a disabled user or revoked tokens, refused at once
    return out


@router.get("/keys", summary="Every machine key (never the key itself)")
async def keys(_who: Admin, session: Session) -> list[KeyOut]:
    return [_key(k) for k in await list_keys(session)]


@router.post("/users/{name}/keys", status_code=201, summary="A new key for an account")
async def create_key(name: UserName, body: KeyIn, who: Admin, session: Session, now: Now) -> NewKey:
    key, prefix, digest = new_key()
    async with session.begin():
        try:
            record = await add_key(
                session, name, name=body.name, prefix=prefix, digest=digest, at=now
            )
        except AccountError as exc:
            raise not_found("user", name) from exc
        out = _key(record)
        await audit(
            session,
            actor=who.name,
            action="key.create",
            target=f"key:{record.id}",
            after=out.model_dump(),
            at=now,
        )
    return NewKey(**out.model_dump(), key=key)


@router.delete("/keys/{key_id}", summary="Revoke a key")
async def delete_key(
    key_id: Annotated[int, Path(ge=1, le=2**31)],
    request: Request,
    who: Admin,
    session: Session,
    now: Now,
) -> KeyOut:
    async with session.begin():
        try:
            record = await revoke_key(session, key_id, now)
        except AccountError as exc:
            raise not_found("key", key_id) from exc
        out = _key(record)
        await audit(
            session,
            actor=who.name,
            action="key.revoke",
            target=f"key:{key_id}",
            after=out.model_dump(),
            at=now,
        )
    request.app.state.recognised.forget()
    return out
