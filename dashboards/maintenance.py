"""Maintenance (运维): open alarms by type and site, faulty assets on a map, work orders against
their deadlines, repair times; alarm events as annotations."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import geomap, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import geomap as geomap_model

from dashboards._common import (
    COLOUR_CELLS,
    DATASOURCE,
    FROM_ALARM,
    FROM_KPI,
    FROM_NIGHT,
    FROM_OPEN_ALARM,
    FROM_WORK_ORDER,
    STATE_WINDOW,
    Tr,
    by_names,
    datetime_columns,
    new_dashboard,
    thresholds,
)
from dashboards._influxql import InfluxAnnotation, InfluxQL

IN_SUBDISTRICTS = '"subdistrict" =~ /^$subdistrict$/'
SUBDISTRICT_KPI = f"\"scope\" = 'subdistrict' AND {IN_SUBDISTRICTS}"
MAP_ZOOM = 14  # at most this close when the map fits itself to the faults (a few streets)


def build(t: Tr) -> dash.Dashboard:
    return (
        new_dashboard(
            t, "maintenance", "路灯 · 运维", "Street lighting · Maintenance", time_from="now-24h"
        )
        .description(
            t(
                "未消除的告警、故障位置、工单期限与修复时间；告警事件标注在时间轴上。",
                "Open alarms, where the faults are, work orders against their deadlines and "
                "repair times; alarm events are marked on the time axes.",
            )
        )
        .with_variable(subdistrict_variable(t))
        .annotation(_alarm_events(t))
        .with_row(dash.Row(t("现在", "Now")))
        .with_panel(_open_by_severity(t))
        .with_panel(_overdue_count(t))
        .with_panel(_mttr(t))
        .with_panel(_fault_map(t))
        .with_panel(_open_by_type_and_site(t))
        .with_panel(_work_orders(t))
        .with_row(dash.Row(t("近30晚", "Last 30 nights")))
        .with_panel(_raised_and_cleared(t))
        .with_panel(_mttr_per_night(t))
    )


def subdistrict_variable(t: Tr) -> dash.QueryVariable:
    """`$subdistrict`: one, several or all subdistricts, from the KPI points' tags."""
    return (
        dash.QueryVariable("subdistrict")
        .label(t("街道", "Subdistrict"))
        .datasource(DATASOURCE)
        .query(f'SHOW TAG VALUES FROM {FROM_KPI} WITH KEY = "subdistrict"')
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(text="All", value="$__all", selected=True))
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def _alarm_events(t: Tr) -> InfluxAnnotation:
    return InfluxAnnotation(
        t("告警事件", "Alarm events"),
        f'SELECT "detail", "asset", "type", "severity" FROM {FROM_ALARM} '
        f"WHERE \"state\" = 'raised' AND \"parent\" = '' AND {IN_SUBDISTRICTS} AND $timeFilter",
        text="detail",
        tags="type,severity,asset",
        color="red",
    )


def _open_by_severity(t: Tr) -> stat.Panel:
    severities = (("emergency", "紧急"), ("serious", "严重"), ("ordinary", "一般"))
    inner = ", ".join(f'last("alarms_open_{s}") AS "{s}"' for s, _ in severities)
    outer = ", ".join(f'sum("{s}") AS "{t(zh, s)}"' for s, zh in severities)
    return (
        stat.Panel()
        .title(t("未消除告警（按级别）", "Open alarms by severity"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f"SELECT {outer} FROM (SELECT {inner} FROM {FROM_KPI} "
                f'WHERE {SUBDISTRICT_KPI} AND $timeFilter GROUP BY "subdistrict")'
            )
        )
        .unit("none")
        .thresholds(thresholds("green", (1.0, "red")))
        .span(8)
        .height(5)
    )


def _overdue_count(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("超期工单 / 未关闭工单", "Overdue / open work orders"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("overdue") AS "{t("超期", "overdue")}", '
                f'sum("open") AS "{t("未关闭", "open")}" '
                f'FROM (SELECT last("work_orders_overdue") AS "overdue", '
                f'last("work_orders_open") AS "open" FROM {FROM_KPI} '
                f'WHERE {SUBDISTRICT_KPI} AND $timeFilter GROUP BY "subdistrict")'
            )
        )
        .unit("none")
        .span(8)
        .height(5)
    )


def _mttr(t: Tr) -> stat.Panel:
    return (
        stat.Panel()
        .title(t("平均修复时间（近30晚）", "Mean time to repair, last 30 nights"))
        .description(
            t(
                "告警产生到修复的平均小时数，已核实修复的工单",
                "hours from alarm to repair, over the work orders whose repair was verified",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("repair_hours") / sum("repairs") AS "MTTR" FROM {FROM_NIGHT} '
                f"WHERE {SUBDISTRICT_KPI} AND $timeFilter"
            )
        )
        .time_from("30d")
        .unit("h")
        .decimals(1)
        .thresholds(thresholds("green", (24.0, "red")))
        .span(8)
        .height(5)
    )


def _fault_map(t: Tr) -> geomap.Panel:
    return (
        geomap.Panel()
        .title(t("故障灯和控制柜", "Faulty lamps and cabinets"))
        .description(
            t(
                "未消除告警所在的灯和控制柜（回路告警标在其控制柜）",
                "lamps and cabinets with an open alarm (a circuit's at its cabinet)",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                'SELECT "lat", "lon", "alarm_id", "raised_at_ms" FROM '
                '(SELECT last("open") AS "open", last("lat") AS "lat", last("lon") AS "lon", '
                'last("alarm_id") AS "alarm_id", last("raised_at_ms") AS "raised_at_ms" '
                f"FROM {FROM_OPEN_ALARM} WHERE {IN_SUBDISTRICTS} AND {STATE_WINDOW} "
                'GROUP BY "asset", "asset_kind", "type", "severity", "site") '
                'WHERE "open" = true GROUP BY "asset", "asset_kind", "type", "severity", "site"'
            ).table()
        )
        .view(
            # fitted to the faults shown: the district's own place, wherever it is
            geomap.MapViewConfig().id("fit").all_layers(True).max_zoom(MAP_ZOOM).zoom(MAP_ZOOM)
        )
        .basemap(common_builders.MapLayerOptions().type("default").name(t("底图", "Basemap")))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True))
        .tooltip(geomap.TooltipOptions().mode(geomap_model.TooltipMode.DETAILS))
        .layers(
            [
                common_builders.MapLayerOptions()
                .type("markers")
                .name(t("故障", "faults"))
                .location(
                    common_builders.FrameGeometrySource()
                    .mode(common.FrameGeometrySourceMode.COORDS)
                    .latitude("lat")
                    .longitude("lon")
                )
                .tooltip(True)
            ]
        )
        .span(12)
        .height(12)
    )


def _open_by_type_and_site(t: Tr) -> table.Panel:
    return (
        table.Panel()
        .title(t("未消除告警（按类型和点位）", "Open alarms by type and site"))
        .description(t("只计根告警", "root alarms only"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT count("open") AS "{t("数量", "alarms")}" FROM '
                '(SELECT last("open") AS "open", last("root") AS "root" '
                f"FROM {FROM_OPEN_ALARM} WHERE {IN_SUBDISTRICTS} AND {STATE_WINDOW} "
                'GROUP BY "asset", "type", "site") '
                'WHERE "open" = true AND "root" = true GROUP BY "site", "type"'
            ).table()
        )
        .span(12)
        .height(12)
    )


def _work_orders(t: Tr) -> table.Panel:
    panel = (
        table.Panel()
        .title(t("未关闭工单与期限", "Open work orders against their deadlines"))
        .description(
            t(
                "超期小时数为正即已超期（未核实、未关闭）",
                "hours past the deadline: above 0 is overdue (not verified, not closed)",
            )
        )
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                'SELECT "state", "type", "asset", "opened_at_ms", "deadline_ms", "overdue_h" '
                'FROM (SELECT last("open") AS "open", last("state") AS "state", '
                'last("type") AS "type", last("asset") AS "asset", '
                'last("opened_at_ms") AS "opened_at_ms", last("deadline_ms") AS "deadline_ms", '
                f'last("overdue_h") AS "overdue_h" FROM {FROM_WORK_ORDER} '
                f"WHERE {IN_SUBDISTRICTS} AND {STATE_WINDOW} "
                'GROUP BY "work_order", "severity", "site", "maintainer") '
                'WHERE "open" = true GROUP BY "work_order", "severity", "site", "maintainer"'
            ).table()
        )
        .unit("h")
        .decimals(1)
        .with_override(
            by_names("overdue_h"),
            [
                COLOUR_CELLS,
                model.DynamicConfigValue(
                    id_val="thresholds", value=thresholds("green", (0.0, "red")).build()
                ),
            ],
        )
        .span(24)
        .height(10)
    )
    return datetime_columns(panel, "opened_at_ms", "deadline_ms")


def _raised_and_cleared(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("每晚告警：新增 / 消除", "Alarms per night: raised / cleared"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT sum("alarms_raised") AS "{t("新增", "raised")}", '
                f'sum("alarms_cleared") AS "{t("消除", "cleared")}" FROM {FROM_NIGHT} '
                f"WHERE {SUBDISTRICT_KPI} AND $timeFilter GROUP BY time(1d) fill(none)"
            )
        )
        .time_from("30d")
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .span(12)
        .height(8)
    )


def _mttr_per_night(t: Tr) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(t("每晚平均修复时间", "Mean time to repair per night"))
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT "mttr_h" FROM {FROM_NIGHT} '
                f'WHERE {SUBDISTRICT_KPI} AND $timeFilter GROUP BY "name"'
            ).alias("$tag_name")
        )
        .time_from("30d")
        .unit("h")
        .span(12)
        .height(8)
    )
