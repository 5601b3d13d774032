// Overrides and tonight's plan: set an override on a lamp, circuit, site, community or
// subdistrict (level or off, minutes, reason); the active and upcoming ones with who set them
// and when, each cancellable; and a site's plan for tonight (sun times, steps, energy) from
// GET /api/v1/sites/{id}/plan.

import { get, may, post } from '../api.js';
import { clear, fmtTime, h, localDate, toast } from '../dom.js';
import { t } from '../i18n.js';
import { overrideForm } from '../panels/override_form.js';

export class OverridesView {
  constructor(root, { district, names }) {
    Object.assign(this, { root, district, names });
    this.list = h('div');
    this.plan = h('div');
    this.site = null;
  }

  async show() {
    const form = may('override')
      ? overrideForm({ ids: (scope) => this.names.ids(scope), done: () => this.load() })
      : h('p', { class: 'muted' }, t('ov.viewer'));
    const sites = h('select', { name: 'plan-site', onchange: (e) => this.showPlan(e.target.value) },
      this.names.ids('site').map(([id, label]) => h('option', { value: id }, `${id} ${label}`)));
    this.site ||= sites.options[0]?.value;
    sites.value = this.site;
    clear(this.root,
      h('div', { class: 'columns' },
        h('section', {}, h('h2', {}, t('ov.new')), form),
        h('section', {}, h('h2', {}, t('ov.title')), this.list)),
      h('section', {}, h('h2', {}, t('plan.title'), ' ', sites), this.plan));
    await Promise.all([this.load(), this.site ? this.showPlan(this.site) : null]);
  }

  hide() {}

  async load() {
    const [active, upcoming] = await Promise.all([
      get('/overrides', { state: 'active', limit: 1000 }),
      get('/overrides', { state: 'upcoming', limit: 1000 }),
    ]);
    const items = [...active.items, ...upcoming.items];
    const cancel = (o) => may('override') && h('button', {
      dataset: { action: 'cancel' },
      onclick: async () => {
        try {
          await post(`/overrides/${o.id}/cancel`);
          toast(t('ov.cancelled', { id: o.id }));
        } catch (error) {
          toast(t('error.generic', { message: error.message }), true);
        }
        this.load();
      },
    }, t('ov.cancel'));
    clear(this.list, items.length ? h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['ov.group', 'ov.level', 'ov.ends', 'ov.reason', 'ov.by', 'ov.set_at', 'alarms.state', '']
        .map((k) => h('th', {}, k ? t(k) : '')))),
      h('tbody', {}, items.map((o) => h('tr', { dataset: { override: o.id, group: o.group } },
        h('td', {}, this.groupLabel(o.group)),
        h('td', {}, o.level === 'off' ? t('ov.off') : `${o.level} %`),
        h('td', {}, o.ends ? fmtTime(o.ends) : t('ov.forever')),
        h('td', {}, o.reason), h('td', {}, o.by), h('td', {}, fmtTime(o.set_at)),
        h('td', {}, t(`ov.${o.state}`)), h('td', {}, cancel(o))))))
      : h('p', { class: 'muted' }, t('ov.none')));
  }

  groupLabel(group) {
    const [scope, id] = group.split(':');
    const name = scope === 'site' ? this.names.site(id) : '';
    return `${t(`scope.${scope}`)} ${id}${name && name !== id ? ` ${name}` : ''}`;
  }

  /** Tonight: the night that started at local noon before the API's now. */
  async showPlan(site) {
    this.site = site;
    const { date, hour } = localDate(this.district.now());
    const night = hour >= 12 ? date
      : new Date(Date.parse(`${date}T00:00:00Z`) - 86400_000).toISOString().slice(0, 10);
    try {
      const plan = await get(`/sites/${encodeURIComponent(site)}/plan`, { from: night, to: night });
      clear(this.plan, plan.nights.map((n) => h('div', { class: 'night' },
        h('dl', { class: 'facts' },
          h('dt', {}, t('plan.program')), h('dd', {}, n.program ?? '–'),
          h('dt', {}, t('plan.why')), h('dd', {}, n.why),
          h('dt', {}, t('plan.sunset')), h('dd', {}, fmtTime(n.sunset)),
          h('dt', {}, t('plan.sunrise')), h('dd', {}, fmtTime(n.sunrise)),
          h('dt', {}, t('plan.energy')), h('dd', {}, `${n.energy_kwh.toFixed(1)} kWh`)),
        h('h4', {}, t('plan.steps')),
        h('ol', { class: 'steps' }, n.changes.map((c) => h('li', {},
          `${fmtTime(c.at).slice(11)} → ${c.level === 'off' || c.level === null ? t('ov.off') : `${c.level} %`}`))))));
    } catch (error) {
      clear(this.plan, h('p', { class: 'bad' }, t('error.generic', { message: error.message })));
    }
  }
}
