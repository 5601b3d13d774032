"""The report the acceptance committee signs (竣工验收报告): a site's result over its window of
nights, from the fixed model (streetlight.acceptance.model), in Chinese or English.

It holds what the committee needs to decide and sign: the site and its window, the overall
verdict, each criterion with its threshold, figures and verdict, the nights as charts
(lighting rate against target; switch times against plan), every exception with its lamp and
night, and the signature lines of the four units the programme names.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from streetlight.acceptance.model import AcceptanceResult, CriterionResult, Finding, Verdict
from streetlight.reports._charts import rate_chart, switch_chart
from streetlight.reports._messages import FINDING_ZH_GENERIC, FINDINGS_ZH, Lang, Tr
from streetlight.reports._render import figure, render, to_pdf

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")  # China's one time zone, where no district says
MAX_FINDINGS = 300  # listed in the report; the stored run keeps them all
SIGNERS = ("construction", "supervision", "subdistrict", "maintainer")


@dataclass(frozen=True, slots=True)
class _CriterionRow:
    number: int
    name: str
    threshold: str
    figures: str
    passed: bool


@dataclass(frozen=True, slots=True)
class _FindingRow:
    number: int
    criterion: int
    asset: str
    night: str
    seen: str
    limit: str
    text: str


def _values(t: Tr, values: dict[str, float | int | str | None] | dict[str, float | str]) -> str:
    return "；".join(f"{t.label(k)} {figure(v)}" for k, v in values.items()) or "—"


def _criterion_row(t: Tr, criterion: CriterionResult) -> _CriterionRow:
    sep = "；" if t.lang == "zh" else "; "
    return _CriterionRow(
        number=criterion.criterion.number,
        name=t(f"crit.{criterion.criterion.value}"),
        threshold=_values(t, criterion.threshold).replace("；", sep),
        figures=_values(t, criterion.figures).replace("；", sep),
        passed=criterion.verdict is Verdict.PASS,
    )


def _worded(t: Tr, finding: Finding) -> str:
    """The finding's sentence: its own (English) `detail`, or Chinese from its key."""
    if t.lang == "en":
        return finding.detail
    template = FINDINGS_ZH.get(finding.key, FINDING_ZH_GENERIC)
    return template.format(
        criterion=t(f"crit.{finding.criterion.value}"),
        asset=t.asset(finding.asset),
        night=t.day(finding.night),
        seen=figure(finding.seen),
        limit=figure(finding.limit),
    )


def _finding_rows(t: Tr, findings: list[Finding]) -> list[_FindingRow]:
    return [
        _FindingRow(
            number=index + 1,
            criterion=f.criterion.number,
            asset=t.asset(f.asset),
            night=t.day(f.night),
            seen=figure(f.seen),
            limit=figure(f.limit),
            text=_worded(t, f),
        )
        for index, f in enumerate(findings[:MAX_FINDINGS])
    ]


def _charts(t: Tr, result: AcceptanceResult, tz: ZoneInfo) -> tuple[str, str] | None:
    if not result.nights:
        return None
    nights = [n.night for n in result.nights]
    rate = rate_chart(t, nights, [n.lighting_rate_pct for n in result.nights],
                      [n.lighting_target_pct for n in result.nights])  # fmt: skip
    switch = switch_chart(
        t,
        nights,
        [(n.on_plan_ms, n.on_median_ms, n.on_latest_ms) for n in result.nights],
        [(n.off_plan_ms, n.off_median_ms, n.off_latest_ms) for n in result.nights],
        tz,
    )
    return rate, switch


def acceptance_html(
    result: AcceptanceResult,
    lang: Lang = "zh",
    *,
    tz: ZoneInfo = DEFAULT_TZ,
    note: str | None = None,
) -> str:
    """The committee's report as one HTML page (stylesheet and charts inline). `tz` is the
    district's, for the switch times; `note` is printed under the window (e.g. a demo's
    shorter window)."""
    t = Tr(lang)
    findings = result.findings
    nights = (result.last_night - result.first_night).days + 1
    window = (
        f"{t.day(result.first_night)} – {t.day(result.last_night)}（{t('nights_n', n=nights)}）"
    )
    if lang == "en":
        window = window.replace("（", " (").replace("）", ")")
    return render(
        "acceptance.html",
        lang,
        title=t("acc.title"),
        subtitle=t("acc.subtitle"),
        head_left=f"{result.subdistrict} · {result.site_name}",
        head_right=t.day(result.computed_at.astimezone(tz).date()),
        result=result,
        road_class=t.road(result.road_class),
        window=window,
        computed_at=result.computed_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        passed=result.verdict is Verdict.PASS,
        criteria=[_criterion_row(t, c) for c in result.criteria],
        charts=_charts(t, result, tz),
        findings=_finding_rows(t, findings),
        more=max(0, len(findings) - MAX_FINDINGS),
        signers=[f"unit.{s}" for s in SIGNERS],
        note=note,
    )


def acceptance_pdf(
    result: AcceptanceResult,
    lang: Lang = "zh",
    *,
    tz: ZoneInfo = DEFAULT_TZ,
    note: str | None = None,
) -> bytes:
    """The committee's report as a PDF (A4)."""
    return to_pdf(acceptance_html(result, lang, tz=tz, note=note))
