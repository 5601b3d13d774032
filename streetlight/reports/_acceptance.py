"""The report the acceptance committee signs (竣工验收报告): a site's result over its window of
nights, from the fixed model (streetlight.acceptance.model), in Chinese or English.

It holds what the committee needs to decide and sign: the site and its window, the overall
verdict, each criterion with its threshold, figures and verdict, the nights as charts
(lighting rate against target; switch times against plan), every exception with its lamp and
night, and the signature lines of the four units the programme names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from streetlight.acceptance.model import AcceptanceResult, CriterionResult, Finding, Verdict
from streetlight.reports._charts import rate_chart, switch_chart
from streetlight.reports._messages import FINDING_ZH_GENERIC, FINDINGS_ZH, Lang, Tr
from streetlight.reports._render import figure, render, to_pdf

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


def _shown(t: Tr, value: float | str | None, tz: ZoneInfo) -> str:
    """A finding's seen or limit as read: a moment (ISO 8601) in the district's time, a word
    (a state) in the report's language, a figure."""
    if isinstance(value, str):
        if "T" in value:
            try:
                return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")
            except ValueError:
                pass  # not a moment: shown as a word
        return t.word(value)
    return figure(value)


def _worded(t: Tr, finding: Finding, tz: ZoneInfo) -> str:
    """The finding's sentence: its own (English) `detail`, or Chinese from its key."""
    if t.lang == "en":
        return finding.detail
    template = FINDINGS_ZH.get(finding.key, FINDING_ZH_GENERIC)
    seen = finding.seen
    return template.format(
        criterion=t(f"crit.{finding.criterion.value}"),
        asset=t.asset(finding.asset),
        night=t.day(finding.night),
        seen=_shown(t, seen, tz),
        limit=_shown(t, finding.limit, tz),
        minutes=figure(abs(seen)) if isinstance(seen, int | float) else _shown(t, seen, tz),
    )


def _finding_rows(t: Tr, findings: list[Finding], tz: ZoneInfo) -> list[_FindingRow]:
    return [
        _FindingRow(
            number=index + 1,
            criterion=f.criterion.number,
            asset=t.asset(f.asset),
            night=t.day(f.night),
            seen=_shown(t, f.seen, tz),
            limit=_shown(t, f.limit, tz),
            text=_worded(t, f, tz),
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


def acceptance_html(result: AcceptanceResult, lang: Lang = "zh", *, note: str | None = None) -> str:
    """The committee's report as one HTML page (stylesheet and charts inline), its times in
    the result's zone (the district's); `note` is printed under the window (e.g. a demo's
    shorter window)."""
    t = Tr(lang)
    tz = result.zone
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
        findings=_finding_rows(t, findings, tz),
        more=max(0, len(findings) - MAX_FINDINGS),
        signers=[f"unit.{s}" for s in SIGNERS],
        note=note,
    )


def acceptance_pdf(
    result: AcceptanceResult, lang: Lang = "zh", *, note: str | None = None
) -> bytes:
    """The committee's report as a PDF (A4)."""
    return to_pdf(acceptance_html(result, lang, note=note))
