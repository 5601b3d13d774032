"""The reports people print and sign: the acceptance committee's (竣工验收报告) and the
leading group's monthly progress per subdistrict (月度进展报告), as HTML, PDF (WeasyPrint) and,
for the monthly figures, CSV; Chinese by default, English with ``lang="en"``. docs/contract.md
("Reports") defines every figure."""

from streetlight.reports._acceptance import acceptance_html, acceptance_pdf
from streetlight.reports._messages import LANGS, Lang
from streetlight.reports._monthly import (
    COLUMNS,
    Month,
    MonthlyReport,
    MonthlyRow,
    NightRate,
    monthly_csv,
    monthly_html,
    monthly_pdf,
    row_record,
)
from streetlight.reports._monthly_data import monthly_report
from streetlight.reports._render import ReportError, to_pdf

__all__ = [
    "COLUMNS",
    "LANGS",
    "Lang",
    "Month",
    "MonthlyReport",
    "MonthlyRow",
    "NightRate",
    "ReportError",
    "acceptance_html",
    "acceptance_pdf",
    "monthly_csv",
    "monthly_html",
    "monthly_pdf",
    "monthly_report",
    "row_record",
    "to_pdf",
]
