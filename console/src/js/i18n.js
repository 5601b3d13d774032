// Chinese by default, English on request (kept in localStorage). `t(key, vars)` looks a
// phrase up; elements with data-i18n (text), data-i18n-placeholder or data-i18n-title are
// translated in place; views re-render on a change of language.

const PHRASES = {
  zh: {
    brand: '路灯监控', 'tab.map': '地图', 'tab.alarms': '告警', 'tab.overrides': '临时调光与计划',
    'tab.sites': '站点', logout: '退出', 'lang.other': 'English',
    'login.title': '登录', 'login.name': '用户名', 'login.password': '密码', 'login.submit': '登录',
    'login.again': '登录已过期，请重新输入密码', 'login.wrong': '用户名或密码错误',
    'role.admin': '管理员', 'role.operator': '调度员', 'role.maintainer': '养护人员', 'role.viewer': '只读',
    'live.live': '实时', 'live.away': '重连中…', 'live.off': '未连接',
    'map.find': '查找路灯编号…', 'map.box': '框选', 'map.box_hint': '拖动鼠标框选路灯（或按住 Shift 拖动）',
    'map.fit': '全区', 'map.not_found': '没有路灯 {id}',
    'state.faulty': '故障', 'state.dark': '不亮', 'state.burning': '白天亮灯', 'state.offline': '离线',
    'state.unknown': '未知', 'state.planned': '规划未装', 'state.dimmed': '调光', 'state.lit': '亮灯',
    'state.off': '关灯',
    'lamp.title': '路灯 {id}', 'lamp.site': '站点', 'lamp.circuit': '回路', 'lamp.cabinet': '控制柜',
    'lamp.rated': '额定功率', 'lamp.expected': '应为', 'lamp.reported': '上报', 'lamp.level': '亮度',
    'lamp.power': '功率', 'lamp.at': '时间', 'lamp.why': '依据', 'lamp.online': '在线',
    'lamp.history': '最近 6 小时', 'lamp.no_history': '暂无历史数据', 'lamp.history_away': '历史数据暂不可用',
    'lamp.alarms': '未关闭告警', 'lamp.none': '无', 'lamp.order': '工单', 'lamp.override': '对此灯临时调光',
    'lamp.off': '关', 'lamp.relay_on': '开', 'lamp.relay_off': '关',
    'cabinet.title': '控制柜 {id}',
    'box.title': '已选 {n} 盏路灯', 'box.sites': '涉及站点', 'box.override_sites': '对所选站点临时调光',
    'box.override_lamps': '只对所选路灯', 'box.too_many': '超过 {n} 盏，请按站点或更大分组调光',
    'alarms.title': '未关闭的根告警', 'alarms.refresh': '刷新', 'alarms.none': '没有未关闭的告警',
    'alarms.type': '类型', 'alarms.asset': '设备', 'alarms.site': '站点', 'alarms.severity': '级别',
    'alarms.age': '持续', 'alarms.state': '状态', 'alarms.order': '工单', 'alarms.children': '关联告警 {n} 条',
    'alarms.ack': '确认', 'alarms.comment': '备注', 'alarms.close': '关闭', 'alarms.dispatch': '派单',
    'alarms.repaired': '已修复', 'alarms.note': '说明（可选）', 'alarms.to': '派给（班组或人员）',
    'alarms.history': '处理记录', 'alarms.scope': '仅显示您负责的站点', 'alarms.show': '在地图上显示',
    'alarms.done': '已完成：{what}', 'alarms.more': '另有 {n} 条未显示（按级别和时长排在后面）', 'alarms.new': '新告警：{type} {asset}',
    'severity.emergency': '紧急', 'severity.serious': '严重', 'severity.ordinary': '一般',
    'alarm.raised': '新告警', 'alarm.acknowledged': '已确认', 'alarm.cleared': '已恢复', 'alarm.closed': '已关闭',
    'order.registered': '已登记', 'order.dispatched': '已派单', 'order.repaired': '已修复',
    'order.verified': '已核验', 'order.closed': '已销号', 'order.overdue': '超期',
    'ov.title': '临时调光', 'ov.new': '新建临时调光', 'ov.group': '对象', 'ov.scope': '范围',
    'ov.level': '亮度 %', 'ov.off': '关灯', 'ov.minutes': '持续（分钟）', 'ov.reason': '原因',
    'ov.submit': '下发', 'ov.active': '生效中', 'ov.upcoming': '待生效', 'ov.by': '设置人',
    'ov.set_at': '设置时间', 'ov.ends': '结束', 'ov.cancel': '取消', 'ov.cancelled': '已取消临时调光 {id}',
    'ov.saved': '临时调光 {id} 已下发', 'ov.not_told': '已保存，但未能通知控制器：{why}',
    'ov.none': '当前没有临时调光', 'ov.forever': '直到取消', 'ov.viewer': '您的角色不能设置临时调光',
    'scope.lamp': '路灯', 'scope.circuit': '回路', 'scope.site': '站点', 'scope.community': '社区',
    'scope.subdistrict': '街道', 'scope.district': '全区',
    'plan.title': '今晚计划', 'plan.site': '站点', 'plan.sunset': '日落', 'plan.sunrise': '日出',
    'plan.program': '方案', 'plan.energy': '预计电量', 'plan.steps': '调光步骤', 'plan.why': '依据',
    'sites.title': '站点', 'sites.name': '名称', 'sites.road': '道路等级', 'sites.category': '类型',
    'sites.maintainer': '养护单位', 'sites.lamps': '路灯', 'sites.states': '当前状态',
    'sites.status': '规划 / 已装 / 撤除', 'sites.survey': '摸底数据', 'sites.acceptance': '验收',
    'sites.report': '月报', 'sites.dark_roads': '有路无灯', 'sites.pending': '暂无',
    'acc.none': '未验收', 'acc.pass': '通过', 'acc.fail': '不通过',
    'acc.criterion.complete': '规划路灯全部安装、登记并上报', 'acc.criterion.lighting_rate': '每晚亮灯率达标',
    'acc.criterion.switch_times': '开关灯时间符合计划', 'acc.criterion.energy': '各调光档能耗符合额定',
    'acc.criterion.faults_closed': '故障按期销号、期末无未关闭故障',
    'sites.filter': '筛选站点…',
    'type.lamp_failure': '灯具故障', 'type.low_power': '功率偏低', 'type.high_power': '功率偏高',
    'type.dimming_failure': '调光失败', 'type.day_burning': '白天亮灯', 'type.cycling': '频繁开关',
    'type.lamp_offline': '路灯离线', 'type.voltage_high': '电压过高', 'type.voltage_low': '电压过低',
    'type.over_temperature': '温度过高', 'type.supply_loss': '控制柜失电', 'type.phase_loss': '缺相',
    'type.circuit_dead': '回路断电', 'type.leakage': '漏电', 'type.door_open': '柜门打开',
    'type.command_failed': '命令未执行', 'type.data_stale': '数据中断',
    'category.old_compound': '老旧小区', 'category.open_compound': '开放式小区',
    'category.managed_compound': '物业小区', 'category.back_street': '背街小巷',
    'road.main': '主干道', 'road.secondary': '次干道', 'road.branch': '支路', 'road.residential_path': '小区道路',
    'units.s': '秒', 'units.min': '分', 'units.h': '小时', 'units.d': '天',
    'error.forbidden': '没有权限', 'error.generic': '出错：{message}',
  },
  en: {
    brand: 'Streetlight', 'tab.map': 'Map', 'tab.alarms': 'Alarms', 'tab.overrides': 'Overrides & plan',
    'tab.sites': 'Sites', logout: 'Log out', 'lang.other': '中文',
    'login.title': 'Log in', 'login.name': 'Name', 'login.password': 'Password', 'login.submit': 'Log in',
    'login.again': 'Your login expired: enter your password again', 'login.wrong': 'Wrong name or password',
    'role.admin': 'admin', 'role.operator': 'operator', 'role.maintainer': 'maintainer', 'role.viewer': 'viewer',
    'live.live': 'live', 'live.away': 'reconnecting…', 'live.off': 'not connected',
    'map.find': 'Find a lamp id…', 'map.box': 'Select area', 'map.box_hint': 'Drag to select lamps (or shift-drag)',
    'map.fit': 'Whole district', 'map.not_found': 'No lamp {id}',
    'state.faulty': 'faulty', 'state.dark': 'dark', 'state.burning': 'day-burning', 'state.offline': 'offline',
    'state.unknown': 'unknown', 'state.planned': 'planned', 'state.dimmed': 'dimmed', 'state.lit': 'lit',
    'state.off': 'off',
    'lamp.title': 'Lamp {id}', 'lamp.site': 'Site', 'lamp.circuit': 'Circuit', 'lamp.cabinet': 'Cabinet',
    'lamp.rated': 'Rated power', 'lamp.expected': 'Expected', 'lamp.reported': 'Reported', 'lamp.level': 'Level',
    'lamp.power': 'Power', 'lamp.at': 'At', 'lamp.why': 'Why', 'lamp.online': 'Online',
    'lamp.history': 'Last 6 hours', 'lamp.no_history': 'No history yet', 'lamp.history_away': 'History unavailable',
    'lamp.alarms': 'Open alarms', 'lamp.none': 'none', 'lamp.order': 'Work order', 'lamp.override': 'Override this lamp',
    'lamp.off': 'off', 'lamp.relay_on': 'on', 'lamp.relay_off': 'off',
    'cabinet.title': 'Cabinet {id}',
    'box.title': '{n} lamps selected', 'box.sites': 'Sites', 'box.override_sites': 'Override the chosen sites',
    'box.override_lamps': 'Only the selected lamps', 'box.too_many': 'More than {n} lamps: override by site or a larger group',
    'alarms.title': 'Open root alarms', 'alarms.refresh': 'Refresh', 'alarms.none': 'No open alarms',
    'alarms.type': 'Type', 'alarms.asset': 'Asset', 'alarms.site': 'Site', 'alarms.severity': 'Severity',
    'alarms.age': 'Age', 'alarms.state': 'State', 'alarms.order': 'Order', 'alarms.children': '{n} linked alarms',
    'alarms.ack': 'Acknowledge', 'alarms.comment': 'Comment', 'alarms.close': 'Close', 'alarms.dispatch': 'Dispatch',
    'alarms.repaired': 'Repaired', 'alarms.note': 'Note (optional)', 'alarms.to': 'Send to (crew or person)',
    'alarms.history': 'Steps', 'alarms.scope': 'Your sites only', 'alarms.show': 'Show on map',
    'alarms.done': 'Done: {what}', 'alarms.more': '{n} more not shown (less severe or newer)', 'alarms.new': 'New alarm: {type} {asset}',
    'severity.emergency': 'emergency', 'severity.serious': 'serious', 'severity.ordinary': 'ordinary',
    'alarm.raised': 'raised', 'alarm.acknowledged': 'acknowledged', 'alarm.cleared': 'cleared', 'alarm.closed': 'closed',
    'order.registered': 'registered', 'order.dispatched': 'dispatched', 'order.repaired': 'repaired',
    'order.verified': 'verified', 'order.closed': 'closed', 'order.overdue': 'overdue',
    'ov.title': 'Overrides', 'ov.new': 'New override', 'ov.group': 'Group', 'ov.scope': 'Scope',
    'ov.level': 'Level %', 'ov.off': 'Off', 'ov.minutes': 'Minutes', 'ov.reason': 'Reason',
    'ov.submit': 'Set', 'ov.active': 'Active', 'ov.upcoming': 'Upcoming', 'ov.by': 'By',
    'ov.set_at': 'Set at', 'ov.ends': 'Ends', 'ov.cancel': 'Cancel', 'ov.cancelled': 'Override {id} cancelled',
    'ov.saved': 'Override {id} set', 'ov.not_told': 'Saved, but the controller was not told: {why}',
    'ov.none': 'No override now', 'ov.forever': 'until cancelled', 'ov.viewer': 'Your role may not set overrides',
    'scope.lamp': 'Lamp', 'scope.circuit': 'Circuit', 'scope.site': 'Site', 'scope.community': 'Community',
    'scope.subdistrict': 'Subdistrict', 'scope.district': 'District',
    'plan.title': "Tonight's plan", 'plan.site': 'Site', 'plan.sunset': 'Sunset', 'plan.sunrise': 'Sunrise',
    'plan.program': 'Program', 'plan.energy': 'Energy', 'plan.steps': 'Steps', 'plan.why': 'Why',
    'sites.title': 'Sites', 'sites.name': 'Name', 'sites.road': 'Road class', 'sites.category': 'Kind',
    'sites.maintainer': 'Maintainer', 'sites.lamps': 'Lamps', 'sites.states': 'Now',
    'sites.status': 'planned / installed / retired', 'sites.survey': 'Survey', 'sites.acceptance': 'Acceptance',
    'sites.report': 'Monthly report', 'sites.dark_roads': 'Roads without lamps', 'sites.pending': 'not available',
    'acc.none': 'not yet run', 'acc.pass': 'passed', 'acc.fail': 'failed',
    'acc.criterion.complete': 'Every planned lamp installed, registered, reporting', 'acc.criterion.lighting_rate': 'Nightly lighting rate at target',
    'acc.criterion.switch_times': 'Switch times within tolerance of plan', 'acc.criterion.energy': 'Energy within tolerance of rated',
    'acc.criterion.faults_closed': 'Faults closed in time, none open at the end',
    'sites.filter': 'Filter sites…',
    'type.lamp_failure': 'lamp failure', 'type.low_power': 'low power', 'type.high_power': 'high power',
    'type.dimming_failure': 'dimming failure', 'type.day_burning': 'day burning', 'type.cycling': 'cycling',
    'type.lamp_offline': 'lamp offline', 'type.voltage_high': 'voltage high', 'type.voltage_low': 'voltage low',
    'type.over_temperature': 'over temperature', 'type.supply_loss': 'supply loss', 'type.phase_loss': 'phase loss',
    'type.circuit_dead': 'circuit dead', 'type.leakage': 'leakage', 'type.door_open': 'door open',
    'type.command_failed': 'command failed', 'type.data_stale': 'data stale',
    'category.old_compound': 'old compound', 'category.open_compound': 'open compound',
    'category.managed_compound': 'managed compound', 'category.back_street': 'back street',
    'road.main': 'main', 'road.secondary': 'secondary', 'road.branch': 'branch', 'road.residential_path': 'residential path',
    'units.s': 's', 'units.min': 'min', 'units.h': 'h', 'units.d': 'd',
    'error.forbidden': 'Not allowed', 'error.generic': 'Error: {message}',
  },
};

let lang = localStorage.getItem('streetlight.lang') === 'en' ? 'en' : 'zh';
const listeners = new Set();

export function t(key, vars = {}) {
  const phrase = PHRASES[lang][key] ?? PHRASES.zh[key] ?? key;
  return phrase.replace(/\{(\w+)\}/g, (_, name) => vars[name] ?? '');
}

export function getLang() { return lang; }
export function onLang(listener) { listeners.add(listener); }

export function setLang(next) {
  lang = next;
  localStorage.setItem('streetlight.lang', lang);
  translate(document);
  for (const listener of listeners) listener(lang);
}

export function translate(root) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}

export const units = () => ({ s: t('units.s'), min: t('units.min'), h: t('units.h'), d: t('units.d') });
