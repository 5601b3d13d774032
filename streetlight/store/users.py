"""The API's accounts in the store: users with a role, machines' keys, revoked tokens, audit.

Passwords arrive here already hashed (the API hashes them, with Argon2); keys arrive as their
SHA-256: the store never holds a secret it could leak. Every write through the API leaves a
row of the audit log, in the same transaction as the write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.errors import StreetlightError
from streetlight.store.models import ApiKeyRow, AuditRow, MaintainerRow, RevokedTokenRow, UserRow
from streetlight.store.times import from_store, maybe_from_store, to_store

NAME_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"


class Role(StrEnum):
    ADMIN = "admin"  # users, keys, the audit log, and everything else
    OPERATOR = "operator"  # programs, calendars, overrides; alarms and work orders everywhere
    MAINTAINER = "maintainer"  # the alarms and work orders of its maintainer's sites
    VIEWER = "viewer"  # reads only


class AccountError(StreetlightError):
    """A user or key that cannot be made or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    role: Role
    maintainer_id: str | None
    password_hash: str | None
    tokens_after: datetime | None
    disabled: bool


def _account(row: UserRow) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        maintainer_id=row.maintainer_id,
        password_hash=row.password_hash,
        tokens_after=maybe_from_store(row.tokens_after),
        disabled=row.disabled_at is not None,
    )


async def add_user(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    password_hash: str | None,
    maintainer_id: str | None,
    by: str,
    at: datetime,
) -> Account:
    if (role is Role.MAINTAINER) != (maintainer_id is not None):
        raise AccountError("a maintainer account names its maintainer, and only it does")
    if maintainer_id is not None and await session.get(MaintainerRow, maintainer_id) is None:
        raise AccountError(f"no maintainer {maintainer_id!r} in the asset tree")
    if await user_by_name(session, name) is not None:
        raise AccountError(f"a user {name!r} exists already")
    row = UserRow(
        name=name,
        role=role.value,
        maintainer_id=maintainer_id,
        password_hash=password_hash,
        created_at=to_store(at),
        created_by=by,
    )
    session.add(row)
    await session.flush()
    return _account(row)


async def user_by_name(session: AsyncSession, name: str) -> Account | None:
    row = await session.scalar(select(UserRow).where(UserRow.name == name))
    return None if row is None else _account(row)


async def list_users(session: AsyncSession) -> list[Account]:
    return [_account(r) for r in (await session.scalars(select(UserRow).order_by(UserRow.id)))]


async def update_user(
    session: AsyncSession,
    name: str,
    *,
    password_hash: str | None = None,
    disabled: bool | None = None,
    tokens_after: datetime | None = None,
    at: datetime,
) -> Account:
    """Change a password, disable or enable, or refuse the tokens issued before `tokens_after`
    (wall time: tokens live in it)."""
    row = await session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise AccountError(f"no user {name!r}")
    if password_hash is not None:
        row.password_hash = password_hash
    if tokens_after is not None:
        row.tokens_after = to_store(tokens_after)
    if disabled is not None:
        row.disabled_at = to_store(at) if disabled else None
    await session.flush()
    return _account(row)


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: int
    user: str
    name: str
    prefix: str
    created_at: datetime
    revoked: bool


async def add_key(
    session: AsyncSession, user: str, *, name: str, prefix: str, digest: str, at: datetime
) -> KeyRecord:
    row = await session.scalar(select(UserRow).where(UserRow.name == user))
    if row is None:
        raise AccountError(f"no user {user!r}")
    key = ApiKeyRow(user_id=row.id, name=name, prefix=prefix, digest=digest,
                    created_at=to_store(at))  # fmt: skip
    session.add(key)
    await session.flush()
    return KeyRecord(key.id, user, name, prefix, at, False)


async def key_owner(session: AsyncSession, prefix: str) -> tuple[str, Account] | None:
    """The digest of the live key with `prefix`, and its owner."""
    found = (
        await session.execute(
            select(ApiKeyRow, UserRow)
            .join(UserRow, UserRow.id == ApiKeyRow.user_id)
            .where(ApiKeyRow.prefix == prefix, ApiKeyRow.revoked_at.is_(None))
        )
    ).first()
    if found is None:
        return None
    key, user = found
    return key.digest, _account(user)


async def list_keys(session: AsyncSession) -> list[KeyRecord]:
    rows = await session.execute(
        select(ApiKeyRow, UserRow.name)
        .join(UserRow, UserRow.id == ApiKeyRow.user_id)
        .order_by(ApiKeyRow.id)
    )
    return [
        KeyRecord(k.id, user, k.name, k.prefix, from_store(k.created_at), k.revoked_at is not None)
        for k, user in rows
    ]


async def revoke_key(session: AsyncSession, key_id: int, at: datetime) -> KeyRecord:
    key = await session.get(ApiKeyRow, key_id)
    if key is None:
        raise AccountError(f"no key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = to_store(at)
    user = await session.get(UserRow, key.user_id)
    assert user is not None  # a foreign key
    return KeyRecord(key.id, user.name, key.name, key.prefix, from_store(key.created_at), True)


# --- tokens ----------------------------------------------------------------------------------


async def revoke_token(session: AsyncSession, jti: str, expires_at: datetime, at: datetime) -> None:
    """Refuse a token from now on; rows of tokens that have expired anyway are let go."""
    await session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < to_store(at)))
    if await session.get(RevokedTokenRow, jti) is None:
        session.add(RevokedTokenRow(jti=jti, expires_at=to_store(expires_at)))


async def token_revoked(session: AsyncSession, jti: str) -> bool:
    return await session.get(RevokedTokenRow, jti) is not None


# --- audit -----------------------------------------------------------------------------------


async def audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    at: datetime,
) -> None:
    """Record a write in the caller's transaction (`before`/`after`: JSON-able, or None)."""

    def text(value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, default=str)

    session.add(
        AuditRow(at=to_store(at), actor=actor, action=action, target=target[:200],
                 before=text(before), after=text(after))
    )  # fmt: skip


async def read_audit(
    session: AsyncSession,
    *,
    after_id: int = 0,
    limit: int,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Sequence[AuditRow]:
    query = select(AuditRow).where(AuditRow.id > after_id)
    if actor is not None:
        query = query.where(AuditRow.actor == actor)
    if action is not None:
        query = query.where(AuditRow.action == action)
    if since is not None:
        query = query.where(AuditRow.at >= to_store(since))
    if until is not None:
        query = query.where(AuditRow.at < to_store(until))
    return (await session.scalars(query.order_by(AuditRow.id).limit(limit))).all()
