// The console: log in, then the map, the alarm queue, overrides and plan, and sites, all from
// the API's JSON and its event stream.

import * as api from './api.js';
import { District, ORDER, COLOURS } from './district.js';
import { h, setZone, toast } from './dom.js';
import { getLang, onLang, setLang, t, translate } from './i18n.js';
import * as programme from './programme.js';
import { LampMap } from './map/map.js';
import { Names } from './names.js';
import { showCabinet } from './panels/cabinet.js';
import { showLamp } from './panels/lamp.js';
import { showSelection } from './panels/selection.js';
import { follow } from './stream.js';
import { AlarmsView } from './views/alarms.js';
import { OverridesView } from './views/overrides.js';
import { SitesView } from './views/sites.js';

const $ = (id) => document.getElementById(id);
const app = { district: new District(), views: {}, stream: null, current: 'map' };
window.streetlight = app; // for the tests and the benchmark: the map, the district, the views

function legend() {
  $('legend').replaceChildren(...ORDER.map((name) => h('span', { class: 'key' },
    h('i', { style: `background:${COLOURS[name]}` }), t(`state.${name}`))));
}

function who() {
  const s = api.current();
  $('who').textContent = s ? `${s.name} · ${t(`role.${s.role}`)}` : '';
  document.body.dataset.role = s?.role || '';
}

function setLive(state) {
  $('live').dataset.state = state;
  $('live').textContent = t(`live.${state}`);
}

// --- the map's side panel -------------------------------------------------------------------

let closePanel = () => {};
function panelDone() {
  closePanel();
  closePanel = () => {};
  $('panel').hidden = true;
  app.map.selected = null;
  app.map.chosen = null;
  app.map.redraw();
}

async function pickLamp(i) {
  if (!app.ctx) return; // the tree (names) is still on its way
  panelDone();
  app.map.selected = i;
  closePanel = await showLamp($('panel'), i, { ...app.ctx, close: panelDone });
}

function findLamp(id) {
  const i = app.district.lamps?.row.get(id.trim());
  if (i === undefined) { toast(t('map.not_found', { id }), true); return; }
  app.map.focus(i);
  pickLamp(i);
}

// --- views ----------------------------------------------------------------------------------

function showView(name, ...args) {
  for (const button of $('tabs').children) button.classList.toggle('on', button.dataset.view === name);
  for (const section of document.querySelectorAll('.view')) section.classList.toggle('on', section.id === `view-${name}`);
  if (app.current !== name) app.views[app.current]?.hide();
  app.current = name;
  if (name === 'map') app.map.resize();
  else app.views[name]?.show(...args);
}

// --- the stream: a fresh district at each (re)connection, changes queued meanwhile ---------

function startStream() {
  let loading = null;
  let queued = [];
  let painted;
  const loaded = new Promise((resolve) => { painted = resolve; });
  const load = () => {
    queued = [];
    const mine = app.district.load()
      .catch((error) => toast(t('error.generic', { message: error.message }), true))
      .finally(() => {
        if (loading !== mine) return; // a later hello's load took over
        loading = null;
        for (const data of queued) app.district.apply(data);
        queued = [];
        painted();
      });
    loading = mine;
  };
  app.stream = follow({
    status: setLive,
    event(name, data) {
      if (name === 'hello') load();
      else if (name === 'state') {
        if (loading) queued.push(data); else app.district.apply(data);
      } else if (name === 'alarm') {
        app.district.alarm(data);
        app.views.alarms?.heard(data);
        if (data.state === 'raised' && !data.parent) {
          toast(t('alarms.new', { type: t(`type.${data.type}`), asset: `${data.asset.kind}:${data.asset.id}` }), true);
        }
      }
    },
  });
  return loaded; // the first load of the district applied
}

async function start() {
  who();
  // the map first: the tree of names (a heavier call for the API) waits for its paint
  const first = startStream();
  await Promise.race([first, new Promise((resolve) => { setTimeout(resolve, 5000); })]);
  const [tree, config] = await Promise.all([
    api.get('/assets/tree', { counts: true }),
    fetch('/console/config.json').then((r) => r.json()).catch(() => ({})),
  ]);
  setZone(tree.district?.timezone);
  const names = new Names(tree);
  app.ctx = {
    district: app.district, names,
    goToAlarm: (id) => showView('alarms', id),
  };
  app.views.alarms = new AlarmsView($('view-alarms'), { ...app.ctx, showOnMap: (id) => { showView('map'); findLamp(id); } });
  app.views.overrides = new OverridesView($('view-overrides'), app.ctx);
  app.views.sites = new SitesView($('view-sites'), { ...app.ctx,
    showSite: (site) => { showView('map'); app.map.fitSite(site); } });
  if (config.tile_url) {
    app.map.base.setTiles(config.tile_url);
    $('attribution').textContent = config.tile_attribution || '';
  }
  programme.roads().then((roads) => roads && app.map.base.setRoads(roads)).catch(() => {});
  programme.darkRoads().then((gaps) => gaps && app.map.base.setDarkRoads(gaps)).catch(() => {});
}

function askLogin(again = false, name = '') {
  $('login-error').textContent = again ? t('login.again') : '';
  const form = $('login-form');
  if (name) form.username.value = name;
  if (!$('login').open) $('login').showModal();
}

function wire() {
  translate(document);
  legend();
  $('lang').textContent = t('lang.other');
  $('lang').addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));
  onLang(() => {
    $('lang').textContent = t('lang.other');
    legend();
    who();
    setLive($('live').dataset.state);
    if (app.current !== 'map') app.views[app.current]?.show();
  });
  for (const button of $('tabs').children) button.addEventListener('click', () => showView(button.dataset.view));
  $('logout').addEventListener('click', async () => {
    app.stream?.stop();
    await api.logout();
    location.reload();
  });
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await api.login(form.username.value, form.password.value);
    } catch (error) {
      $('login-error').textContent = error.status === 401 ? t('login.wrong') : error.message;
      return;
    }
    form.password.value = '';
    $('login').close();
    app.stream?.stop(); // a stream of the refused token may be waiting to reconnect
    if (app.ctx) { who(); startStream(); } else start();
  });
  $('login').addEventListener('cancel', (event) => event.preventDefault());
  api.whenUnauthorized((name) => askLogin(true, name));

  app.map = new LampMap($('map'), app.district, {
    lamp: pickLamp,
    cabinet: (j) => {
      panelDone();
      if (app.ctx) showCabinet($('panel'), j, { ...app.ctx, close: panelDone });
    },
    box: (rows) => {
      const area = app.map.chosen;
      panelDone();
      app.map.chosen = area;
      if (rows.length && app.ctx) showSelection($('panel'), rows, { ...app.ctx, close: panelDone });
    },
  });
  $('fit').addEventListener('click', () => app.map.fitAll());
  $('box').addEventListener('click', () => {
    app.map.boxMode = !app.map.boxMode;
    $('box').classList.toggle('on', app.map.boxMode);
  });
  $('find').addEventListener('submit', (event) => { event.preventDefault(); findLamp(event.target.q.value); });
  $('find').q.addEventListener('input', (event) => {
    const q = event.target.value.trim().toUpperCase();
    const ids = app.district.lamps?.id || [];
    const hits = q.length < 3 ? [] : ids.filter((id) => id.includes(q)).slice(0, 20);
    $('find-list').replaceChildren(...hits.map((id) => h('option', { value: id })));
  });
  setLive('off');
}

wire();
if (api.current()) start().catch(() => askLogin(true, api.current()?.name)); else askLogin();
