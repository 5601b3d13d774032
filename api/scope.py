"""Who sees what of the alarms and the ledger.

Admins, operators and viewers see every site. A maintainer's people see and touch only the
alarms of the sites their maintainer maintains now (handovers count), and the work orders of
those sites or registered to their maintainer (an order opened before a handover stays with
the maintainer it was registered for). Anything else is answered as if it did not exist: a
404, not a 403, so that an account cannot learn what other sites have.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.security import Principal
from streetlight.store.users import Role
from streetlight.store.workorders import MaintainerScope, scope_of


async def scope(session: AsyncSession, who: Principal, now: datetime) -> MaintainerScope | None:
    """The caller's scope at `now`; None: every site."""
    if who.role is not Role.MAINTAINER:
        return None
    if who.maintainer_id is None:  # a maintainer account not tied to one: nothing is its
        return MaintainerScope("", frozenset())
    return await scope_of(session, who.maintainer_id, now)
