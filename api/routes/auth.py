"""Logging in (OAuth2's password flow), out, and who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import Now, Session
from api.security import (
    LoginLimiter,
    Principal,
    Reader,
    issue_token,
    passwords,
    principal,
    unauthenticated,
)
from api.settings import ApiSettings
from streetlight.store.users import Role, audit, revoke_token, update_user, user_by_name

router = APIRouter(prefix="/auth", tags=["auth"])


def limiter(settings: ApiSettings) -> LoginLimiter:
    return LoginLimiter(settings.api_login_attempts, settings.api_login_window_s)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 word, not a secret
    expires_at: datetime
    role: Role


class Me(BaseModel):
    name: str
    role: Role
    maintainer: str | None
    expires_at: datetime | None


@router.post("/token", summary="Log in: a token for a name and password")
async def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: Session,
) -> TokenOut:
    address = request.client.host if request.client else "?"
    attempts: LoginLimiter = request.app.state.login_limiter
    attempts.check(form.username, address)
    account = await user_by_name(session, form.username)
    valid = (
        account is not None
        and account.password_hash is not None
        and passwords.verify(form.password, account.password_hash)
    )
    if account is None or not valid or account.disabled:
        attempts.failed(form.username, address)
        raise unauthenticated("wrong name or password, or the account is disabled")
    settings: ApiSettings = request.app.state.settings
    # tokens live in wall time, whatever the clock of a simulated district says
    issued = issue_token(
        account, request.app.state.secret, settings.api_token_minutes, datetime.now(UTC)
    )
    return TokenOut(access_token=issued.value, expires_at=issued.expires_at, role=account.role)


@router.get("/me", summary="Who the credentials belong to")
async def me(who: Reader) -> Me:
    return Me(name=who.name, role=who.role, maintainer=who.maintainer_id, expires_at=who.expires_at)


@router.post(
    "/logout",
    status_code=204,
    summary="Revoke this token (or, everywhere, every one of the user's)",
)
async def logout(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    session: Session,
    now: Now,
    everywhere: bool = False,
) -> None:
    if who.jti is None or who.expires_at is None:
        raise unauthenticated("an API key is revoked by an admin, not logged out")
    async with session.begin():
        if everywhere:
            await update_user(session, who.name, tokens_after=datetime.now(UTC), at=now)
        else:
            await revoke_token(session, who.jti, who.expires_at, now)
        await audit(
            session,
            actor=who.name,
            action="auth.logout",
            target=f"user:{who.name}",
            after={"everywhere": everywhere},
            at=now,
        )
    request.app.state.recognised.forget()  # this process refuses it at once
