"""The audit log: every write through the API, who, what, when, before and after (admins)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from api.deps import Page, Pages, Session
from api.security import Admin
from streetlight.store.times import from_store
from streetlight.store.users import read_audit

router = APIRouter(tags=["audit"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any


@router.get("/audit", summary="Writes, oldest first")
async def audit_log(
    _who: Admin,
    session: Session,
    paging: Pages,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> Page[AuditEntry]:
    after = paging.after if isinstance(paging.after, int) else 0
    rows = await read_audit(session, after_id=after, limit=paging.limit + 1, actor=actor,
                            action=action, since=since, until=until)  # fmt: skip
    entries = [
        AuditEntry(id=r.id, at=from_store(r.at), actor=r.actor, action=r.action, target=r.target,
                   before=None if r.before is None else json.loads(r.before),
                   after=None if r.after is None else json.loads(r.after))
        for r in rows
    ]  # fmt: skip
    return paging.page(entries, lambda e: e.id)
