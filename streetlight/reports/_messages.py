"""Every word the reports print, Chinese and English side by side in one catalogue, so a
heading cannot exist in one language and not the other; `Tr(lang)` speaks one of them.

A finding of an acceptance run carries an English sentence of its own (`detail`); in Chinese
the report words it from the finding's `key` and values, and a key this catalogue does not
know yet is still worded, generically, from the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # shared
    "page": ("第 {page} 页，共 {pages} 页", "Page {page} of {pages}"),
    "pass": ("通过", "PASS"),
    "fail": ("不通过", "FAIL"),
    "none": ("无", "none"),
    "total": ("全区合计", "District total"),
    "computed_at": ("生成时间", "Computed at"),
    "nights_n": ("{n} 夜", "{n} nights"),
    "night": ("夜", "Night"),
    "subdistrict": ("街道", "Subdistrict"),
    "community": ("社区", "Community"),
    "site": ("站点", "Site"),
    "project": ("项目", "Project"),
    "road_class": ("道路等级", "Road class"),
    "maintainer": ("养护单位", "Maintainer"),
    "lamps": ("灯数", "Lamps"),
    "note": ("说明", "Note"),
    # road classes
    "road.main": ("主干路", "main road"),
    "road.secondary": ("次干路", "secondary road"),
    "road.branch": ("支路", "branch street"),
    "road.residential_path": ("小区道路", "residential path"),
    # acceptance report
    "acc.title": ("竣工验收报告", "Handover acceptance report"),
    "acc.subtitle": ("城市照明“照亮工程” · 移交接管", "Lighting renovation · handover"),
    "acc.window": ("验收期", "Acceptance window"),
    "acc.run": ("验收编号", "Run"),
    "acc.inputs": ("数据指纹", "Inputs (SHA-256)"),
    "acc.verdict": ("验收结论", "Verdict"),
    "acc.criteria": ("一、验收项目", "1. Criteria"),
    "acc.no": ("序号", "No."),
    "acc.criterion": ("验收项目", "Criterion"),
    "acc.threshold": ("标准", "Threshold"),
    "acc.figures": ("实测", "Figures"),
    "acc.result": ("结论", "Result"),
    "acc.charts": ("二、逐夜情况", "2. Night by night"),
    "acc.chart_rate": ("每夜亮灯率与目标", "Nightly lighting rate against target"),
    "acc.chart_switch": ("开关灯时间与计划", "Switch-on and switch-off times against plan"),
    "acc.exceptions": ("三、异常清单", "3. Exceptions"),
    "acc.no_exceptions": ("验收期内无异常。", "No exceptions in the window."),
    "acc.asset": ("设施", "Asset"),
    "acc.seen": ("实测", "Seen"),
    "acc.limit": ("限值", "Limit"),
    "acc.detail": ("说明", "Detail"),
    "acc.more": (
        "另有 {n} 条异常未列出（见系统中的验收记录）。",
        "{n} more exceptions are not listed (see the stored run).",
    ),
    "acc.signatures": ("四、签字", "4. Signatures"),
    "acc.sign_name": ("签字", "Name"),
    "acc.sign_date": ("日期", "Date"),
    "acc.sign_seal": ("（盖章）", "(seal)"),
    "unit.construction": ("施工单位", "Construction unit"),
    "unit.supervision": ("监理单位", "Supervision unit"),
    "unit.subdistrict": ("街道办事处", "Subdistrict office"),
    "unit.maintainer": ("接管养护单位", "Receiving maintainer"),
    "chart.rate": ("亮灯率 %", "Lighting rate %"),
    "chart.target": ("目标", "Target"),
    "chart.on": ("开灯", "Switch-on"),
    "chart.off": ("关灯", "Switch-off"),
    "chart.plan": ("计划", "Plan"),
    "chart.median": ("中位", "Median"),
    "chart.latest": ("最晚", "Latest lamp"),
    # the five criteria, by CriterionKey
    "crit.complete": (
        "规划灯具全部安装、登记并上报数据",
        "Every planned lamp installed, registered and reporting",
    ),
    "crit.lighting_rate": (
        "每夜亮灯率达到道路等级目标",
        "Nightly lighting rate at or above the road class's target",
    ),
    "crit.switch_times": (
        "开关灯时间在计划允许偏差内",
        "Lamps switched within tolerance of the plan, every night",
    ),
    "crit.energy": ("单灯能耗与额定功率相符", "Energy per lamp within tolerance of rated"),
    "crit.faults_closed": (
        "期末无未关闭故障，故障均按期修复",
        "No open fault at the end; every fault closed in time",
    ),
    # monthly report
    "mon.title": ("月度进展报告", "Monthly progress report"),
    "mon.subtitle": (
        "城市照明“照亮工程” · 报领导小组",
        "Lighting renovation · for the leading group",
    ),
    "mon.month": ("月份", "Month"),
    "mon.window": ("统计期", "Period"),
    "mon.counted_at": ("灯数统计时刻", "Lamps counted at"),
    "mon.scope": ("范围", "Scope"),
    "mon.all": ("全部街道", "All subdistricts"),
    "mon.lamps": ("一、灯具建设", "1. Lamps"),
    "mon.planned": ("规划", "Planned"),
    "mon.installed": ("已安装", "Installed"),
    "mon.registered": ("已登记", "Registered"),
    "mon.reporting": ("在线上报", "Reporting"),
    "mon.installed_pct": ("安装进度", "Installed %"),
    "mon.lighting": ("二、亮灯率", "2. Lighting rate"),
    "mon.nights": ("统计夜数", "Nights"),
    "mon.rate": ("亮灯率", "Lighting rate"),
    "mon.target": ("目标", "Target"),
    "mon.worst": ("最低一夜", "Worst night"),
    "mon.below": ("未达标夜数", "Nights below target"),
    "mon.chart": ("各街道逐夜亮灯率", "Nightly lighting rate per subdistrict"),
    "mon.faults": ("三、故障与维修", "3. Faults and repairs"),
    "mon.opened": ("新登记", "Opened"),
    "mon.closed": ("已销号", "Closed"),
    "mon.in_time": ("按期销号", "Closed in time"),
    "mon.in_time_pct": ("按期率", "In time %"),
    "mon.open_end": ("期末未销号", "Open at the end"),
    "mon.energy": ("四、能耗与节能", "4. Energy and savings"),
    "mon.energy_kwh": ("用电 kWh", "Used kWh"),
    "mon.baseline_kwh": ("基准 kWh", "Baseline kWh"),
    "mon.saved_kwh": ("节约 kWh", "Saved kWh"),
    "mon.saved_pct": ("节能率", "Saved %"),
    "mon.roads": ("五、有路无灯", "5. Roads without lamps"),
    "mon.road_m": ("道路长度 m", "Roads m"),
    "mon.dark_m": ("无灯长度 m", "Without lamps m"),
    "mon.dark_pct": ("无灯比例", "Dark %"),
    "mon.definitions": (
        "口径：亮灯率为本月各夜应亮灯次中正确亮灯的比例（非各夜亮灯率的平均）；"
        "故障为工单，按期指在期限内销号；节约为无控制时黄昏至黎明全功率用电减实际用电；"
        "灯数为统计时刻的状态；有路无灯为生成时的计算。",
        "Definitions: the lighting rate is lamp-intervals lit correctly over those that should "
        "have been lit, over the month's nights (not a mean of nightly rates); faults are work "
        "orders, closed in time when closed by their deadline; savings are against unmanaged "
        "lamps at full power from dusk to dawn; lamps are counted at the moment shown; roads "
        "without lamps are computed when the report is made.",
    ),
    "mon.no_data": ("本月尚无夜间统计数据。", "No nightly figures for this month yet."),
}

# a finding's Chinese sentence by its key; {asset}, {night}, {seen} and {limit} are filled in
FINDINGS_ZH: dict[str, str] = {
    "not_planned": "{asset} 不在规划中",
    "not_installed": "{asset} 未安装",
    "not_registered": "{asset} 未在系统中登记",
    "not_reporting": "{asset} 未上报数据",
    "dark": "{asset} 在 {night} 夜未正常亮灯（实测 {seen}，限值 {limit}）",
    "below_target": "{night} 夜亮灯率 {seen}% 低于目标 {limit}%",
    "late_on": "{asset} 在 {night} 夜开灯晚于计划（偏差 {seen} 分钟，允许 {limit} 分钟）",
    "early_on": "{asset} 在 {night} 夜开灯早于计划（偏差 {seen} 分钟，允许 {limit} 分钟）",
    "late_off": "{asset} 在 {night} 夜关灯晚于计划（偏差 {seen} 分钟，允许 {limit} 分钟）",
    "early_off": "{asset} 在 {night} 夜关灯早于计划（偏差 {seen} 分钟，允许 {limit} 分钟）",
    "not_switched_on": "{asset} 在 {night} 夜未开灯",
    "not_switched_off": "{asset} 在 {night} 夜未关灯",
    "energy_high": "{asset} 在 {night} 夜能耗高于额定（偏差 {seen}%，允许 {limit}%）",
    "energy_low": "{asset} 在 {night} 夜能耗低于额定（偏差 {seen}%，允许 {limit}%）",
    "fault_open": "{asset} 的故障至验收期末仍未关闭",
    "fault_late": "{asset} 的故障未在期限内关闭（{seen}，期限 {limit}）",
    "no_data": "{asset} 在 {night} 夜无数据",
}
FINDING_ZH_GENERIC = "{criterion}：{asset}，{night}，实测 {seen}，限值 {limit}"

# the names of criteria's thresholds and figures (CriterionResult.threshold, .figures); a name
# not here is shown as it is
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "target_pct": ("目标", "target"),
    "lighting_target_pct": ("目标", "target"),
    "min_rate_pct": ("最低亮灯率", "lowest rate"),
    "worst_rate_pct": ("最低亮灯率", "lowest rate"),
    "lowest_rate_pct": ("最低亮灯率", "lowest rate"),
    "worst_night": ("最低一夜", "worst night"),
    "tolerance_min": ("允许偏差（分钟）", "tolerance (min)"),
    "tolerance_pct": ("允许偏差 %", "tolerance %"),
    "max_delay_min": ("最大偏差（分钟）", "largest delay (min)"),
    "max_deviation_pct": ("最大偏差 %", "largest deviation %"),
    "lamps_planned": ("规划", "planned"),
    "lamps_installed": ("已安装", "installed"),
    "lamps_registered": ("已登记", "registered"),
    "lamps_reporting": ("上报", "reporting"),
    "reporting_pct": ("上报比例 %", "reporting %"),
    "nights": ("夜数", "nights"),
    "faults": ("故障数", "faults"),
    "faults_open": ("未关闭", "open"),
    "faults_late": ("超期", "late"),
    "faults_closed": ("已关闭", "closed"),
    "failures": ("异常数", "exceptions"),
}

ASSET_KINDS: dict[str, tuple[str, str]] = {
    "lamp": ("路灯", "lamp"),
    "site": ("站点", "site"),
    "cabinet": ("控制柜", "cabinet"),
    "circuit": ("回路", "circuit"),
}


@dataclass(frozen=True, slots=True)
class Tr:
    """The catalogue in one language: ``t("acc.title")``; ``t("page", page=1, pages=3)``."""

    lang: Lang

    def __call__(self, key: str, **values: object) -> str:
        zh, en = MESSAGES[key]
        text = zh if self.lang == "zh" else en
        return text.format(**values) if values else text

    def asset(self, asset: str | None) -> str:
        """``lamp:PP-S04-L003`` as a reader says it: 路灯 PP-S04-L003 / lamp PP-S04-L003."""
        if not asset:
            return "—"
        kind, _, ident = asset.partition(":")
        words = ASSET_KINDS.get(kind)
        if words is None or not ident:
            return asset
        return f"{words[0] if self.lang == 'zh' else words[1]} {ident}"

    def label(self, name: str) -> str:
        """A threshold's or figure's name (FIGURE_LABELS), else the name as it is."""
        words = FIGURE_LABELS.get(name)
        return name if words is None else words[0] if self.lang == "zh" else words[1]

    def road(self, road_class: str) -> str:
        words = MESSAGES.get(f"road.{road_class}")
        return road_class if words is None else words[0] if self.lang == "zh" else words[1]

    def day(self, day: date | None) -> str:
        if day is None:
            return "—"
        return f"{day.year}年{day.month}月{day.day}日" if self.lang == "zh" else day.isoformat()
