// A cabinet picked on the map: its state, circuits and open alarms; an override of one of
// its circuits for those who may.

import { all, get, may } from '../api.js';
import { ORDER } from '../district.js';
import { clear, h } from '../dom.js';
import { t } from '../i18n.js';
import { badge } from './lamp.js';
import { overrideForm } from './override_form.js';

export async function showCabinet(panel, j, { district, names, goToAlarm, close }) {
  const cabinetId = district.cabinets.id[j];
  const cabinet = await get(`/cabinets/${encodeURIComponent(cabinetId)}`).catch(() => null);
  const alarms = await all('/alarms', { asset: `cabinet:${cabinetId}`, state: 'open' }).catch(() => []);
  const circuits = (cabinet?.circuits || []).map((c) => (typeof c === 'string' ? c : c.id));
  clear(panel, 
    h('header', {}, h('h3', {}, t('cabinet.title', { id: cabinetId })),
      h('button', { class: 'close', onclick: close }, '×')),
    h('p', {}, badge(ORDER[district.cabinets.state[j]])),
    cabinet && h('dl', { class: 'facts' },
      h('dt', {}, t('lamp.site')), h('dd', {}, `${names.site(cabinet.site)} (${cabinet.site})`),
      h('dt', {}, t('scope.circuit')), h('dd', {}, circuits.join(', '))),
    h('h4', {}, t('lamp.alarms')),
    alarms.length ? h('ul', { class: 'alarm-list' }, alarms.map((a) => h('li', {},
      h('a', { href: '#', onclick: (e) => { e.preventDefault(); goToAlarm(a.id); } },
        `${a.id} ${t(`type.${a.type}`)} · ${t(`alarm.${a.state}`)}`))))
      : h('p', { class: 'muted' }, t('lamp.none')));
  if (may('override') && circuits.length) {
    panel.append(h('details', {}, h('summary', {}, t('ov.new')),
      overrideForm({ ids: (scope) => (scope === 'circuit' ? circuits.map((c) => [c, c]) : []) })));
  }
  delete panel.dataset.lamp;
  panel.hidden = false;
}
