// A lamp picked on the map: its state (expected against reported), its last hours as a small
// chart, its open alarms and their work orders; an override of it for those who may.
// The state line follows the event stream while the panel is open.

import { all, ApiError, get, may } from '../api.js';
import { COLOURS } from '../district.js';
import { clear, fmtTime, h } from '../dom.js';
import { t } from '../i18n.js';
import { overrideForm } from './override_form.js';

const HOURS = 6;

export function badge(state) {
  return h('span', { class: 'badge', style: `--c:${COLOURS[state] || '#888'}`, dataset: { state } },
    t(`state.${state}`));
}

function levelText(level) {
  return level === null || level === undefined ? t('lamp.off') : `${level} %`;
}

function facts(rows) {
  return h('dl', { class: 'facts' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '–')]));
}

function compare(state) {
  const e = state.expected;
  const r = state.reported;
  const row = (label, expected, reported) => h('tr', {}, h('th', {}, label), h('td', {}, expected), h('td', {}, reported));
  return h('table', { class: 'compare' },
    h('thead', {}, h('tr', {}, h('th'), h('th', {}, t('lamp.expected')), h('th', {}, t('lamp.reported')))),
    h('tbody', {},
      row(t('lamp.level'), e ? levelText(e.level) : '–',
        r ? (r.relay_on ? levelText(r.level) : t('lamp.relay_off')) : '–'),
      row(t('lamp.power'), '', r?.power_w != null ? `${r.power_w.toFixed(1)} W` : '–'),
      row(t('lamp.why'), e?.why ?? '–', ''),
      row(t('lamp.at'), '', r ? fmtTime(r.at, true) : '–')));
}

async function chart(box, lampId, now) {
  const from = new Date(now - HOURS * 3600_000).toISOString();
  let history;
  try {
    history = await get(`/lamps/${encodeURIComponent(lampId)}/history`,
      { from, to: new Date(now).toISOString(), interval: '5m', fields: 'power_w,dim_pct' });
  } catch (error) {
    box.replaceChildren(h('p', { class: 'muted' }, t(error instanceof ApiError && error.status === 503
      ? 'lamp.history_away' : 'lamp.no_history')));
    return;
  }
  const power = history.series.power_w || [];
  if (!power.some((v) => v !== null)) {
    box.replaceChildren(h('p', { class: 'muted' }, t('lamp.no_history')));
    return;
  }
  const { default: UPlot } = await import('/console/vendor/uplot/uPlot.esm.js');
  box.replaceChildren();
  const times = history.time.map((iso) => Date.parse(iso) / 1000);
  const sparse = power.filter((v) => v !== null).length < 12;
  // eslint-disable-next-line no-new
  new UPlot({
    width: 300, height: 140, legend: { show: true }, cursor: { drag: { x: false } },
    scales: { x: { time: true }, pct: { range: [0, 100] } },
    axes: [
      { stroke: '#aab', grid: { stroke: '#2a3140' }, values: (u, ticks) => ticks.map((s) => fmtTime(s * 1000).slice(11)) },
      { stroke: '#aab', grid: { stroke: '#2a3140' }, size: 40 },
      { side: 1, scale: 'pct', stroke: '#aab', grid: { show: false }, size: 34 },
    ],
    series: [
      {},
      { label: 'W', stroke: COLOURS.lit, width: 1.5, points: { show: sparse } },
      { label: '%', scale: 'pct', stroke: '#7cc4ff', width: 1, dash: [4, 3], points: { show: sparse } },
    ],
  }, [times, power, history.series.dim_pct || times.map(() => null)], box);
}

async function alarmsOf(box, lampId, goToAlarm) {
  const alarms = await all('/alarms', { asset: `lamp:${lampId}`, state: 'open' }).catch(() => []);
  if (!alarms.length) {
    box.replaceChildren(h('p', { class: 'muted' }, t('lamp.none')));
    return;
  }
  const orders = await Promise.all(alarms.map((a) => (a.work_order
    ? get(`/workorders/${a.work_order}`).catch(() => null) : null)));
  box.replaceChildren(h('ul', { class: 'alarm-list' }, alarms.map((a, k) => h('li', { dataset: { alarm: a.id } },
    h('span', { class: `sev sev-${a.severity}` }, t(`severity.${a.severity}`)), ' ',
    h('a', { href: '#', onclick: (e) => { e.preventDefault(); goToAlarm(a.id); } }, `${a.id} ${t(`type.${a.type}`)}`),
    ' ', h('span', { class: 'chip' }, t(`alarm.${a.state}`)),
    orders[k] && h('div', { class: 'muted' }, `${t('lamp.order')} ${orders[k].id}: ${t(`order.${orders[k].state}`)}`,
      orders[k].overdue ? h('strong', { class: 'bad' }, ` ${t('order.overdue')}`) : '',
      ` · ${fmtTime(orders[k].deadline)}`)))));
}

/** Fill `panel` with lamp row `i` of `district`; returns what stops following it. */
export async function showLamp(panel, i, { district, names, goToAlarm, close }) {
  const lampId = district.lamps.id[i];
  const live = h('p', { class: 'live-state' }, badge(district.stateOf(lampId)));
  const stateBox = h('div', { class: 'state-box' });
  const chartBox = h('div', { class: 'chart' });
  const alarmBox = h('div');
  panel.replaceChildren(
    h('header', {}, h('h3', {}, t('lamp.title', { id: lampId })),
      h('button', { class: 'close', onclick: close, title: '×' }, '×')),
    live, stateBox,
    h('h4', {}, t('lamp.history')), chartBox,
    h('h4', {}, t('lamp.alarms')), alarmBox);
  panel.dataset.lamp = lampId;
  panel.hidden = false;

  const lamp = await get(`/lamps/${encodeURIComponent(lampId)}`).catch(() => null);
  const refresh = async () => {
    const state = await get(`/lamps/${encodeURIComponent(lampId)}/state`);
    clear(stateBox, 
      lamp && facts([
        [t('lamp.site'), `${names.site(lamp.site)} (${lamp.site})`],
        [t('lamp.cabinet'), lamp.cabinet], [t('lamp.circuit'), lamp.circuit],
        [t('lamp.rated'), `${lamp.rated_power_w} W`]]),
      compare(state));
  };
  await refresh();
  if (may('override')) {
    panel.append(h('details', {}, h('summary', {}, t('lamp.override')),
      overrideForm({ groups: [`lamp:${lampId}`] })));
  }
  chart(chartBox, lampId, district.now());
  alarmsOf(alarmBox, lampId, goToAlarm);

  // follow the lamp while the panel shows it: its state at once, the rest fetched again
  let timer = 0;
  const stop = district.on((what, change) => {
    if (what === 'cabinets') return;
    if (what === 'alarm') {
      if (change.asset.kind === 'lamp' && change.asset.id === lampId) alarmsOf(alarmBox, lampId, goToAlarm);
      return;
    }
    if (what === 'lamps' && !change.rows.includes(district.lamps.row.get(lampId))) return;
    live.replaceChildren(badge(district.stateOf(lampId)));
    clearTimeout(timer);
    timer = setTimeout(() => { refresh(); alarmsOf(alarmBox, lampId, goToAlarm); }, 300);
  });
  return () => { stop(); clearTimeout(timer); };
}
