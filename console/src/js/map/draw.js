// Drawing lamps, clusters and cabinets on a 2D canvas.
//
// Zoomed out, each grid cell with more than one lamp is a ring whose arcs are its lamps'
// states in proportion, its count inside, and a red badge with how many are faulty, dark or
// burning (a single failure must show among thousands). From SINGLE_ZOOM on, or in a cell of
// one, a lamp is a dot of its state's colour (planned: a hollow ring). The number of things
// drawn is bounded by the screen's area, not the district's size, so a frame costs a few ms
// at any zoom. Every drawn thing is recorded for picking.

import { BAD, COLOURS, ORDER } from '../district.js';
import { SINGLE_ZOOM } from './clusters.js';

const FILL = ORDER.map((name) => COLOURS[name]);
const PLANNED = ORDER.indexOf('planned');
const BAD_CODES = ORDER.map((name) => BAD.has(name));
const CABINET_ZOOM = 14;

function compact(n) {
  if (n < 1000) return String(n);
  return n < 10000 ? `${(n / 1000).toFixed(1)}k` : `${Math.round(n / 1000)}k`;
}

/** Dots of lamps `rows` (screen positions `sx`, `sy`), batched into one path per state. */
function dots(ctx, rows, sx, sy, state, radius) {
  const paths = FILL.map(() => null);
  for (let k = 0; k < rows.length; k += 1) {
    const s = state[rows[k]];
    const path = paths[s] || (paths[s] = new Path2D());
    path.moveTo(sx[k] + radius, sy[k]);
    path.arc(sx[k], sy[k], radius, 0, 2 * Math.PI);
  }
  ctx.lineWidth = 1.5;
  paths.forEach((path, s) => {
    if (!path) return;
    if (s === PLANNED) {
      ctx.strokeStyle = FILL[s];
      ctx.stroke(path);
    } else {
      ctx.fillStyle = FILL[s];
      ctx.fill(path);
    }
  });
}

function cluster(ctx, x, y, counts, offset, total) {
  const r = 11 + 3.5 * Math.log10(total);
  let angle = -Math.PI / 2;
  let bad = 0;
  ctx.lineWidth = 5;
  for (let s = 0; s < FILL.length; s += 1) {
    const count = counts[offset + s];
    if (!count) continue;
    if (BAD_CODES[s]) bad += count;
    const sweep = (2 * Math.PI * count) / total;
    ctx.strokeStyle = FILL[s];
    ctx.beginPath();
    ctx.arc(x, y, r, angle, angle + sweep);
    ctx.stroke();
    angle += sweep;
  }
  ctx.fillStyle = 'rgba(20,25,34,.88)';
  ctx.beginPath();
  ctx.arc(x, y, r - 2.5, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = '#e8ecf2';
  ctx.fillText(compact(total), x, y);
  if (bad) {
    const bx = x + r * 0.9;
    const by = y - r * 0.9;
    const label = compact(bad);
    const br = 6 + 2.5 * label.length;
    ctx.fillStyle = COLOURS.faulty;
    ctx.beginPath();
    ctx.arc(bx, by, br, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = '#fff';
    ctx.fillText(label, bx, by);
  }
  return r;
}

/** Draw the lamps and cabinets in `view`; fill `hits` with what was drawn where. */
export function drawLamps(ctx, view, district, clusters, hits) {
  const lamps = district.lamps;
  const [x0, y0, x1, y1] = view.bounds(24);
  const single = [];
  const sx = [];
  const sy = [];
  const radius = Math.max(3, Math.min(7, 3 + (view.z - SINGLE_ZOOM) * 1.5));
  ctx.font = '600 11px system-ui, "Noto Sans CJK SC", sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  const L = Math.floor(view.z);
  if (L >= SINGLE_ZOOM) {
    for (let i = 0; i < lamps.n; i += 1) {
      const x = lamps.x[i]; const y = lamps.y[i];
      if (x < x0 || x > x1 || y < y0 || y > y1) continue;
      const [px, py] = view.toScreen(x, y);
      single.push(i); sx.push(px); sy.push(py);
    }
  } else {
    const grid = clusters.level(L);
    const S = ORDER.length;
    const big = [];
    for (let c = 0; c < grid.cells; c += 1) {
      const x = grid.cx[c]; const y = grid.cy[c];
      if (x < x0 || x > x1 || y < y0 || y > y1) continue;
      const [px, py] = view.toScreen(x, y);
      if (grid.total[c] === 1) {
        single.push(grid.first[c]); sx.push(px); sy.push(py);
      } else big.push(c, px, py);
    }
    for (let k = 0; k < big.length; k += 3) {
      const c = big[k];
      const r = cluster(ctx, big[k + 1], big[k + 2], grid.counts, c * S, grid.total[c]);
      hits.push({ kind: 'cluster', i: c, x: big[k + 1], y: big[k + 2], r });
    }
  }
  dots(ctx, single, sx, sy, lamps.state, radius);
  single.forEach((i, k) => hits.push({ kind: 'lamp', i, x: sx[k], y: sy[k], r: radius }));
  if (view.z >= CABINET_ZOOM) drawCabinets(ctx, view, district.cabinets, hits, [x0, y0, x1, y1]);
}

function drawCabinets(ctx, view, cabinets, hits, [x0, y0, x1, y1]) {
  const side = view.z >= SINGLE_ZOOM ? 12 : 8;
  ctx.lineWidth = 2;
  for (let j = 0; j < cabinets.n; j += 1) {
    const x = cabinets.x[j]; const y = cabinets.y[j];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    const [px, py] = view.toScreen(x, y);
    ctx.fillStyle = '#11151c';
    ctx.strokeStyle = FILL[cabinets.state[j]];
    ctx.fillRect(px - side / 2, py - side / 2, side, side);
    ctx.strokeRect(px - side / 2, py - side / 2, side, side);
    hits.push({ kind: 'cabinet', i: j, x: px, y: py, r: side / 2 + 2 });
  }
}
