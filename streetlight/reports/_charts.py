"""The reports' charts, drawn with matplotlib's Agg backend (no display, no pyplot: each chart
is its own Figure, so threads drawing at once do not share state) and embedded as SVG data
URIs, with their text as outlines: the PDF shows them the same wherever it is opened.

Chinese labels need a CJK font: fontconfig names the one Pango uses for the page
(`fc-match "Noto Sans CJK SC"`), and matplotlib is given that file. Without one the charts are
still drawn, in matplotlib's own font, and a warning says so.
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.ticker import FuncFormatter, MaxNLocator

from streetlight.reports._messages import Tr

logger = logging.getLogger(__name__)

CJK_FAMILY = "Noto Sans CJK SC"
WIDTH_IN, HEIGHT_IN = 7.0, 2.8
COLOURS = ("#1d3557", "#e76f51", "#2a9d8f", "#f4a261", "#6a4c93", "#8ab17d", "#264653")
PASS, FAIL = "#2a9d8f", "#b00020"
_font_lock = threading.Lock()


@cache
def _cjk_font() -> str | None:
    """The family name matplotlib knows the CJK font by, after adding fontconfig's file."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        logger.warning("no fc-match (Debian fontconfig): charts' Chinese labels may not render")
        return None
    found = subprocess.run(  # noqa: S603 - fontconfig's own program, fixed arguments
        [fc_match, "-f", "%{file}", f"{CJK_FAMILY}:lang=zh-cn"],
        capture_output=True, text=True, check=False, timeout=10,
    )  # fmt: skip
    path = Path(found.stdout.strip())
    if found.returncode != 0 or not path.is_file() or "CJK" not in path.name:
        logger.warning("fontconfig has no %s (Debian fonts-noto-cjk): charts' Chinese labels "
                       "may not render", CJK_FAMILY)  # fmt: skip
        return None
    with _font_lock:
        fontManager.addfont(str(path))
    return FontProperties(fname=str(path)).get_name()


def _figure(height_in: float = HEIGHT_IN) -> Figure:
    return Figure(figsize=(WIDTH_IN, height_in), dpi=100, layout="constrained")


def _fonts(figure: Figure) -> None:
    """Every text of the figure in the CJK font (it has Latin letters and digits too)."""
    family = _cjk_font()
    if family is None:
        return
    for text in figure.findobj(lambda artist: hasattr(artist, "set_fontfamily")):
        text.set_fontfamily([family, "DejaVu Sans"])  # type: ignore[attr-defined]


def svg_uri(figure: Figure) -> str:
    _fonts(figure)
    out = io.BytesIO()
    figure.savefig(out, format="svg", metadata={"Date": None})  # reproducible bytes
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


def rate_chart(
    t: Tr,
    nights: Sequence[date],
    rates: Sequence[float | None],
    targets: Sequence[float | None],
) -> str:
    """Bars of the nightly lighting rate, red where below that night's target (a step line)."""
    figure = _figure()
    axes = figure.add_subplot()
    xs = list(range(len(nights)))
    shown = [r if r is not None else 0.0 for r in rates]
    colours = [
        FAIL if r is not None and g is not None and r < g else PASS
        for r, g in zip(rates, targets, strict=True)
    ]
    axes.bar(xs, shown, color=colours, width=0.6, label=t("chart.rate"))
    axes.step(xs, [g if g is not None else float("nan") for g in targets], where="mid",
              color="#333", linestyle="--", linewidth=1.2, label=t("chart.target"))  # fmt: skip
    present = [v for v in [*rates, *targets] if v is not None]
    low = min(present, default=90.0)
    axes.set_ylim(max(0.0, min(90.0, low - 2.0)), 100.5)
    axes.set_xticks(xs, [f"{n.month}-{n.day}" for n in nights], fontsize=8)
    axes.set_ylabel(t("chart.rate"))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return svg_uri(figure)


def _minutes(ms: int | None, tz: ZoneInfo, evening: bool) -> float:
    """A switch time as minutes after midnight, local; a switch-on after midnight counts on
    past 24:00, so a very late one is drawn above the evening's, not below."""
    if ms is None:
        return float("nan")
    moment = datetime.fromtimestamp(ms / 1000, tz)
    minutes = moment.hour * 60 + moment.minute + moment.second / 60
    return minutes + 24 * 60 if evening and minutes < 12 * 60 else minutes


def _clock(value: float, _position: object) -> str:
    value %= 24 * 60
    return f"{int(value // 60):02d}:{int(value % 60):02d}"


def switch_chart(
    t: Tr,
    nights: Sequence[date],
    on: Sequence[tuple[int | None, int | None, int | None]],
    off: Sequence[tuple[int | None, int | None, int | None]],
    tz: ZoneInfo,
) -> str:
    """Two panels, switch-on and switch-off: each night's planned time, the lamps' median and
    the latest lamp's, as local times of day."""
    figure = _figure(HEIGHT_IN * 1.1)
    xs = list(range(len(nights)))
    labels = [f"{n.month}-{n.day}" for n in nights]
    for index, (title, times) in enumerate(((t("chart.on"), on), (t("chart.off"), off))):
        axes = figure.add_subplot(1, 2, index + 1)
        for offset, (name, marker, colour) in enumerate(
            ((t("chart.plan"), "_", "#333"), (t("chart.median"), "o", COLOURS[0]),
             (t("chart.latest"), "^", COLOURS[1]))
        ):  # fmt: skip
            ys = [_minutes(row[offset], tz, index == 0) for row in times]
            axes.plot(xs, ys, marker=marker, markersize=9 if offset == 0 else 5,
                      linestyle="-" if offset == 0 else "none", color=colour,
                      linewidth=0.8, label=name)  # fmt: skip
        axes.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # whole minutes
        axes.yaxis.set_major_formatter(FuncFormatter(_clock))
        axes.set_xticks(xs, labels, fontsize=7)
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        axes.margins(y=0.25)
        if index == 1:
            axes.legend(fontsize=7, loc="best")
    return svg_uri(figure)


def nightly_chart(
    t: Tr,
    series: Mapping[str, tuple[str, Sequence[tuple[date, float | None]]]],
    target: float | None,
) -> str:
    """One line per subdistrict (its name, its nights' rates) across the month, and the
    district's target dashed."""
    figure = _figure(HEIGHT_IN * 1.2)
    axes = figure.add_subplot()
    values: list[float] = []
    days: set[date] = set()
    for index, (name, nights) in enumerate(series.values()):
        points = [(n, r) for n, r in nights if r is not None]
        if not points:
            continue
        values += [r for _n, r in points]
        days.update(n for n, _r in points)
        axes.plot([n.day for n, _r in points], [r for _n, r in points], marker="o",
                  markersize=3, linewidth=1.2, color=COLOURS[index % len(COLOURS)],
                  label=name)  # fmt: skip
    if target is not None:
        axes.axhline(target, color="#333", linestyle="--", linewidth=1, label=t("chart.target"))
        values.append(target)
    axes.set_ylim(max(0.0, min(90.0, min(values, default=90.0) - 2.0)), 100.5)
    ticks = sorted(days)[:: max(1, len(days) // 10)]
    axes.set_xticks([d.day for d in ticks], [f"{d.month}-{d.day}" for d in ticks], fontsize=8)
    axes.set_ylabel(t("chart.rate"))
    axes.grid(alpha=0.3)
    if values:
        axes.legend(fontsize=7, loc="lower left", ncols=3)
    return svg_uri(figure)
