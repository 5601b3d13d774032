"""Handover acceptance (移交验收): one site (`$site`) over the acceptance window (the time range):
lamps planned / registered / reporting, the nightly lighting rate against its target, switch
times against the plan, faults raised and closed, and pass/fail per criterion (issue 18)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards._common import (
    COLOUR_CELLS,
    DATASOURCE,
    FROM_ACCEPTANCE,
    FROM_NIGHT,
    FROM_SWITCHING,
    Tr,
    by_names,
    datetime_columns,
    new_dashboard,
    thresholds,
    value_text,
)
from dashboards._influxql import InfluxQL

SITE = "\"scope\" = 'site' AND \"site\" = '$site'"


def build(t: Tr) -> dash.Dashboard:
    return (
        new_dashboard(
            t,
            "acceptance",
            "路灯 · 移交验收",
            "Street lighting · Handover acceptance",
            time_from="now-7d",
        )
        .description(
            t(
                "选择点位，把时间范围设为验收期（例如7晚）。",
                "Choose the site and set the time range to the acceptance window (e.g. 7 nights).",
            )
        )
        .with_variable(
            dash.QueryVariable("site")
            .label(t("点位", "Site"))
            .datasource(DATASOURCE)
            .query(f'SHOW TAG VALUES FROM {FROM_NIGHT} WITH KEY = "site"')
            .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
        )
        .with_panel(_criteria(t))
        .with_panel(_lamp_counts(t))
        .with_panel(_nightly_rate(t))
        .with_panel(_switch_delays(t))
        .with_panel(_switch_times(t))
        .with_panel(_faults(t))
    )


def _criteria(t: Tr) -> table.Panel:
    return (
        table.Panel()
        .title(t("验收结论（逐项）", "Verdict per criterion"))
        .description(
            t(
                "streetlight acceptance run 写入；失败项列出灯和夜",
                "written by streetlight acceptance run; a failure names the lamp and the night",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("passed") AS "{t("结论", "verdict")}", '
                f'last("value") AS "{t("测得", "measured")}", '
                f'last("threshold") AS "{t("要求", "required")}", '
                f'last("unit") AS "{t("单位", "unit")}", '
                f'last("failures") AS "{t("例外数", "exceptions")}", '
                f'last("evidence") AS "{t("证据", "evidence")}" '
                f"FROM {FROM_ACCEPTANCE} WHERE \"site\" = '$site' AND $timeFilter "
                'GROUP BY "criterion"'
            ).table()
        )
        .mappings(
            value_text(
                {"true": (t("通过", "pass"), "green"), "false": (t("不通过", "fail"), "red")}
            )
        )
        .with_override(by_names(t("结论", "verdict")), [COLOUR_CELLS])
        .span(16)
        .height(9)
    )


def _lamp_counts(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(
            t(
                "灯数：计划 / 安装 / 登记 / 上报",
                "Lamps planned / installed / registered / reporting",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("lamps_planned") AS "{t("计划", "planned")}", '
                f'last("lamps_installed") AS "{t("安装", "installed")}", '
                f'last("lamps_registered") AS "{t("登记", "registered")}", '
                f'last("lamps_reporting") AS "{t("每晚上报", "reporting")}" '
                f"FROM {FROM_ACCEPTANCE} WHERE \"site\" = '$site' "
                "AND \"criterion\" = 'lamps_complete' AND $timeFilter"
            )
        )
        .with_target(
            InfluxQL(
                f'SELECT last("lamps") AS "{t("登记（今晚）", "registered (last night)")}", '
                f'last("lamps_reporting") AS "{t("上报（今晚）", "reporting (last night)")}" '
                f"FROM {FROM_NIGHT} WHERE {SITE} AND $timeFilter"
            ).ref_id("B")
        )
        .unit("none")
        .span(8)
        .height(9)
    )


def _nightly_rate(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("每晚亮灯率与目标", "Nightly lighting rate against the target"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT "lighting_rate_pct" AS "{t("亮灯率", "rate")}", '
                f'"lighting_rate_min_pct" AS "{t("最低", "lowest")}", '
                f'"lighting_target_pct" AS "{t("目标", "target")}" '
                f"FROM {FROM_NIGHT} WHERE {SITE} AND $timeFilter"
            )
        )
        .unit("percent")
        .min(80)
        .max(100)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(50)
        .span(12)
        .height(8)
    )


def _switch_delays(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("开关灯偏离计划（分钟）", "Switching against the plan, minutes"))
        .description(
            t(
                "中位数和最大偏差；阈线为±5分钟容差",
                "median and farthest delay; the lines mark the ±5 minute tolerance",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT "on_delay_median_min" AS "{t("开灯中位", "on, median")}", '
                f'"on_delay_max_min" AS "{t("开灯最大", "on, farthest")}", '
                f'"off_delay_median_min" AS "{t("关灯中位", "off, median")}", '
                f'"off_delay_max_min" AS "{t("关灯最大", "off, farthest")}" '
                f"FROM {FROM_SWITCHING} WHERE {SITE} AND $timeFilter"
            )
        )
        .unit("m")
        .thresholds(thresholds("red", (-5.0, "green"), (5.0, "red")))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
        .span(12)
        .height(8)
    )


def _switch_times(t: Tr) -> table.Panel:
    panel = (
        table.Panel()
        .title(t("每晚开关灯时间：计划 / 实际", "Switch times per night: planned / seen"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                'SELECT "on_plan_ms", "on_median_ms", "lamps_on_outside", '
                '"off_plan_ms", "off_median_ms", "lamps_off_outside" '
                f"FROM {FROM_SWITCHING} WHERE {SITE} AND $timeFilter"
            ).table()
        )
        .span(12)
        .height(8)
    )
    return datetime_columns(panel, "on_plan_ms", "on_median_ms", "off_plan_ms", "off_median_ms")


def _faults(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("每晚故障：新增 / 消除 / 工单关闭", "Faults per night: raised / cleared / closed"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT "alarms_raised" AS "{t("告警新增", "alarms raised")}", '
                f'"alarms_cleared" AS "{t("告警消除", "alarms cleared")}", '
                f'"work_orders_closed" AS "{t("工单关闭", "orders closed")}", '
                f'"work_orders_open" AS "{t("工单未关闭", "orders open")}" '
                f"FROM {FROM_NIGHT} WHERE {SITE} AND $timeFilter"
            )
        )
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .span(12)
        .height(8)
    )
