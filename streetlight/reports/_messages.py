"""Every word the reports print, Chinese and English side by side in one catalogue, so a
heading cannot exist in one language and not the other; `Tr(lang)` speaks one of them.

A finding of an acceptance run carries an English sentence of its own (`detail`); in Chinese
the report words it from the finding's `key` (a FindingKind: the catalogue has a sentence for
every one) and values; a key of a later version, in a stored result, is worded generically.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from streetlight.acceptance.model import FigureName as Name
from streetlight.acceptance.model import FindingKind as Kind

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

# a finding's Chinese sentence by its kind (every FindingKind, none else). Filled in: {asset}
# (路灯 …), {night} (its evening's date), {seen} and {limit} as the kind holds them (a word
# translated, a moment in the district's time), {minutes} (the delay without its sign)
FINDINGS_ZH: dict[str, str] = {
    Kind.NOT_INSTALLED: "{asset} 已规划但未安装（状态：{seen}）",
    Kind.NOT_REGISTERED: "{asset} 已安装，但系统无法接收其数据（型号配置或设备地址未登记）",
    Kind.NOT_REPORTING: "{asset} 在 {night}夜未上报任何数据",
    Kind.NO_RATE: "{asset} 在 {night}夜没有应亮灯的灯具数据，亮灯率无法计算（目标 {limit}%）",
    Kind.NIGHT_BELOW_TARGET: "{asset} 在 {night}夜亮灯率 {seen}%，低于目标 {limit}%",
    Kind.DARK: "{asset} 在 {night}夜未正常亮灯（应亮时段亮灯 {seen}%，应为 {limit}%）",
    Kind.NEVER_ON: "{asset} 在 {night}夜计划开灯后始终未见开灯（允许偏差 {limit} 分钟）",
    Kind.NEVER_OFF: "{asset} 在 {night}夜计划关灯后始终未见关灯（允许偏差 {limit} 分钟）",
    Kind.LATE_ON: "{asset} 在 {night}夜开灯晚于计划 {minutes} 分钟（允许偏差 {limit} 分钟）",
    Kind.EARLY_ON: "{asset} 在 {night}夜开灯早于计划 {minutes} 分钟（允许偏差 {limit} 分钟）",
    Kind.LATE_OFF: "{asset} 在 {night}夜关灯晚于计划 {minutes} 分钟（允许偏差 {limit} 分钟）",
    Kind.EARLY_OFF: "{asset} 在 {night}夜关灯早于计划 {minutes} 分钟（允许偏差 {limit} 分钟）",
    Kind.ENERGY_HIGH: "{asset} 在 {night}夜平均功率 {seen} W，高于额定 {limit} W（超出允许偏差）",
    Kind.ENERGY_LOW: "{asset} 在 {night}夜平均功率 {seen} W，低于额定 {limit} W（超出允许偏差）",
    Kind.OPEN_ALARM: "{asset} 的告警 {seen}（{night}夜发生）至验收期末仍未关闭",
    Kind.OPEN_ORDER: "{asset} 的工单（{night}夜开出）至验收期末未销号（状态：{seen}）",
    Kind.CLOSED_LATE: "{asset} 的工单（{night}夜开出）于 {seen} 销号，晚于期限 {limit}",
}
# a kind a stored result holds and this catalogue does not know (a later version's), worded
# from its values alone
FINDING_ZH_GENERIC = "{criterion}：{asset}，{night}，实测 {seen}，限值 {limit}"
# the words a finding's seen or limit may be (a lamp's status, a work order's state)
WORDS: dict[str, tuple[str, str]] = {
    "planned": ("规划", "planned"),
    "installed": ("已安装", "installed"),
    "retired": ("已拆除", "retired"),
    "registered": ("已登记", "registered"),
    "dispatched": ("已派工", "dispatched"),
    "repaired": ("已修复", "repaired"),
    "verified": ("已核实", "verified"),
    "closed": ("已销号", "closed"),
}

# the names of criteria's thresholds and figures (every FigureName, none else)
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    Name.PLANNED: ("规划", "planned"),
    Name.INSTALLED: ("已安装", "installed"),
    Name.REGISTERED: ("已登记", "registered"),
    Name.REPORTING: ("上报", "reporting"),
    Name.REPORTING_PCT: ("上报比例 %", "reporting %"),
    Name.TARGET_PCT: ("目标 %", "target %"),
    Name.WORST_RATE_PCT: ("最低亮灯率 %", "lowest rate %"),
    Name.WORST_NIGHT: ("最低一夜", "worst night"),
    Name.NIGHTS: ("夜数", "nights"),
    Name.NIGHTS_BELOW_TARGET: ("未达标夜数", "nights below target"),
    Name.TOLERANCE_MIN: ("允许偏差（分钟）", "tolerance (min)"),
    Name.MAX_DELAY_MIN: ("最大偏差（分钟）", "largest deviation (min)"),
    Name.SWITCHES_JUDGED: ("判定开关次数", "switches judged"),
    Name.LAMPS_OUTSIDE: ("超差灯数", "lamps outside"),
    Name.TOLERANCE_PCT: ("允许偏差 %", "tolerance %"),
    Name.MAX_DEVIATION_PCT: ("最大偏差 %", "largest deviation %"),
    Name.LEVELS_JUDGED: ("判定功率档数", "dim levels judged"),
    Name.OPEN_AT_END: ("期末未关闭", "open at the end"),
    Name.ALARMS_OPEN_AT_END: ("期末未关闭告警", "alarms open at the end"),
    Name.WORK_ORDERS: ("工单数", "work orders"),
    Name.CLOSED_IN_TIME: ("按期销号", "closed in time"),
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

    def word(self, text: str) -> str:
        """A finding's word (WORDS), else the text as it is."""
        words = WORDS.get(text)
        return text if words is None else words[0] if self.lang == "zh" else words[1]

    def road(self, road_class: str) -> str:
        words = MESSAGES.get(f"road.{road_class}")
        return road_class if words is None else words[0] if self.lang == "zh" else words[1]

    def day(self, day: date | None) -> str:
        if day is None:
            return "—"
        return f"{day.year}年{day.month}月{day.day}日" if self.lang == "zh" else day.isoformat()
