"""Who is asking, and may they: passwords, short-lived tokens, machines' keys, roles.

People log in with OAuth2's password flow (`POST /api/v1/auth/token`) and get a JWT signed with
`STREETLIGHT_API_SECRET` that lives `api_token_minutes`; machines send `X-API-Key`. Passwords
are hashed with Argon2 (pwdlib); a key is 32 random bytes whose SHA-256 is stored (a key is
not guessable the way a password is, and a slow hash on every request of a machine would cost
what the latency targets cannot pay). A token is refused once expired, revoked (logged out),
issued before its user's `tokens_after`, or when its user is disabled; a key once revoked.
Failed logins are limited per name and address (`api_login_attempts` per
`api_login_window_s`). A caller recognised once is held for `api_auth_cache_s` (2 s), so a
revocation made through another process holds within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pwdlib import PasswordHash

from api.errors import ApiError
from streetlight.store.users import Account, Role, key_owner, token_revoked, user_by_name

ALGORITHM = "HS256"
KEY_PREFIX = "slk"  # keys read slk_<prefix>_<secret>: the prefix finds the row
TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a path, not a password

bearer = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
passwords = PasswordHash.recommended()


@dataclass(frozen=True, slots=True)
class Principal:
    """The account behind a request, and how it proved it."""

    name: str
    role: Role
    maintainer_id: str | None
    jti: str | None = None  # a token's id (None for a key)
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: datetime


def issue_token(account: Account, secret: str, minutes: float, now: datetime) -> Token:
    expires = now + timedelta(minutes=minutes)
    claims = {
        "sub": account.name,
        "role": account.role.value,
        "iat": now.timestamp(),  # to the microsecond: "revoke every older token" is exact
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return Token(jwt.encode(claims, secret, algorithm=ALGORITHM), expires)


def new_key() -> tuple[str, str, str]:
    """A new key: (the key to hand out once, its prefix, the digest to store)."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, key_digest(key)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


class LoginLimiter:
    """Failed logins per name and client address, in a moving window, in memory."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self._limit = RateLimitItemPerSecond(attempts, max(1, round(window_s)))
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, name: str, address: str) -> None:
        if not self._limiter.test(self._limit, name, address):
            reset, _left = self._limiter.get_window_stats(self._limit, name, address)
            wait = max(1, round(reset - datetime.now(UTC).timestamp()))
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed logins for {name!r}; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, name: str, address: str) -> None:
        self._limiter.hit(self._limit, name, address)


# --- the dependencies routes declare -------------------------------------------------------


async def principal(
    request: Request,
    token: Annotated[str | None, Depends(bearer)],
    key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller, from its token or key; 401 without one that holds."""
    state = request.app.state
    credential = key if key is not None else token
    if credential is None:
        raise unauthenticated("log in (POST /api/v1/auth/token) or send X-API-Key")
    recognised: Recognised = state.recognised
    known = recognised.get(credential)
    if known is not None:
        return known
    async with state.sessions() as session:
        if key is not None:
            who = await _by_key(session, key)
        else:
            who = await _by_token(session, credential, state.secret)
    recognised.put(credential, who)
    return who


class Recognised:
    """Callers recognised in the last `ttl_s` seconds, by their credential, so a burst of
    requests costs one look in the store, not one each. A revocation through this process
    forgets them all at once; one through another (a second API process, the CLI) holds
    within `ttl_s`. A token is never held past its own expiry."""

    def __init__(self, ttl_s: float, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._seen: dict[str, tuple[float, Principal]] = {}

    def get(self, credential: str) -> Principal | None:
        found = self._seen.get(credential)
        if found is None:
            return None
        until, who = found
        if time.monotonic() >= until:
            del self._seen[credential]
            return None
        return who

    def put(self, credential: str, who: Principal) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._seen) >= self.size:
            self._seen.clear()  # a flood of new credentials: start over rather than grow
        until = time.monotonic() + self.ttl_s
        if who.expires_at is not None:
            until = min(
                until, time.monotonic() + (who.expires_at - datetime.now(UTC)).total_seconds()
            )
        self._seen[credential] = (until, who)

    def forget(self) -> None:
        self._seen.clear()


async def _by_key(session: Any, key: str) -> Principal:
    parts = key.split("_", 2)  # the secret part may hold "_" itself
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise unauthenticated("X-API-Key is not a Streetlight key")
    found = await key_owner(session, parts[1])
    if found is None or not hmac.compare_digest(found[0], key_digest(key)):
        raise unauthenticated("X-API-Key is unknown or revoked")
    account = found[1]
    if account.disabled:
        raise unauthenticated(f"user {account.name!r} is disabled")
    return Principal(account.name, account.role, account.maintainer_id)


async def _by_token(session: Any, token: str, secret: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "iat", "jti"]},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise unauthenticated("the token has expired: log in again") from None
    except jwt.InvalidTokenError:
        raise unauthenticated("the token is not one this server issued") from None
    if await token_revoked(session, claims["jti"]):
        raise unauthenticated("the token was revoked: log in again")
    account = await user_by_name(session, claims["sub"])
    if account is None or account.disabled:
        raise unauthenticated(f"user {claims['sub']!r} is unknown or disabled")
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    if account.tokens_after is not None and issued <= account.tokens_after:
        raise unauthenticated("the token was revoked: log in again")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    return Principal(account.name, account.role, account.maintainer_id, claims["jti"], expires)


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if its role is one of `roles` (admin always is); else 403."""
    allowed = {Role.ADMIN, *roles}

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ApiError(403, "forbidden", f"{who.role.value} may not do this (needs {names})")
        return who

    return check


Reader = Annotated[Principal, Depends(principal)]  # any role may read
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Crew = Annotated[Principal, Depends(require(Role.OPERATOR, Role.MAINTAINER))]
Admin = Annotated[Principal, Depends(require())]
