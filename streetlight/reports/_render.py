"""HTML from the package's templates, and PDF from that HTML with WeasyPrint.

The templates (`templates/`) are Jinja2 with autoescaping: every value a report prints comes
from the store, InfluxDB or a user (site names, notes), so none is trusted as markup. The
print stylesheet is inlined into each page, so the HTML a browser downloads from the API
looks like the PDF, and WeasyPrint needs no base URL: a report fetches nothing.

WeasyPrint lays text out with Pango, which finds fonts through fontconfig: the stylesheet asks
for Noto Sans CJK (Debian's `fonts-noto-cjk`, installed by `streetlight services install`),
so Chinese renders as text a reader can copy and `pdftotext` can read back.
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, StrictUndefined, select_autoescape
from jinja2.loaders import FunctionLoader

from streetlight.errors import StreetlightError
from streetlight.reports._messages import Lang, Tr

logger = logging.getLogger(__name__)


class ReportError(StreetlightError):
    """A report cannot be made: bad input (`field` names it, e.g. ``month``) or no data."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _template_source(name: str) -> str:
    return (files("streetlight.reports") / "templates" / name).read_text(encoding="utf-8")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FunctionLoader(_template_source),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name in a template fails its test, not a page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["pct"] = percent
    env.filters["figure"] = figure
    env.filters["css_string"] = css_string
    return env


def render(template: str, lang: Lang, **context: Any) -> str:
    """The template filled in, with `t` (the catalogue in `lang`) and the stylesheet."""
    env = _environment()
    css = _template_source("report.css")
    t = Tr(lang)
    return env.get_template(template).render(
        lang=lang, t=t, css=css, page_content=page_content(t), **context
    )


def page_content(t: Tr) -> str:
    """The page-number phrase as a CSS `content` value, with WeasyPrint's page counters where
    the catalogue has {page} and {pages}:
    ``"第 " counter(page) " 页，共 " counter(pages) " 页"``."""
    text = t("page", page="\x00page\x00", pages="\x00pages\x00")
    parts = []
    for i, piece in enumerate(text.split("\x00")):
        if i % 2:
            parts.append(f"counter({piece})")
        elif piece:
            parts.append(f'"{css_string(piece)}"')
    return " ".join(parts)


def to_pdf(html: str) -> bytes:
    """The HTML as a PDF (A4, as its stylesheet says). CPU-bound for a second or so: callers
    in an event loop run it in a thread."""
    from weasyprint import HTML  # noqa: PLC0415 - loads Pango; only where a PDF is made

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


def number(value: object, digits: int = 1) -> str:
    """A figure for a table: integers as they are (with thousands separators), floats to
    `digits` places; missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def figure(value: object) -> str:
    """A figure as read aloud: floats to at most 2 places, without trailing zeros (96, 95.83)."""
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return number(value)


def percent(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}%"


def css_string(text: str) -> str:
    """`text` as a CSS string literal's content (for `content:` in the page margins)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
