// Small DOM helpers: build elements, format times in the district's zone.

/** h('button', {class: 'x', onclick}, 'text', child) -> element */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && key !== 'list') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  el.append(...present(children));
  return el;
}

/** Children to add: arrays flattened; null, undefined and false left out. */
function present(children) {
  return children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
}

/** Replace the children of `el`, as h() takes them. */
export function clear(el, ...children) {
  el.replaceChildren(...present(children));
  return el;
}

let zone = 'Asia/Shanghai';
export function setZone(tz) { zone = tz || zone; }
export function getZone() { return zone; }

/** "2026-12-21 21:04" in the district's time zone. */
export function fmtTime(iso, withSeconds = false) {
  if (!iso) return '–';
  const d = new Date(iso);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(d).map((p) => [p.type, p.value]));
  const time = `${parts.hour}:${parts.minute}${withSeconds ? `:${parts.second}` : ''}`;
  return `${parts.year}-${parts.month}-${parts.day} ${time}`;
}

/** The local date (YYYY-MM-DD) of a moment in the district's zone, and its hour. */
export function localDate(ms) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, hour: Number(parts.hour) };
}

/** A duration in seconds as "3 h 5 min" / "2 d 4 h". */
export function fmtAge(seconds, units) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} ${units.s}`;
  if (s < 3600) return `${Math.floor(s / 60)} ${units.min}`;
  if (s < 86400) return `${Math.floor(s / 3600)} ${units.h} ${Math.floor((s % 3600) / 60)} ${units.min}`;
  return `${Math.floor(s / 86400)} ${units.d} ${Math.floor((s % 86400) / 3600)} ${units.h}`;
}

let toastTimer = 0;
export function toast(text, bad = false) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.className = bad ? 'show bad' : 'show';
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = ''; }, bad ? 6000 : 3000);
}
