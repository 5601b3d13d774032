"""Handover acceptance of a site (竣工验收): five criteria over a window of nights, each with its
evidence. The model (what a result holds) is fixed here so the evaluation and the report can be
built against it; docs/contract.md ("Acceptance") says how each criterion is judged."""

from streetlight.acceptance.model import (
    AcceptanceResult,
    CriterionKey,
    CriterionResult,
    Finding,
    NightSeries,
    Verdict,
    from_json,
    to_json,
    to_plain,
)

__all__ = [
    "AcceptanceResult",
    "CriterionKey",
    "CriterionResult",
    "Finding",
    "NightSeries",
    "Verdict",
    "from_json",
    "to_json",
    "to_plain",
]
