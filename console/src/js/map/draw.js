// Drawing lamps, clusters and cabinets on a 2D canvas.
//
// Zoomed out, each grid cell with more than one lamp is a ring whose arcs are its lamps'
// states in proportion, its count inside, and a red badge with how many are faulty, dark or
// burning (a single failure must show among thousands). From SINGLE_ZOOM on, or in a cell of
// one, a lamp is a dot of its state's colour (planned: a hollow ring). The number of things
// drawn is bounded by the screen's area, not the district's size, and each is a cached
// bitmap, so a frame costs a few ms at any zoom. Every drawn thing is recorded for picking.

import { BAD, COLOURS, ORDER } from '../district.js';
import { SINGLE_ZOOM } from './clusters.js';

const FILL = ORDER.map((name) => COLOURS[name]);
const PLANNED = ORDER.indexOf('planned');
const BAD_CODES = ORDER.map((name) => BAD.has(name));
const CABINET_ZOOM = 16; // cabinets from street level on (thousands in a district)

const SLOTS = 72; // a ring's arcs, in 72ths of the circle (a state with any lamp gets one)
const SPRITES = 4096;
const sprites = new Map(); // key -> ImageBitmap, oldest first
const easel = new OffscreenCanvas(1, 1);

function compact(n) {
  if (n < 1000) return String(n);
  return n < 10000 ? `${(n / 1000).toFixed(1)}k` : `${Math.round(n / 1000)}k`;
}

/**
 * A cached picture of `half` px around its centre, painted by `paint(ctx, half)` once per
 * key: drawing a bitmap costs a fraction of rasterising arcs and text in software, which is
 * what a browser without a GPU does every frame.
 */
function sprite(key, half, dpr, paint) {
  const name = `${key}@${dpr}`;
  let picture = sprites.get(name);
  if (!picture) {
    const side = Math.ceil(2 * half * dpr);
    easel.width = side; // and cleared
    easel.height = side;
    const ctx = easel.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    paint(ctx, half);
    picture = easel.transferToImageBitmap(); // pixels only: a canvas each would cost far more
    if (sprites.size >= SPRITES) {
      const [oldest, bitmap] = sprites.entries().next().value;
      bitmap.close();
      sprites.delete(oldest);
    }
    sprites.set(name, picture);
  }
  return picture;
}

/** How many pictures are cached (the benchmark reads it). */
export function spriteCount() { return sprites.size; }

function put(ctx, picture, x, y, half) {
  ctx.drawImage(picture, Math.round(x - half), Math.round(y - half), 2 * half, 2 * half);
}

/** Dots of lamps `rows` at screen positions `sx`, `sy`. */
function dots(ctx, rows, sx, sy, state, radius, dpr) {
  const half = Math.ceil(radius + 2);
  const pictures = FILL.map((colour, s) => sprite(`dot:${s}:${radius}`, half, dpr, (g, c) => {
    g.beginPath();
    g.arc(c, c, radius, 0, 2 * Math.PI);
    if (s === PLANNED) {
      g.lineWidth = 1.5;
      g.strokeStyle = colour;
      g.stroke();
    } else {
      g.fillStyle = colour;
      g.fill();
    }
  }));
  for (let k = 0; k < rows.length; k += 1) put(ctx, pictures[state[rows[k]]], sx[k], sy[k], half);
}

function paintCluster(g, c, r, slots, label, badLabel) {
  let angle = -Math.PI / 2;
  g.lineWidth = 5;
  slots.forEach((n, s) => {
    if (!n) return;
    const sweep = (2 * Math.PI * n) / SLOTS;
    g.strokeStyle = FILL[s];
    g.beginPath();
    g.arc(c, c, r, angle, angle + sweep);
    g.stroke();
    angle += sweep;
  });
  g.fillStyle = 'rgba(20,25,34,.88)';
  g.beginPath();
  g.arc(c, c, r - 2.5, 0, 2 * Math.PI);
  g.fill();
  g.font = '600 11px system-ui, "Noto Sans CJK SC", sans-serif';
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.fillStyle = '#e8ecf2';
  g.fillText(label, c, c);
  if (badLabel) {
    const bx = c + r * 0.9;
    const by = c - r * 0.9;
    g.fillStyle = COLOURS.faulty;
    g.beginPath();
    g.arc(bx, by, 6 + 2.5 * badLabel.length, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = '#fff';
    g.fillText(badLabel, bx, by);
  }
}

/** A cluster of `total` lamps whose counts by state start at `counts[offset]`; its radius. */
function cluster(ctx, x, y, counts, offset, total, dpr) {
  const r = Math.round(2 * (11 + 3.5 * Math.log10(total))) / 2;
  const slots = [];
  let bad = 0;
  let given = 0;
  let largest = 0;
  for (let s = 0; s < FILL.length; s += 1) {
    const count = counts[offset + s];
    if (BAD_CODES[s]) bad += count;
    slots.push(count ? Math.max(1, Math.round((SLOTS * count) / total)) : 0);
    given += slots[s];
    if (slots[s] > slots[largest]) largest = s;
  }
  slots[largest] += SLOTS - given; // the rounding's difference goes to the largest arc
  const label = compact(total);
  const badLabel = bad ? compact(bad) : '';
  const badge = badLabel ? 0.9 * r + 6 + 2.5 * badLabel.length + 1 : 0;
  const half = Math.ceil(Math.max(r + 3, badge));
  const key = `c:${r}:${label}:${badLabel}:${slots.join(',')}`;
  put(ctx, sprite(key, half, dpr, (g, c) => paintCluster(g, c, r, slots, label, badLabel)), x, y, half);
  return r;
}

/** Draw the lamps and cabinets in `view`; fill `hits` with what was drawn where. */
export function drawLamps(ctx, view, district, clusters, hits) {
  const lamps = district.lamps;
  const [x0, y0, x1, y1] = view.bounds(24);
  const single = [];
  const sx = [];
  const sy = [];
  const radius = Math.round(2 * Math.max(3, Math.min(7, 3 + (view.z - SINGLE_ZOOM) * 1.5))) / 2;
  const dpr = view.dpr || 1;
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
      const r = cluster(ctx, big[k + 1], big[k + 2], grid.counts, c * S, grid.total[c], dpr);
      hits.push({ kind: 'cluster', i: c, x: big[k + 1], y: big[k + 2], r });
    }
  }
  dots(ctx, single, sx, sy, lamps.state, radius, dpr);
  single.forEach((i, k) => hits.push({ kind: 'lamp', i, x: sx[k], y: sy[k], r: radius }));
  if (view.z >= CABINET_ZOOM) drawCabinets(ctx, view, district.cabinets, hits, [x0, y0, x1, y1]);
}

function drawCabinets(ctx, view, cabinets, hits, [x0, y0, x1, y1]) {
  const side = view.z >= SINGLE_ZOOM ? 12 : 8;
  const half = side / 2 + 1;
  const pictures = FILL.map((colour, s) => sprite(`cab:${s}:${side}`, half, view.dpr || 1, (g, c) => {
    g.fillStyle = '#11151c';
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.fillRect(c - side / 2, c - side / 2, side, side);
    g.strokeRect(c - side / 2 + 1, c - side / 2 + 1, side - 2, side - 2);
  }));
  for (let j = 0; j < cabinets.n; j += 1) {
    const x = cabinets.x[j]; const y = cabinets.y[j];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    const [px, py] = view.toScreen(x, y);
    put(ctx, pictures[cabinets.state[j]], px, py, half);
    hits.push({ kind: 'cabinet', i: j, x: px, y: py, r: half + 1 });
  }
}
