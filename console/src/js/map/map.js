// The map: a canvas with the base (roads, tiles), the lamps in clusters or one by one, and
// the cabinets; drag to pan, wheel or double-click to zoom, click to pick, shift-drag (or the
// box tool) to select an area. It draws only when something changed, at most once a frame.

import { Base } from './base.js';
import { Clusters } from './clusters.js';
import { drawLamps, spriteCount } from './draw.js';
import { ORDER } from '../district.js';

const MIN_Z = 3;
const MAX_Z = 21;

export class View {
  constructor() { Object.assign(this, { cx: 128, cy: 128, z: 12, w: 1, h: 1 }); }
  get scale() { return 2 ** this.z; }
  toScreen(x, y) { return [(x - this.cx) * this.scale + this.w / 2, (y - this.cy) * this.scale + this.h / 2]; }
  toWorld(sx, sy) { return [(sx - this.w / 2) / this.scale + this.cx, (sy - this.h / 2) / this.scale + this.cy]; }
  /** The world rectangle on screen, widened by `margin` pixels. */
  bounds(margin = 0) {
    const [x0, y0] = this.toWorld(-margin, -margin);
    const [x1, y1] = this.toWorld(this.w + margin, this.h + margin);
    return [x0, y0, x1, y1];
  }
  zoomAt(sx, sy, dz) {
    const [wx, wy] = this.toWorld(sx, sy);
    this.z = Math.max(MIN_Z, Math.min(MAX_Z, this.z + dz));
    this.cx = wx - (sx - this.w / 2) / this.scale;
    this.cy = wy - (sy - this.h / 2) / this.scale;
  }
  fit([x0, y0, x1, y1], pad = 40) {
    this.cx = (x0 + x1) / 2;
    this.cy = (y0 + y1) / 2;
    const span = Math.max((x1 - x0) / Math.max(1, this.w - 2 * pad), (y1 - y0) / Math.max(1, this.h - 2 * pad));
    this.z = Math.max(MIN_Z, Math.min(18, span > 0 ? Math.log2(1 / span) : 18));
  }
}

export class LampMap {
  constructor(canvas, district, on) {
    Object.assign(this, { canvas, district, on, view: new View(), hits: [], selected: null });
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.base = new Base(() => this.redraw());
    this.boxMode = false;
    this.frames = 0; // drawn frames (the benchmark reads it)
    district.on((what, change) => this.heard(what, change));
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.listen();
    this.resize();
  }

  heard(what, change) {
    if (what === 'alarm') return;
    if (what === 'reset') {
      this.clusters = new Clusters(this.district.lamps, ORDER.length);
      if (!this.placed) { this.fitAll(); this.placed = true; }
      this.clusters.prebuild(Math.floor(this.view.z));
    } else if (what === 'lamps') {
      change.rows.forEach((i, k) => this.clusters.moved(i, change.old[k]));
    }
    this.redraw();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = this.canvas.getBoundingClientRect();
    this.dpr = dpr;
    this.view.dpr = dpr;
    this.view.w = width;
    this.view.h = height;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    if (this.district.lamps && !this.placed) this.fitAll();
    this.redraw();
  }

  redraw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.draw(); });
  }

  draw() {
    const { ctx, view } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#161b24';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height); // every device pixel
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    this.base.draw(ctx, view);
    this.hits = [];
    if (this.district.lamps) drawLamps(ctx, view, this.district, this.clusters, this.hits);
    this.drawSelected();
    if (this.chosen) { // the area selected last, while its panel is open
      const [a, b] = view.toScreen(this.chosen[0], this.chosen[1]);
      const [c, d] = view.toScreen(this.chosen[2], this.chosen[3]);
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = '#7cc4ff';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(a, b, c - a, d - b);
      ctx.setLineDash([]);
    }
    if (this.box) {
      const [a, b, c, d] = this.box;
      ctx.strokeStyle = '#7cc4ff';
      ctx.fillStyle = 'rgba(124,196,255,.12)';
      ctx.lineWidth = 1.5;
      ctx.fillRect(Math.min(a, c), Math.min(b, d), Math.abs(c - a), Math.abs(d - b));
      ctx.strokeRect(Math.min(a, c), Math.min(b, d), Math.abs(c - a), Math.abs(d - b));
    }
    this.frames += 1;
    if (!this.painted && this.district.lamps) { // the first frame with every lamp on it
      this.painted = true;
      requestAnimationFrame(() => performance.mark('streetlight:full-paint'));
    }
  }

  drawSelected() {
    const lamps = this.district.lamps;
    if (this.selected === null || !lamps) return;
    const [x, y] = this.view.toScreen(lamps.x[this.selected], lamps.y[this.selected]);
    this.ctx.strokeStyle = '#ffffff';
    this.ctx.lineWidth = 2;
    this.ctx.beginPath();
    this.ctx.arc(x, y, 11, 0, 2 * Math.PI);
    this.ctx.stroke();
  }

  /** Show every lamp and cabinet (of site index `site`, if given). */
  fitAll(site = null) {
    const { lamps, cabinets } = this.district;
    const box = [Infinity, Infinity, -Infinity, -Infinity];
    for (const cols of [lamps, cabinets]) {
      for (let i = 0; i < cols.n; i += 1) {
        if (site !== null && cols.site[i] !== site) continue;
        box[0] = Math.min(box[0], cols.x[i]); box[1] = Math.min(box[1], cols.y[i]);
        box[2] = Math.max(box[2], cols.x[i]); box[3] = Math.max(box[3], cols.y[i]);
      }
    }
    if (box[0] <= box[2]) this.view.fit(box);
    this.redraw();
  }

  fitSite(siteId) {
    const site = this.district.sites.indexOf(siteId);
    if (site >= 0) this.fitAll(site);
  }

  /** Centre on lamp row `i` at street level and mark it. */
  focus(i, z = 18) {
    const { x, y } = this.district.lamps;
    Object.assign(this.view, { cx: x[i], cy: y[i], z: Math.max(this.view.z, z) });
    this.selected = i;
    this.redraw();
  }

  get sprites() { return spriteCount(); }

  /** Where lamp `id` is on screen (CSS pixels), or null. */
  screenOf(id) {
    const i = this.district.lamps?.row.get(id);
    return i === undefined ? null : this.view.toScreen(this.district.lamps.x[i], this.district.lamps.y[i]);
  }

  pick(sx, sy) {
    let best = null;
    let distance = Infinity;
    for (const hit of this.hits) {
      const d = Math.hypot(hit.x - sx, hit.y - sy);
      if (d <= hit.r + 4 && d < distance) { best = hit; distance = d; }
    }
    return best;
  }

  /** Lamp rows inside a screen rectangle. */
  inside([a, b, c, d]) {
    const [x0, y0] = this.view.toWorld(Math.min(a, c), Math.min(b, d));
    const [x1, y1] = this.view.toWorld(Math.max(a, c), Math.max(b, d));
    const { n, x, y } = this.district.lamps;
    const rows = [];
    for (let i = 0; i < n; i += 1) if (x[i] >= x0 && x[i] <= x1 && y[i] >= y0 && y[i] <= y1) rows.push(i);
    return rows;
  }

  listen() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      c.setPointerCapture(e.pointerId);
      drag = { x: e.offsetX, y: e.offsetY, moved: false, box: this.boxMode || e.shiftKey };
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.offsetX - drag.x;
      const dy = e.offsetY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      drag.moved = true;
      if (drag.box) {
        this.box = [drag.x, drag.y, e.offsetX, e.offsetY];
      } else {
        this.view.cx -= (e.movementX || 0) / this.view.scale;
        this.view.cy -= (e.movementY || 0) / this.view.scale;
      }
      this.redraw();
    });
    c.addEventListener('pointerup', (e) => {
      const was = drag;
      drag = null;
      if (!was) return;
      if (was.box && was.moved) {
        const rows = this.inside(this.box);
        const [a, b, c, d] = this.box;
        this.chosen = [...this.view.toWorld(Math.min(a, c), Math.min(b, d)),
          ...this.view.toWorld(Math.max(a, c), Math.max(b, d))];
        this.box = null;
        this.redraw();
        this.on.box(rows);
      } else if (!was.moved) this.clicked(e.offsetX, e.offsetY);
    });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.view.zoomAt(e.offsetX, e.offsetY, -e.deltaY * (e.deltaMode ? 0.05 : 0.002));
      this.redraw();
    }, { passive: false });
    c.addEventListener('dblclick', (e) => { this.view.zoomAt(e.offsetX, e.offsetY, 1); this.redraw(); });
    c.addEventListener('keydown', (e) => {
      const step = 80 / this.view.scale;
      const keys = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (keys[e.key]) { this.view.cx += keys[e.key][0]; this.view.cy += keys[e.key][1]; }
      else if (e.key === '+' || e.key === '=') this.view.zoomAt(this.view.w / 2, this.view.h / 2, 1);
      else if (e.key === '-') this.view.zoomAt(this.view.w / 2, this.view.h / 2, -1);
      else return;
      this.redraw();
    });
  }

  clicked(sx, sy) {
    const hit = this.pick(sx, sy);
    if (!hit) return;
    if (hit.kind === 'cluster') {
      this.view.zoomAt(hit.x, hit.y, 2);
      this.redraw();
    } else if (hit.kind === 'lamp') {
      this.selected = hit.i;
      this.redraw();
      this.on.lamp(hit.i);
    } else this.on.cabinet(hit.i);
  }
}
