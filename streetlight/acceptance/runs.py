"""An acceptance run from start to the store, its re-run, and the acceptance that hands the
site over. The CLI and the API both go through these, so a run, a re-run and a handover are
the same wherever they are asked for; each is written to the audit log in the caller's
transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from streetlight.acceptance.criteria import AcceptanceCriteria, AcceptanceError, criteria_from
from streetlight.acceptance.evaluate import evaluate
from streetlight.acceptance.inputs import (
    AcceptanceInputs,
    inputs_from_json,
    inputs_json,
    inputs_sha256,
)
from streetlight.acceptance.model import AcceptanceResult, Verdict, from_json, to_json
from streetlight.store.acceptance import StoredRun, mark_accepted, read_run, save_run
from streetlight.store.users import audit
from streetlight.store.workorders import record_handover


class RunNotFoundError(AcceptanceError):
    """No stored run has that id."""


class AcceptanceRefusedError(AcceptanceError):
    """A step refused in the run's present state (a failed run, one already accepted)."""


def new_run_id(now: datetime) -> str:
    """`acc-<UTC time>-<random>`: ids sort by when the runs were made."""
    return f"acc-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


async def record_run(
    session: AsyncSession,
    inputs: AcceptanceInputs,
    criteria: AcceptanceCriteria,
    *,
    by: str,
    now: datetime,
) -> AcceptanceResult:
    """Evaluate gathered inputs and store the run with them (in the caller's transaction)."""
    data = inputs_json(inputs)
    digest = inputs_sha256(data)
    run_id = new_run_id(now)
    result = evaluate(inputs, criteria, run_id=run_id, inputs_sha256=digest)
    await save_run(
        session,
        StoredRun(
            id=run_id,
            site=inputs.site,
            first_night=inputs.first_night,
            last_night=inputs.last_night,
            verdict=result.verdict.value,
            criteria=orjson.dumps(criteria.as_plain()).decode(),
            inputs=data.decode(),
            inputs_sha256=digest,
            result=to_json(result).decode(),
            run_by=by,
            run_at=now,
            accepted_by=None,
            accepted_at=None,
            handover_id=None,
        ),
    )
    await audit(
        session, actor=by, action="acceptance.run", target=f"site:{inputs.site}",
        after=_summary(result), at=now,
    )  # fmt: skip
    return result


def _summary(result: AcceptanceResult) -> dict[str, Any]:
    return {
        "run": result.run_id,
        "from": result.first_night.isoformat(),
        "to": result.last_night.isoformat(),
        "verdict": result.verdict.value,
        "failed": [c.criterion.number for c in result.criteria if c.verdict is Verdict.FAIL],
    }


async def stored_run(session: AsyncSession, run_id: str) -> StoredRun:
    run = await read_run(session, run_id)
    if run is None:
        raise RunNotFoundError(f"no acceptance run {run_id!r}")
    return run


def stored_result(run: StoredRun) -> AcceptanceResult:
    """The run's stored result; one stored before results kept their zone takes its inputs'
    (the zone it was judged in), so it reads, renders and re-runs as it was made."""
    plain = orjson.loads(run.result)
    if isinstance(plain, dict) and "timezone" not in plain:
        plain["timezone"] = inputs_from_json(run.inputs).timezone
        return from_json(orjson.dumps(plain))
    return from_json(run.result)


@dataclass(frozen=True, slots=True)
class Rerun:
    stored: AcceptanceResult
    again: AcceptanceResult

    @property
    def identical(self) -> bool:
        return to_json(self.stored) == to_json(self.again)


async def rerun(session: AsyncSession, run_id: str) -> Rerun:
    """Evaluate a stored run's inputs again, by its stored criteria; the result must be the
    stored one (`identical`). Stored inputs whose sha256 no longer matches are refused."""
    run = await stored_run(session, run_id)
    data = run.inputs.encode()
    digest = inputs_sha256(data)
    if digest != run.inputs_sha256:
        raise AcceptanceError(
            f"run {run_id}: its stored inputs have changed (sha256 {digest}, recorded "
            f"{run.inputs_sha256})"
        )
    criteria = criteria_from(orjson.loads(run.criteria), f"run {run_id}: criteria")
    again = evaluate(inputs_from_json(data), criteria, run_id=run.id, inputs_sha256=digest)
    return Rerun(stored_result(run), again)


async def accept_run(
    session: AsyncSession,
    run_id: str,
    *,
    maintainer: str,
    on: date,
    by: str,
    now: datetime,
) -> tuple[StoredRun, int]:
    """Accept a passed run: record the site's handover to `maintainer` (its id or exact name)
    from the start of `on` (local), through the ledger, so alarms and work orders go to it
    from then on. A failed run, or one already accepted, is refused (AcceptanceRefusedError); an
    unknown maintainer by the ledger (LedgerError). Returns the run and the handover's id."""
    run = await stored_run(session, run_id)
    result = stored_result(run)
    if result.verdict is not Verdict.PASS:
        failed = ", ".join(
            f"{c.criterion.number} ({c.criterion.value})"
            for c in result.criteria
            if c.verdict is Verdict.FAIL
        )
        raise AcceptanceRefusedError(
            f"run {run_id} failed criteria {failed}: a failed run cannot be accepted"
        )
    if run.accepted_at is not None:
        raise AcceptanceRefusedError(
            f"run {run_id} was accepted already, by {run.accepted_by} at "
            f"{run.accepted_at.isoformat()}"
        )
    timezone = inputs_from_json(run.inputs).timezone
    at = datetime.combine(on, time(0), ZoneInfo(timezone))
    handover = await record_handover(
        session, run.site, maintainer, at, by=by, note=f"acceptance run {run_id}"
    )
    if not await mark_accepted(session, run_id, by=by, at=now, handover_id=handover.id):
        raise AcceptanceRefusedError(f"run {run_id} was accepted meanwhile by someone else")
    await audit(
        session, actor=by, action="acceptance.accept", target=f"site:{run.site}",
        before={"maintainer": result.maintainer},
        after={"run": run_id, "maintainer": handover.maintainer_id, "from": at.isoformat(),
               "handover": handover.id},
        at=now,
    )  # fmt: skip
    return run, handover.id
