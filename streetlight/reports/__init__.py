"""The reports people print and sign: the acceptance committee's (竣工验收报告) and the
leading group's monthly progress per subdistrict (月度进展报告), as HTML, PDF (WeasyPrint) and,
for the monthly figures, CSV; Chinese by default, English with ``lang="en"``. docs/contract.md
("Reports") defines every figure."""

from streetlight.reports._acceptance import acceptance_html, acceptance_pdf
from streetlight.reports._messages import LANGS, Lang
from streetlight.reports._render import ReportError, to_pdf

__all__ = [
    "LANGS",
    "Lang",
    "ReportError",
    "acceptance_html",
    "acceptance_pdf",
    "to_pdf",
]
