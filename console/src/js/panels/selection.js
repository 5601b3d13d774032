// An area selected on the map: its lamps by state and the sites it touches, and an override
// of those sites (or, for a handful of lamps, of just those lamps). Overrides are set on the
// asset tree's groups, as the controller schedules them, not on arbitrary sets of lamps.

import { may } from '../api.js';
import { ORDER } from '../district.js';
import { clear, h } from '../dom.js';
import { t } from '../i18n.js';
import { badge } from './lamp.js';
import { overrideForm } from './override_form.js';

const MAX_LAMPS = 50; // one override each: beyond this, a group is the right tool

export function showSelection(panel, rows, { district, names, close }) {
  const { site, state, id } = district.lamps;
  const byState = new Uint32Array(ORDER.length);
  const bySite = new Map();
  for (const i of rows) {
    byState[state[i]] += 1;
    bySite.set(site[i], (bySite.get(site[i]) || 0) + 1);
  }
  const totals = new Uint32Array(district.sites.length);
  for (let i = 0; i < district.lamps.n; i += 1) totals[site[i]] += 1;
  const boxes = [...bySite].sort((a, b) => b[1] - a[1]).map(([s, n]) => {
    const siteId = district.sites[s];
    return h('label', { class: 'inline' }, h('input', { type: 'checkbox', checked: true, value: siteId }),
      ` ${names.site(siteId)} (${siteId}) ${n}/${totals[s]}`);
  });
  const onlyLamps = h('input', { type: 'checkbox', disabled: rows.length > MAX_LAMPS });
  const groups = () => (onlyLamps.checked ? rows.map((i) => `lamp:${id[i]}`)
    : boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => `site:${c.value}`));

  clear(panel, 
    h('header', {}, h('h3', {}, t('box.title', { n: rows.length })),
      h('button', { class: 'close', onclick: close }, '×')),
    h('p', {}, ORDER.filter((_, s) => byState[s]).map((name) => [badge(name), ` ${byState[ORDER.indexOf(name)]} `])),
    h('h4', {}, t('box.sites')),
    h('div', { class: 'site-boxes' }, boxes));
  if (may('override')) {
    panel.append(
      h('h4', {}, t('box.override_sites')),
      h('label', { class: 'inline' }, onlyLamps, ` ${t('box.override_lamps')}`),
      rows.length > MAX_LAMPS ? h('p', { class: 'muted' }, t('box.too_many', { n: MAX_LAMPS })) : null,
      overrideForm({ groups }));
  }
  delete panel.dataset.lamp;
  panel.hidden = false;
}
