"""A run's verdicts as `acceptance` points, which the Grafana acceptance dashboard reads
(docs/contract.md, "KPI measurements"): one point per criterion and one `overall`, stamped at
the window's end (noon after its last night, local), so a re-run of the same window overwrites
the points of the one before."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from streetlight.acceptance.model import (
    AcceptanceResult,
    CriterionKey,
    CriterionResult,
    FigureName,
    Verdict,
)
from streetlight.contract.influx_schema import ACCEPTANCE
from streetlight.influx import InfluxClient, InfluxError
from streetlight.influx.line_protocol import FieldValue, series_key

logger = logging.getLogger(__name__)

EVIDENCE_FINDINGS = 5  # the first exceptions a point carries; the stored result has them all

# each criterion's tag, the figure judged against its threshold, and their unit
_JUDGED: dict[CriterionKey, tuple[str, FigureName | None, FigureName, str]] = {
    CriterionKey.COMPLETE: (
        "lamps_complete", FigureName.REPORTING_PCT, FigureName.REPORTING_PCT, "%"
    ),
    CriterionKey.LIGHTING_RATE: (
        "lighting_rate", FigureName.WORST_RATE_PCT, FigureName.TARGET_PCT, "%"
    ),
    CriterionKey.SWITCH_TIMES: (
        "switch_times", FigureName.MAX_DELAY_MIN, FigureName.TOLERANCE_MIN, "min"
    ),
    CriterionKey.ENERGY: (
        "energy_per_lamp", FigureName.MAX_DEVIATION_PCT, FigureName.TOLERANCE_PCT, "%"
    ),
    CriterionKey.FAULTS_CLOSED: ("faults_closed", None, FigureName.OPEN_AT_END, "faults"),
}  # fmt: skip


def window_end(result: AcceptanceResult) -> datetime:
    """Noon, local, after the window's last night: when the window ends."""
    noon = datetime.combine(result.last_night + timedelta(days=1), time(12))
    return noon.replace(tzinfo=ZoneInfo(result.timezone))


Fields = dict[str, FieldValue | None]


def _number(value: float | int | str | None) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _fields(criterion: CriterionResult) -> Fields:
    _tag, figure, threshold, unit = _JUDGED[criterion.criterion]
    # faults_closed judges a count: the faults open at the end or closed late, its findings
    value = len(criterion.findings) if figure is None else criterion.figures.get(figure)
    fields: Fields = {
        "passed": criterion.verdict is Verdict.PASS,
        "value": _number(value),
        "threshold": _number(criterion.threshold.get(threshold)),
        "unit": unit,
        "failures": len(criterion.findings),
        "evidence": "; ".join(f.detail for f in criterion.findings[:EVIDENCE_FINDINGS]),
    }
    if criterion.criterion is CriterionKey.COMPLETE:
        for name in ("planned", "installed", "registered", "reporting"):
            fields[f"lamps_{name}"] = criterion.figures.get(name)
    return fields


def acceptance_lines(result: AcceptanceResult) -> list[str]:
    """The run's points, as line protocol for the `kpi` retention policy."""
    time_ns = int(window_end(result).timestamp()) * 1_000_000_000
    common: Fields = {
        "run_id": result.run_id,
        "window_from": result.first_night.isoformat(),
        "window_to": result.last_night.isoformat(),
        "nights": (result.last_night - result.first_night).days + 1,
    }
    tags = {"site": result.site, "subdistrict": result.subdistrict}
    lines = []
    for criterion in result.criteria:
        tag = _JUDGED[criterion.criterion][0]
        fields = _fields(criterion) | common
        series = series_key(ACCEPTANCE.name, tags | {"criterion": tag})
        lines.append(ACCEPTANCE.encode(series, fields, time_ns))
    overall: Fields = {
        "passed": result.verdict is Verdict.PASS,
        "failures": len(result.findings),
        "evidence": "; ".join(f.detail for f in result.findings[:EVIDENCE_FINDINGS]),
    }
    series = series_key(ACCEPTANCE.name, tags | {"criterion": "overall"})
    lines.append(ACCEPTANCE.encode(series, overall | common, time_ns))
    return lines


async def write_points(influx: InfluxClient, result: AcceptanceResult) -> bool:
    """Write the run's points; False, logged, when InfluxDB does not take them: the run is
    stored already, and the dashboard only lacks it until the next run."""
    try:
        await influx.write_lines(
            acceptance_lines(result), retention_policy=ACCEPTANCE.retention_policy
        )
    except InfluxError as exc:
        logger.warning(
            "acceptance run %s: its dashboard points not written: %s", result.run_id, exc
        )
        return False
    return True
