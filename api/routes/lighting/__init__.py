"""Lighting: programs, calendars, special days and assignments (the schedule file's forms, each
change checked with the whole schedule as the file is), overrides, and the planning view.

Operators (and admins) write; every role reads. Every write is audited with its before and
after, and once committed is announced on the bus as a `schedule_change` (docs/contract.md,
"API", "Lighting").
"""

from fastapi import APIRouter

from api.routes.lighting import calendars, overrides, plan, programs

router = APIRouter()
for part in (programs, calendars, overrides, plan):
    router.include_router(part.router)

__all__ = ["router"]
