"""Handover acceptance of a site (竣工验收 → 移交接管): five criteria over a window of nights,
each with its evidence, stored with the data it was computed from so a re-run reproduces it.

The model (what a result holds) is fixed in `model` so the evaluation and the report are
built against it; `criteria` (the thresholds and their file), `gather` (the store and
InfluxDB into inputs), `samples` (a lamp's night read from its reports), `evaluate` (pure)
and `runs` (run, re-run, accept: the CLI's and the API's one path). docs/contract.md
("Acceptance") says how each criterion is judged."""

from streetlight.acceptance.criteria import (
    AcceptanceCriteria,
    AcceptanceError,
    Sampling,
    criteria_from,
    load_criteria,
)
from streetlight.acceptance.evaluate import evaluate
from streetlight.acceptance.gather import Window, check_window, gather
from streetlight.acceptance.inputs import AcceptanceInputs, inputs_from_json, inputs_json
from streetlight.acceptance.model import (
    AcceptanceResult,
    CriterionKey,
    CriterionResult,
    FigureName,
    Finding,
    FindingKind,
    NightSeries,
    Verdict,
    from_json,
    to_json,
    to_plain,
)
from streetlight.acceptance.points import acceptance_lines, write_points
from streetlight.acceptance.runs import (
    AcceptanceRefusedError,
    Rerun,
    RunNotFoundError,
    accept_run,
    record_run,
    rerun,
    stored_result,
    stored_run,
)

__all__ = [
    "AcceptanceCriteria",
    "AcceptanceError",
    "AcceptanceInputs",
    "AcceptanceRefusedError",
    "AcceptanceResult",
    "CriterionKey",
    "CriterionResult",
    "FigureName",
    "Finding",
    "FindingKind",
    "NightSeries",
    "Rerun",
    "RunNotFoundError",
    "Sampling",
    "Verdict",
    "Window",
    "accept_run",
    "acceptance_lines",
    "check_window",
    "criteria_from",
    "evaluate",
    "from_json",
    "gather",
    "inputs_from_json",
    "inputs_json",
    "load_criteria",
    "record_run",
    "rerun",
    "stored_result",
    "stored_run",
    "to_json",
    "to_plain",
    "write_points",
]
