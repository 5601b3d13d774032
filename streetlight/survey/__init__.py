"""The renovation programme's survey (调查摸底): per site, community and subdistrict the lamps
planned, installed, registered and reporting; and the roads without lamps (有路无灯).
docs/contract.md ("Survey") defines each figure."""

from streetlight.survey._counts import (
    COLUMNS,
    SurveyCount,
    counts_csv,
    registered_lamps,
    survey_counts,
)
from streetlight.survey._gaps import (
    MIN_STRETCH_M,
    SITE_COLUMNS,
    DarkStretch,
    GapReport,
    SiteGaps,
    find_gaps,
    gap_report,
    gaps_geojson,
    local_projection,
    site_rows,
    sites_csv,
)
from streetlight.survey._sources import SurveyError, count_survey, reporting_lamps

__all__ = [
    "COLUMNS",
    "MIN_STRETCH_M",
    "SITE_COLUMNS",
    "DarkStretch",
    "GapReport",
    "SiteGaps",
    "SurveyCount",
    "SurveyError",
    "count_survey",
    "counts_csv",
    "find_gaps",
    "gap_report",
    "gaps_geojson",
    "local_projection",
    "registered_lamps",
    "reporting_lamps",
    "site_rows",
    "sites_csv",
    "survey_counts",
]
