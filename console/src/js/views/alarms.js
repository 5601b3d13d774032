// The alarm queue: open root alarms, worst severity first and oldest first within it, with
// the alarms linked under each (its consequences) folded into its row. A row opens to the
// alarm's steps, its consequences and its work order, and to the crew's steps: acknowledge,
// comment, dispatch the work order, report it repaired, close. A maintainer's list holds its
// own sites only: the API answers it so. The list follows the event stream's alarm events.

import { all, current, get, may, post } from '../api.js';
import { clear, fmtAge, fmtTime, h, toast } from '../dom.js';
import { t, units } from '../i18n.js';

const RANK = { emergency: 0, serious: 1, ordinary: 2 };
const SHOWN = 300; // rows drawn; the most severe and oldest come first

export class AlarmsView {
  constructor(root, { district, names, showOnMap }) {
    Object.assign(this, { root, district, names, showOnMap });
    this.alarms = [];
    this.open = null; // the alarm whose row is open
    this.visible = false;
    this.stale = true;
  }

  async show(alarmId = null) {
    this.visible = true;
    if (alarmId) this.open = alarmId;
    if (this.stale) await this.load();
    else this.render();
  }

  hide() { this.visible = false; }

  /** An alarm event from the stream: the list is out of date. */
  heard() {
    this.stale = true;
    if (!this.visible) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), 400);
  }

  async load() {
    this.stale = false;
    const open = await all('/alarms', { state: 'open' });
    const ids = new Set(open.map((a) => a.id));
    const children = new Map();
    const roots = [];
    for (const alarm of open) {
      if (alarm.parent && ids.has(alarm.parent)) {
        if (!children.has(alarm.parent)) children.set(alarm.parent, []);
        children.get(alarm.parent).push(alarm);
      } else roots.push(alarm);
    }
    roots.sort((a, b) => RANK[a.severity] - RANK[b.severity] || Date.parse(a.raised_at) - Date.parse(b.raised_at));
    this.alarms = roots;
    this.children = children;
    this.render();
  }

  render() {
    const now = this.district.now();
    const head = h('header', { class: 'view-head' },
      h('h2', {}, t('alarms.title'), h('span', { class: 'count' }, ` ${this.alarms.length}`)),
      h('button', { onclick: () => this.load() }, t('alarms.refresh')),
      current()?.role === 'maintainer' ? h('span', { class: 'muted' }, t('alarms.scope')) : null);
    const rows = this.alarms.slice(0, SHOWN).flatMap((a) => {
      const kids = this.children.get(a.id) || [];
      const row = h('tr', { class: `alarm sev-row-${a.severity}${this.open === a.id ? ' open' : ''}`,
        dataset: { alarm: a.id, asset: a.asset, state: a.state },
        onclick: () => { this.open = this.open === a.id ? null : a.id; this.render(); } },
      h('td', {}, h('span', { class: `sev sev-${a.severity}` }, t(`severity.${a.severity}`))),
      h('td', {}, t(`type.${a.type}`)),
      h('td', {}, a.asset),
      h('td', {}, this.names.site(a.site)),
      h('td', {}, fmtAge((now - Date.parse(a.raised_at)) / 1000, units())),
      h('td', {}, h('span', { class: `chip st-${a.state}` }, t(`alarm.${a.state}`))),
      h('td', {}, a.work_order || '–'),
      h('td', {}, kids.length ? t('alarms.children', { n: kids.length }) : ''));
      if (this.open !== a.id) return [row];
      const cell = h('td', { colSpan: 8 });
      this.detail(cell, a, kids);
      return [row, h('tr', { class: 'detail' }, cell)];
    });
    clear(this.root, head, this.alarms.length
      ? h('table', { class: 'grid alarms' },
        h('thead', {}, h('tr', {}, ['severity', 'type', 'asset', 'site', 'age', 'state', 'order', ''].map(
          (k) => h('th', {}, k ? t(`alarms.${k}`) : '')))),
        h('tbody', {}, rows))
      : h('p', { class: 'muted' }, t('alarms.none')),
    this.alarms.length > SHOWN ? h('p', { class: 'muted' }, t('alarms.more', { n: this.alarms.length - SHOWN })) : null);
  }

  async detail(cell, alarm, kids) {
    const [full, order] = await Promise.all([
      get(`/alarms/${alarm.id}`),
      alarm.work_order ? get(`/workorders/${alarm.work_order}`).catch(() => null) : null,
    ]);
    const note = h('input', { name: 'note', placeholder: t('alarms.note'), maxLength: 400 });
    const to = h('input', { name: 'to', placeholder: t('alarms.to'), maxLength: 80 });
    const step = (label, action, path, body, ok = true) => ok && h('button', {
      dataset: { action },
      onclick: async (e) => {
        e.stopPropagation();
        try {
          await post(path, body());
          toast(t('alarms.done', { what: label }));
          await this.load();
        } catch (error) {
          toast(t('error.generic', { message: error.message }), true);
        }
      },
    }, label);
    const text = () => ({ note: note.value.trim() });
    const actions = may('crew') ? h('div', { class: 'actions', onclick: (e) => e.stopPropagation() },
      note,
      step(t('alarms.ack'), 'ack', `/alarms/${alarm.id}/ack`, text, full.state === 'raised'),
      step(t('alarms.comment'), 'comment', `/alarms/${alarm.id}/comment`, text),
      step(t('alarms.close'), 'close', `/alarms/${alarm.id}/close`, text, full.state === 'cleared'),
      order?.state === 'registered' ? [to, step(t('alarms.dispatch'), 'dispatch',
        `/workorders/${order.id}/dispatch`, () => ({ to: to.value.trim(), note: note.value.trim() }))] : null,
      step(t('alarms.repaired'), 'repaired', `/workorders/${order?.id}/repaired`, text, order?.state === 'dispatched'),
      step(t('order.closed'), 'close-order', `/workorders/${order?.id}/close`, text, order?.state === 'verified'))
      : null;
    const [kind, id] = alarm.asset.split(':');
    clear(cell, 
      h('p', {}, full.detail || '', ' ',
        kind === 'lamp' ? h('a', { href: '#', onclick: (e) => { e.preventDefault(); this.showOnMap(id); } }, t('alarms.show')) : null),
      actions,
      kids.length ? h('ul', { class: 'children' }, kids.map((k) => h('li', {},
        `${k.id} ${t(`type.${k.type}`)} ${k.asset} · ${t(`alarm.${k.state}`)}`))) : null,
      order && h('p', {}, `${t('lamp.order')} ${order.id}: ${t(`order.${order.state}`)} · ${fmtTime(order.deadline)}`,
        order.overdue ? h('strong', { class: 'bad' }, ` ${t('order.overdue')}`) : ''),
      h('h4', {}, t('alarms.history')),
      h('ol', { class: 'steps' }, [...full.transitions, ...(order?.transitions || [])]
        .sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
        .map((s) => h('li', {}, `${fmtTime(s.at, true)} · ${s.by} · ${s.change}${s.note ? `: ${s.note}` : ''}`))));
  }
}
