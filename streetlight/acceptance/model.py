"""What a handover acceptance (竣工验收 → 移交接管) decides and shows: the verdict of each
criterion over a site's window of nights, the findings that failed it (a lamp, a night), and the
series the committee's report draws. The evaluation (streetlight/acceptance) makes it; the store
keeps it with the inputs it was computed from; the report (streetlight/reports) renders it.

Every value is plain data (str, int, float, bool, date, datetime, lists and dicts of them), so a
result goes to JSON and back (`to_json`, `from_json`) without loss: a stored result is the
report a later reader sees, and re-running the evaluation on the stored inputs gives it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import TypeAdapter


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"


class CriterionKey(StrEnum):
    """The five criteria, in the order the issue and the report number them (1 to 5)."""

    COMPLETE = "complete"  # every planned lamp installed, registered and reporting
    LIGHTING_RATE = "lighting_rate"  # the nightly lighting rate at or above the target
    SWITCH_TIMES = "switch_times"  # lamps switched within tolerance of the plan, every night
    ENERGY = "energy"  # energy per lamp within tolerance of rated at each dim level
    FAULTS_CLOSED = "faults_closed"  # no open fault at the end; every fault closed in time

    @property
    def number(self) -> int:
        return list(CriterionKey).index(self) + 1


class FindingKind(StrEnum):
    """What a finding is about: the evaluation's only keys, and the catalogue the report words
    them from (streetlight/reports/_messages.py `FINDINGS_ZH` has a sentence for each). What
    `seen` and `limit` hold depends on the kind (docs/contract.md, "Acceptance")."""

    # 1. complete
    NOT_INSTALLED = "not_installed"  # seen: the lamp's status; limit: "installed"
    NOT_REGISTERED = "not_registered"  # neither
    NOT_REPORTING = "not_reporting"  # the night it sent nothing; seen 0, limit 1 (reports)
    # 2. lighting rate
    NO_RATE = "no_rate"  # the site's night with nothing due lit; limit: the target %
    NIGHT_BELOW_TARGET = "night_below_target"  # seen: the night's rate %; limit: the target %
    DARK = "dark"  # a lamp of a night below: seen its lit % of due samples; limit 100
    # 3. switch times: seen the delay in minutes (negative: early); limit the tolerance
    NEVER_ON = "never_on"  # seen None
    NEVER_OFF = "never_off"
    LATE_ON = "late_on"
    EARLY_ON = "early_on"
    LATE_OFF = "late_off"
    EARLY_OFF = "early_off"
    # 4. energy: seen the mean W at a dim level; limit the rated curve's W there
    ENERGY_HIGH = "energy_high"
    ENERGY_LOW = "energy_low"
    # 5. faults closed
    OPEN_ALARM = "open_alarm"  # seen: the alarm's id; night: when it was raised
    OPEN_ORDER = "open_order"  # seen: the order's state; limit "closed"; night: when opened
    CLOSED_LATE = "closed_late"  # seen: when it closed; limit: its deadline (ISO 8601)


class FigureName(StrEnum):
    """The names of a criterion's thresholds and figures (`CriterionResult.threshold`,
    `.figures`): the evaluation's only ones, each with its label in the report's catalogue."""

    # 1. complete
    PLANNED = "planned"
    INSTALLED = "installed"
    REGISTERED = "registered"
    REPORTING = "reporting"
    REPORTING_PCT = "reporting_pct"  # also the threshold
    # 2. lighting rate
    TARGET_PCT = "target_pct"  # the threshold
    WORST_RATE_PCT = "worst_rate_pct"
    WORST_NIGHT = "worst_night"
    NIGHTS = "nights"
    NIGHTS_BELOW_TARGET = "nights_below_target"
    # 3. switch times
    TOLERANCE_MIN = "tolerance_min"  # the threshold
    MAX_DELAY_MIN = "max_delay_min"
    SWITCHES_JUDGED = "switches_judged"
    LAMPS_OUTSIDE = "lamps_outside"
    # 4. energy
    TOLERANCE_PCT = "tolerance_pct"  # the threshold
    MAX_DEVIATION_PCT = "max_deviation_pct"
    LEVELS_JUDGED = "levels_judged"
    # 5. faults closed
    OPEN_AT_END = "open_at_end"  # the threshold
    ALARMS_OPEN_AT_END = "alarms_open_at_end"
    WORK_ORDERS = "work_orders"
    CLOSED_IN_TIME = "closed_in_time"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that failed a criterion: the lamp (or other asset) and the night it is about,
    where it is about one (`None` where not: a lamp never installed has no night), what was
    seen against the limit, and a sentence for the report (English; the report words its own
    Chinese from `key` and the values)."""

    criterion: CriterionKey
    key: str  # a FindingKind's value (a str, so a stored result with another still reads)
    asset: str | None  # "lamp:PP-S04-L003", "site:PP-S04", ...
    night: date | None  # the evening's date of the night (a night runs noon to noon, local)
    seen: float | str | None
    limit: float | str | None
    detail: str


@dataclass(frozen=True, slots=True)
class CriterionResult:
    criterion: CriterionKey
    verdict: Verdict
    threshold: dict[str, float | str]  # the configured limits it was judged by (FigureName)
    figures: dict[str, float | int | str | None]  # its headline figures (FigureName), e.g. the
    # worst night's rate
    findings: list[Finding] = field(default_factory=list)  # empty when it passes


@dataclass(frozen=True, slots=True)
class NightSeries:
    """One night of the site, for the report's charts: the lighting rate against its target,
    and the switch times (epoch ms) the plan set against those seen (median, and the latest
    lamp's)."""

    night: date
    lighting_rate_pct: float | None
    lighting_target_pct: float | None
    on_plan_ms: int | None
    on_median_ms: int | None
    on_latest_ms: int | None
    off_plan_ms: int | None
    off_median_ms: int | None
    off_latest_ms: int | None


@dataclass(frozen=True, slots=True)
class AcceptanceResult:
    """A site's acceptance over the nights `first_night` to `last_night` (evening dates,
    inclusive). `verdict` passes only when every criterion passes."""

    run_id: str
    site: str
    site_name: str
    subdistrict: str
    community: str
    project: str | None
    maintainer: str | None  # who maintains the site now (before any handover this run drives)
    road_class: str
    lamps: int  # lamps of the site's plan (planned or installed)
    first_night: date
    last_night: date
    computed_at: datetime
    verdict: Verdict
    criteria: list[CriterionResult]
    nights: list[NightSeries]
    inputs_sha256: str  # of the stored inputs: the same inputs give the same result
    # the district's IANA zone, which the nights and the report's times are in; a result
    # stored before it was kept reads as UTC here (`runs.stored_result` takes its inputs')
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone: unknown time zone {self.timezone!r} (an IANA name, e.g. Asia/Shanghai)"
            ) from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def criterion(self, key: CriterionKey) -> CriterionResult:
        return next(c for c in self.criteria if c.criterion is key)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.criteria for f in c.findings]


_ADAPTER: TypeAdapter[AcceptanceResult] = TypeAdapter(AcceptanceResult)


def to_json(result: AcceptanceResult) -> bytes:
    return _ADAPTER.dump_json(result)


def from_json(data: bytes | str) -> AcceptanceResult:
    return _ADAPTER.validate_json(data)


def to_plain(result: AcceptanceResult) -> dict[str, Any]:
    """The result as JSON-ready dicts (dates as ISO strings), as the API answers it."""
    plain: dict[str, Any] = orjson.loads(to_json(result))
    return plain
