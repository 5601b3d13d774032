"""City overview (城市总览): tonight at a glance, then the subdistricts against their targets."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, stat, table, timeseries
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
    thresholds,
)
from dashboards._influxql import InfluxQL

DISTRICT = "\"scope\" = 'district'"
SUBDISTRICTS = "\"scope\" = 'subdistrict'"
RATE_COLOURS: tuple[tuple[float, str], ...] = ((95.0, "orange"), (98.0, "green"))


def build(t: Tr) -> dash.Dashboard:
    return (
        new_dashboard(
            t, "overview", "路灯 · 城市总览", "Street lighting · City overview", time_from="now-7d"
        )
        .description(
            t(
                "全区与各街道的亮灯率、灯况、能耗和告警（控制器每5分钟、每晚写入的KPI）。",
                "Lighting rate, lamps, energy and alarms of the district and its subdistricts "
                "(the KPIs the controller writes every 5 minutes and every night).",
            )
        )
        .with_row(dash.Row(t("今晚（全区）", "Tonight (district)")))
        .with_panel(_lighting_rate(t))
        .with_panel(_lamps(t))
        .with_panel(_energy_tonight(t))
        .with_panel(_energy_month(t))
        .with_panel(_alarms_by_severity(t))
        .with_row(dash.Row(t("各街道", "Subdistricts")))
        .with_panel(_rate_against_target(t))
        .with_panel(_subdistrict_table(t))
        .with_panel(_nightly_rate(t))
        .with_panel(_rate_tonight(t))
    )


def _lighting_rate(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("亮灯率 / 目标", "Lighting rate / target"))
        .description(t("应亮且亮的灯 ÷ 应亮的灯", "lamps lit of the lamps that should be lit"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("lighting_rate_pct") AS "{t("亮灯率", "rate")}", '
                f'last("lighting_target_pct") AS "{t("目标", "target")}" '
                f"FROM {FROM_KPI} WHERE {DISTRICT} AND $timeFilter"
            )
        )
        .unit("percent")
        .decimals(2)
        .thresholds(thresholds("red", *RATE_COLOURS))
        .span(6)
        .height(5)
    )


def _lamps(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("灯况", "Lamps"))
        .description(
            t(
                "亮：在线且亮；灭：在线且不亮；离线：超过3个上报周期未上报；故障：本灯、回路或控制柜有未消除的故障告警",
                "on: online and lit; off: online and not lit; offline: silent for 3 reporting "
                "intervals; faulty: an open fault alarm on the lamp, its circuit or cabinet",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("lamps_on") AS "{t("亮", "on")}", '
                f'last("lamps_off") AS "{t("灭", "off")}", '
                f'last("lamps") - last("lamps_online") AS "{t("离线", "offline")}", '
                f'last("lamps") - last("lamps_intact") AS "{t("故障", "faulty")}" '
                f"FROM {FROM_KPI} WHERE {DISTRICT} AND $timeFilter"
            )
        )
        .unit("none")
        .span(6)
        .height(5)
    )


def _energy_tonight(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("今晚能耗", "Energy tonight"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("energy_tonight_kwh") AS "kWh" FROM {FROM_KPI} '
                f"WHERE {DISTRICT} AND $timeFilter"
            )
        )
        .unit("kwatth")
        .decimals(1)
        .span(4)
        .height(5)
    )


def _energy_month(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("本月能耗 / 节能", "Energy this month / saved"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("energy_kwh") AS "{t("能耗", "used")}", '
                f'sum("saved_kwh") AS "{t("节能", "saved")}" '
                f"FROM {FROM_NIGHT} WHERE {DISTRICT} AND $timeFilter"
            )
        )
        .time_from("now/M")
        .unit("kwatth")
        .decimals(0)
        .span(4)
        .height(5)
    )


def _alarms_by_severity(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("未消除告警（按级别）", "Open alarms by severity"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("alarms_open_emergency") AS "{t("紧急", "emergency")}", '
                f'last("alarms_open_serious") AS "{t("严重", "serious")}", '
                f'last("alarms_open_ordinary") AS "{t("一般", "ordinary")}" '
                f"FROM {FROM_KPI} WHERE {DISTRICT} AND $timeFilter"
            )
        )
        .unit("none")
        .thresholds(thresholds("green", (1.0, "red")))
        .span(4)
        .height(5)
    )


def _rate_against_target(t: Tr) -> barchart.Panel:
    return (
        barchart.Panel()
        .title(t("各街道亮灯率与目标（最近一晚）", "Lighting rate against target, last night"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("lighting_rate_pct") AS "{t("亮灯率", "rate")}", '
                f'last("lighting_target_pct") AS "{t("目标", "target")}" '
                f'FROM {FROM_NIGHT} WHERE {SUBDISTRICTS} AND $timeFilter GROUP BY "name"'
            ).table()
        )
        .x_field("name")
        .legend(legend())
        .unit("percent")
        .min(80)
        .max(100)
        .show_value(common.VisibilityMode.AUTO)
        .span(12)
        .height(8)
    )


def _subdistrict_table(t: Tr) -> table.Panel:
    return (
        table.Panel()
        .title(t("各街道现状", "Subdistricts now"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("lamps") AS "{t("灯数", "lamps")}", '
                f'last("online_rate_pct") AS "{t("在线率%", "online %")}", '
                f'last("integrity_pct") AS "{t("完好率%", "integrity %")}", '
                f'last("alarms_open") AS "{t("未消除告警", "open alarms")}", '
                f'last("work_orders_overdue") AS "{t("超期工单", "overdue orders")}" '
                f'FROM {FROM_KPI} WHERE {SUBDISTRICTS} AND $timeFilter GROUP BY "name"'
            ).table()
        )
        .decimals(1)
        .span(12)
        .height(8)
    )


def _nightly_rate(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("各街道每晚亮灯率", "Nightly lighting rate per subdistrict"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT "lighting_rate_pct" FROM {FROM_NIGHT} '
                f'WHERE {SUBDISTRICTS} AND $timeFilter GROUP BY "name"'
            ).alias("$tag_name")
        )
        .unit("percent")
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .span(12)
        .height(8)
    )


def _rate_tonight(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("各街道亮灯率（每5分钟）", "Lighting rate per subdistrict, every 5 minutes"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT mean("lighting_rate_pct") FROM {FROM_KPI} '
                f"WHERE {SUBDISTRICTS} AND $timeFilter "
                'GROUP BY time($__interval), "name" fill(none)'
            ).alias("$tag_name")
        )
        .interval(KPI_MARK)  # no finer than the marks: $__interval is at least 5 m
        .unit("percent")
        .span(12)
        .height(8)
    )
