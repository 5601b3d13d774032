"""What every dashboard builder shares: languages, the measurements' names, panel defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards._influxql import DATASOURCE
from streetlight.contract import (
    ACCEPTANCE,
    KPI,
    KPI_NIGHT,
    OPEN_ALARM,
    SWITCHING,
    WORK_ORDER,
)
from streetlight.contract.influx_schema import ALARM, RAW_POLICY

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

# FROM clauses: the KPI measurements with their retention policies (docs/contract.md)
FROM_KPI = KPI.qualified
FROM_NIGHT = KPI_NIGHT.qualified
FROM_SWITCHING = SWITCHING.qualified
FROM_ACCEPTANCE = ACCEPTANCE.qualified
FROM_OPEN_ALARM = OPEN_ALARM.qualified
FROM_WORK_ORDER = WORK_ORDER.qualified
FROM_ALARM = f'"{RAW_POLICY}"."{ALARM.name}"'

BASE_THRESHOLD = -1e300  # "below every step": what Grafana's -Infinity base means

KPI_MARK = "5m"  # the cadence of `kpi` points (docs/contract.md)

# a state measurement's newest point per series lies within one KPI mark (300 s) of now
STATE_WINDOW = "time > now() - 15m"


@dataclass(frozen=True, slots=True)
class Tr:
    """The dashboards' language: ``t("亮灯率", "Lighting rate")`` is the one it speaks."""

    lang: Lang

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.lang == "zh" else en

    @property
    def uid_suffix(self) -> str:
        """Chinese is the default set; the English set's uids end in ``-en``."""
        return "" if self.lang == "zh" else "-en"


def new_dashboard(t: Tr, uid: str, zh: str, en: str, *, time_from: str) -> dash.Dashboard:
    """A dashboard with the project's defaults: tags, the browser's time zone (the users'),
    a refresh of one minute (the KPIs come every five)."""
    return (
        dash.Dashboard(t(zh, en))
        .uid(f"streetlight-{uid}{t.uid_suffix}")
        .tags(["streetlight", t("路灯", "street lighting")])
        .timezone("browser")
        .time(time_from, "now")
        .refresh("1m")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )


def thresholds(base: str, *steps: tuple[float, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds: ``thresholds("red", (95, "green"))`` is red below 95.

    Grafana takes the first step as the base whatever its value (it stores -Infinity there,
    as null); the 11.3 schema wants a number, so the base step carries the lowest float."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                model.Threshold(value=BASE_THRESHOLD, color=base),
                *(model.Threshold(value=value, color=color) for value, color in steps),
            ]
        )
    )


def legend() -> common_builders.VizLegendOptions:
    """A legend below the chart, as a list (the SDK's bar chart hides it by default)."""
    return (
        common_builders.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
    )


def value_text(mapping: dict[str, tuple[str, str]]) -> list[model.ValueMapping]:
    """Values shown as words in colours: ``{"true": ("通过", "green")}``."""
    return [
        model.ValueMap(
            options={
                value: model.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, (text, color)) in enumerate(mapping.items())
            }
        )
    ]


def datetime_columns(panel: table.Panel, *names: str) -> table.Panel:
    """`panel` showing its epoch-millisecond columns `names` as date and time: Grafana's
    "convert field type" transformation makes them time fields. (A `unit` override would say
    the same, but the 11.3 schema takes only objects as override values.)"""
    return panel.with_transformation(
        model.DataTransformerConfig(
            id_val="convertFieldType",
            options={
                "conversions": [{"targetField": name, "destinationType": "time"} for name in names],
                "fields": {},
            },
        )
    )


def by_names(*names: str) -> model.MatcherConfig:
    """The fields named so (Grafana's `byNames` matcher, whose options are an object)."""
    return model.MatcherConfig(id_val="byNames", options={"mode": "include", "names": list(names)})


COLOUR_CELLS = model.DynamicConfigValue(
    id_val="custom.cellOptions", value={"type": "color-background"}
)


__all__ = ["DATASOURCE"]
