"""Energy (能耗): per subdistrict and site, what dimming and schedules saved, kWh per lamp."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common

from dashboards._common import (
    DATASOURCE,
    FROM_KPI,
    FROM_NIGHT,
    KPI_MARK,
    Tr,
    legend,
    new_dashboard,
)
from dashboards._influxql import InfluxQL
from dashboards.maintenance import IN_SUBDISTRICTS, SUBDISTRICT_KPI, subdistrict_variable

SITES = f"\"scope\" = 'site' AND {IN_SUBDISTRICTS}"


def build(t: Tr) -> dash.Dashboard:
    return (
        new_dashboard(t, "energy", "路灯 · 能耗", "Street lighting · Energy", time_from="now-30d")
        .description(
            t(
                "每晚能耗、调光与按时开关灯的节能（对比全功率从黄昏到黎明），每灯能耗对比额定。",
                "Energy per night, savings from dimming and switching (against full power from "
                "dusk to dawn), energy per lamp against rated.",
            )
        )
        .with_variable(subdistrict_variable(t))
        .with_panel(_totals(t))
        .with_panel(_saved_share(t))
        .with_panel(_power_now(t))
        .with_panel(_per_night(t))
        .with_panel(_savings_per_night(t))
        .with_panel(_per_lamp(t))
        .with_panel(_sites(t))
    )


def _totals(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("能耗 / 节能（所选时段）", "Energy used / saved in the range"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("energy_kwh") AS "{t("能耗", "used")}", '
                f'sum("saved_kwh") AS "{t("节能", "saved")}", '
                f'sum("dimming_saved_kwh") AS "{t("其中调光", "of which dimming")}" '
                f"FROM {FROM_NIGHT} WHERE {SUBDISTRICT_KPI} AND $timeFilter"
            )
        )
        .unit("kwatth")
        .decimals(0)
        .span(10)
        .height(5)
    )


def _saved_share(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("节能率", "Saved"))
        .description(
            t(
                "对比同样的灯全功率从黄昏亮到黎明",
                "against the same lamps at full power from dusk to dawn",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT 100 * sum("saved_kwh") / sum("baseline_kwh") AS "{t("节能率", "saved")}" '
                f"FROM {FROM_NIGHT} WHERE {SUBDISTRICT_KPI} AND $timeFilter"
            )
        )
        .unit("percent")
        .decimals(1)
        .span(4)
        .height(5)
    )


def _power_now(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("功率（近24小时）", "Power, last 24 hours"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT mean("power_w") FROM {FROM_KPI} WHERE {SUBDISTRICT_KPI} AND $timeFilter '
                'GROUP BY time($__interval), "name" fill(none)'
            ).alias("$tag_name")
        )
        .interval(KPI_MARK)  # no finer than the marks: $__interval is at least 5 m
        .time_from("24h")
        .unit("watt")
        .span(10)
        .height(5)
    )


def _per_night(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("各街道每晚能耗", "Energy per night per subdistrict"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT "energy_kwh" FROM {FROM_NIGHT} WHERE {SUBDISTRICT_KPI} AND $timeFilter '
                'GROUP BY "name"'
            ).alias("$tag_name")
        )
        .unit("kwatth")
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .span(12)
        .height(8)
    )


def _savings_per_night(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("每晚节能：调光 / 合计", "Saved per night: by dimming / in all"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("dimming_saved_kwh") AS "{t("调光", "dimming")}", '
                f'sum("saved_kwh") AS "{t("合计", "in all")}", '
                f'sum("energy_kwh") AS "{t("能耗", "used")}" FROM {FROM_NIGHT} '
                f"WHERE {SUBDISTRICT_KPI} AND $timeFilter GROUP BY time(1d) fill(none)"
            )
        )
        .unit("kwatth")
        .span(12)
        .height(8)
    )


def _per_lamp(t: Tr) -> barchart.Panel:
    return (
        barchart.Panel()
        .title(t("每灯能耗对比额定", "kWh per lamp against rated"))
        .description(
            t(
                "额定：额定功率乘以实际亮灯小时",
                "rated: the lamps' rated power for the hours they were lit",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("energy_kwh") / last("lamps") AS "{t("实际", "used")}", '
                f'sum("full_power_kwh") / last("lamps") AS "{t("额定", "rated")}" '
                f'FROM {FROM_NIGHT} WHERE {SUBDISTRICT_KPI} AND $timeFilter GROUP BY "name"'
            ).table()
        )
        .x_field("name")
        .legend(legend())
        .unit("kwatth")
        .decimals(2)
        .span(8)
        .height(9)
    )


def _sites(t: Tr) -> table.Panel:
    return (
        table.Panel()
        .title(t("各点位能耗", "Energy per site"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("lamps") AS "{t("灯数", "lamps")}", '
                f'sum("energy_kwh") AS "{t("能耗kWh", "used kWh")}", '
                f'sum("full_power_kwh") AS "{t("额定kWh", "rated kWh")}", '
                f'sum("baseline_kwh") AS "{t("基准kWh", "baseline kWh")}", '
                f'100 * sum("saved_kwh") / sum("baseline_kwh") AS "{t("节能率%", "saved %")}", '
                f'sum("burning_hours") / last("lamps") AS "{t("每灯亮灯h", "h lit per lamp")}" '
                f'FROM {FROM_NIGHT} WHERE {SITES} AND $timeFilter GROUP BY "site", "name"'
            ).table()
        )
        .decimals(1)
        .span(16)
        .height(9)
    )
