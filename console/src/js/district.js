// The district's live state in columns, as GET /api/v1/district/state gives it, kept up to
// date by the event stream's `state` events.
//
// Lamps are rows: fixed ids, positions (projected once to Web Mercator) and site indexes,
// and a state code per row in a Uint8Array, so 100,000 lamps cost a few MB and a change is
// one cell. Listeners hear `reset` (a fresh load), `lamps` and `cabinets` with the rows
// that changed and each one's code before (`{rows, old}`), and `alarm` with an alarm event.

import { get } from './api.js';

// the state names the API uses, and how the map draws them (worst first for a cluster)
export const COLOURS = {
  faulty: '#ff3b30', dark: '#d81b60', burning: '#ff9a1f', offline: '#8a93a3',
  unknown: '#4b5566', planned: '#b48cf2', dimmed: '#b8892c', lit: '#ffd84d', off: '#3f7fd9',
};
export const ORDER = ['faulty', 'dark', 'burning', 'offline', 'unknown', 'planned', 'dimmed',
  'lit', 'off'];
export const BAD = new Set(['faulty', 'dark', 'burning']);
const UNKNOWN = ORDER.indexOf('unknown');
/** This page's code of a state name (a name it does not know draws as unknown). */
export function codeOf(name) {
  const code = ORDER.indexOf(name);
  return code < 0 ? UNKNOWN : code;
}

export function project(lon, lat) {
  const sin = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * 256, (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * 256];
}

export function unproject(x, y) {
  const lon = (x / 256) * 360 - 180;
  const n = Math.PI - (2 * Math.PI * y) / 256;
  return [lon, (180 / Math.PI) * Math.atan(Math.sinh(n))];
}

function columns(raw, names) {
  const n = raw.id.length;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i += 1) [x[i], y[i]] = project(raw.lon[i], raw.lat[i]);
  const row = new Map();
  raw.id.forEach((id, i) => row.set(id, i));
  // the API's state codes, re-coded to this page's ORDER (so colours index by code)
  const code = Uint8Array.from(raw.state, (c) => codeOf(names[c]));
  return { n, id: raw.id, x, y, site: Int32Array.from(raw.site), state: code, row };
}

export class District {
  constructor() {
    this.listeners = new Set();
    this.lamps = null;
    this.cabinets = null;
    this.sites = [];
    this.at = null;
  }

  on(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }
  tell(what, rows) { for (const listener of this.listeners) listener(what, rows); }

  async load() {
    performance.mark('streetlight:district-asked');
    const raw = await get('/district/state');
    performance.mark('streetlight:district-read');
    this.at = Date.parse(raw.at);
    this.loadedAt = Date.now();
    this.sites = raw.sites;
    this.lamps = columns(raw.lamps, raw.states);
    this.lamps.level = raw.lamps.level;
    this.lamps.power = raw.lamps.power_w;
    this.cabinets = columns(raw.cabinets, raw.states);
    performance.mark('streetlight:district-ready');
    this.tell('reset');
  }

  /** The API's "now": its clock at the last load (or event), moved on by the wall time
   * since. (A simulated district's clock may run faster than the wall's.) */
  now() { return (this.at ?? Date.now()) + (Date.now() - (this.loadedAt ?? Date.now())); }

  /** An alarm event of the stream: its time moves "now" on; listeners hear `alarm`. */
  alarm(event) {
    const at = Date.parse(event.at);
    if (at > this.now()) { this.at = at; this.loadedAt = Date.now(); }
    this.tell('alarm', event);
  }

  /** A `state` event: `{lamps: {id, state, level, power_w}, cabinets: {id, state}}`. */
  apply(event) {
    const lamps = this.lamps;
    const changed = { rows: [], old: [] };
    event.lamps.id.forEach((id, k) => {
      const i = lamps.row.get(id);
      if (i === undefined) return;
      changed.rows.push(i);
      changed.old.push(lamps.state[i]);
      lamps.state[i] = codeOf(event.lamps.state[k]);
      lamps.level[i] = event.lamps.level[k];
      lamps.power[i] = event.lamps.power_w[k];
    });
    if (changed.rows.length) this.tell('lamps', changed);
    const cabinets = { rows: [], old: [] };
    event.cabinets.id.forEach((id, k) => {
      const j = this.cabinets.row.get(id);
      if (j === undefined) return;
      cabinets.rows.push(j);
      cabinets.old.push(this.cabinets.state[j]);
      this.cabinets.state[j] = codeOf(event.cabinets.state[k]);
    });
    if (cabinets.rows.length) this.tell('cabinets', cabinets);
  }

  stateOf(lampId) {
    const i = this.lamps?.row.get(lampId);
    return i === undefined ? null : ORDER[this.lamps.state[i]];
  }

  /** Lamps counted by state name, for every site index. */
  countsBySite() {
    const counts = this.sites.map(() => new Uint32Array(ORDER.length));
    const { n, site, state } = this.lamps;
    for (let i = 0; i < n; i += 1) counts[site[i]][state[i]] += 1;
    return counts;
  }
}
