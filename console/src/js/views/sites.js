// Sites: what exists today — each site's place, maintainer, lamps by status (planned,
// installed, retired: the asset tree's counts) and by live state (the map's columns) — and
// the places kept for the renovation programme (issue 18): survey counts, dark roads,
// acceptance status with its report, and the monthly report. Those read the routes named in
// programme.js and show "coming" until the API has them.

import { ApiError } from '../api.js';
import { BAD, COLOURS, ORDER } from '../district.js';
import { clear, h, localDate, toast } from '../dom.js';
import { t } from '../i18n.js';
import * as programme from '../programme.js';
import { badge } from '../panels/lamp.js';

const SHOWN = 400; // rows drawn at once; the filter finds the rest

function pending() {
  return h('span', { class: 'pending', title: t('sites.pending') }, t('sites.pending'));
}

function stateBar(counts) {
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  return h('span', { class: 'bar-states', title: ORDER.filter((_, s) => counts[s])
    .map((name) => `${t(`state.${name}`)} ${counts[ORDER.indexOf(name)]}`).join(' · ') },
  ORDER.map((name, s) => (counts[s] ? h('i', { style: `width:${(100 * counts[s]) / total}%;background:${COLOURS[name]}` }) : null)));
}

/** The latest acceptance run: its verdict, window and criteria, and its report (opened with the
 * login's token); "not yet" before the first run. */
function acceptance(result) {
  if (!result) return pending();
  if (result.status === 'none') return h('span', { class: 'chip acc-none' }, t('acc.none'));
  const open = (href) => async () => {
    try {
      await programme.openReport(href);
    } catch (error) {
      toast(t('error.generic', { message: error.message }), true);
    }
  };
  return h('span', { class: 'acceptance' },
    h('span', { class: `chip acc-${result.status}` }, t(`acc.${result.status}`)),
    ` ${result.window.from} – ${result.window.to} `,
    ['pdf', 'html'].map((format) => result.report?.[format]
      && h('button', { class: 'link', onclick: open(result.report[format]) }, format.toUpperCase())),
    h('ol', { class: 'criteria' }, result.criteria.map((c) => h('li', { class: c.passed ? 'ok' : 'bad' },
      `${c.passed ? '✓' : '✗'} ${t(`acc.criterion.${c.key}`)}`))));
}

export class SitesView {
  constructor(root, { district, names, showSite }) {
    Object.assign(this, { root, district, names, showSite });
    this.filter = '';
    this.open = null;
  }

  async show() {
    [this.survey, this.gaps] = await Promise.all([
      programme.surveyBySite().catch(() => null), programme.darkRoads().catch(() => null)]);
    this.render();
  }

  hide() {}

  render() {
    const counts = this.district.countsBySite();
    const index = new Map(this.district.sites.map((id, k) => [id, k]));
    const needle = this.filter.toLowerCase();
    const sites = [...this.names.sites.values()].filter((s) => !needle
      || `${s.id} ${s.name} ${s.community.name} ${s.subdistrict.name}`.toLowerCase().includes(needle));
    const filter = h('input', { type: 'search', placeholder: t('sites.filter'), value: this.filter,
      oninput: (e) => { this.filter = e.target.value; clearTimeout(this.typing); this.typing = setTimeout(() => this.render(), 200); } });
    const rows = sites.slice(0, SHOWN).flatMap((site) => {
      const live = index.has(site.id) ? counts[index.get(site.id)] : new Uint32Array(ORDER.length);
      const bad = ORDER.reduce((n, name, s) => n + (BAD.has(name) ? live[s] : 0), 0);
      const survey = this.survey?.get(site.id);
      const status = site.lamps ? `${site.lamps.planned} / ${site.lamps.installed} / ${site.lamps.retired}` : '–';
      const row = h('tr', { dataset: { site: site.id }, onclick: () => { this.open = this.open === site.id ? null : site.id; this.render(); } },
        h('td', {}, site.id), h('td', {}, site.name),
        h('td', {}, `${site.community.name} · ${site.subdistrict.name}`),
        h('td', {}, t(`category.${site.category}`)), h('td', {}, t(`road.${site.road_class}`)),
        h('td', {}, this.names.maintainer(site.maintainer)),
        h('td', {}, status),
        h('td', {}, stateBar(live), bad ? h('strong', { class: 'bad' }, ` ${bad}`) : ''),
        h('td', {}, survey ? `${survey.planned} / ${survey.installed} / ${survey.registered} / ${survey.reporting}` : pending()));
      if (this.open !== site.id) return [row];
      const cell = h('td', { colSpan: 9 });
      this.detail(cell, site, live);
      return [row, h('tr', { class: 'detail' }, cell)];
    });
    clear(this.root,
      h('header', { class: 'view-head' }, h('h2', {}, t('sites.title'), h('span', { class: 'count' }, ` ${sites.length}`)), filter),
      this.monthly(),
      h('table', { class: 'grid sites' },
        h('thead', {}, h('tr', {}, ['', 'sites.name', 'scope.community', 'sites.category', 'sites.road', 'sites.maintainer',
          'sites.status', 'sites.states', 'sites.survey'].map((k) => h('th', {}, k ? t(k) : '')))),
        h('tbody', {}, rows)));
  }

  async detail(cell, site, live) {
    const gaps = this.gaps?.features?.filter((f) => f.properties?.site === site.id);
    const metres = gaps?.reduce((m, f) => m + (f.properties.length_m || 0), 0);
    const accept = h('span', {}, '…');
    clear(cell, 
      h('p', {}, ORDER.filter((_, s) => live[s]).map((name) => [badge(name), ` ${live[ORDER.indexOf(name)]} `]),
        h('button', { onclick: () => this.showSite(site.id) }, t('alarms.show'))),
      h('dl', { class: 'facts' },
        h('dt', {}, t('sites.dark_roads')), h('dd', {}, gaps ? `${gaps.length} · ${Math.round(metres)} m` : pending()),
        h('dt', {}, t('sites.acceptance')), h('dd', {}, accept)));
    try {
      clear(accept, acceptance(await programme.acceptance(site.id)));
    } catch (error) {
      accept.replaceChildren(t('error.generic', { message: error.message }));
    }
  }

  monthly() {
    const { date } = localDate(this.district.now());
    const month = h('input', { type: 'month', value: date.slice(0, 7) });
    const sub = h('select', {}, h('option', { value: '' }, t('scope.district')),
      this.names.ids('subdistrict').map(([id, name]) => h('option', { value: id }, name)));
    const download = (format) => h('button', { onclick: async () => {
      try {
        await programme.downloadMonthly(month.value, sub.value, format);
      } catch (error) {
        toast(error instanceof ApiError && error.status === 404 ? t('sites.pending')
          : t('error.generic', { message: error.message }), true);
      }
    } }, format.toUpperCase());
    return h('div', { class: 'monthly' }, h('strong', {}, t('sites.report')), ' ', month, sub,
      ['pdf', 'html', 'csv'].map(download));
  }
}
