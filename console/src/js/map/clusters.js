// Lamps gathered into grid cells per zoom level, for a map that stays readable and fast at
// 100,000 lamps.
//
// At integer zoom level L the world is cut into cells of CELL_PX screen pixels; each cell
// keeps its lamps' count per state, the mean of their positions (where the cluster is drawn)
// and one lamp (drawn alone when the cell holds only it). A level is built the first time it
// is shown, or before that while the page is idle (one pass over the lamps, some tens of ms
// at 100,000: a zoom should not wait for it), and then kept: a lamp's change of state moves
// one count in each kept level, so live updates never rebuild anything.

export const CELL_PX = 56;
export const SINGLE_ZOOM = 17; // from this level on every lamp is drawn by itself
const idle = window.requestIdleCallback || ((f) => setTimeout(f, 50));

export class Clusters {
  constructor(lamps, states) {
    this.lamps = lamps;
    this.states = states; // how many state codes
    this.levels = new Map();
  }

  level(L) {
    let grid = this.levels.get(L);
    if (!grid) {
      grid = this.build(L);
      this.levels.set(L, grid);
    }
    return grid;
  }

  /** Build the levels not built yet, nearest to `from` first, one per idle moment. */
  prebuild(from) {
    const todo = [];
    for (let d = 1; d < SINGLE_ZOOM; d += 1) todo.push(from + d, from - d);
    const next = () => {
      let L;
      do L = todo.shift(); while (L !== undefined && (L < 0 || L >= SINGLE_ZOOM || this.levels.has(L)));
      if (L === undefined) return;
      this.level(L);
      idle(next);
    };
    idle(next);
  }

  build(L) {
    const { n, x, y, state } = this.lamps;
    const S = this.states;
    const perWorld = (256 * 2 ** L) / CELL_PX; // cells across the world
    const cellOf = new Int32Array(n);
    const index = new Map();
    const sx = [];
    const sy = [];
    const first = [];
    let counts = new Uint32Array(1024 * S);
    for (let i = 0; i < n; i += 1) {
      const key = Math.floor((y[i] / 256) * perWorld) * perWorld + Math.floor((x[i] / 256) * perWorld);
      let c = index.get(key);
      if (c === undefined) {
        c = sx.length;
        index.set(key, c);
        sx.push(0);
        sy.push(0);
        first.push(i);
        if ((c + 1) * S > counts.length) {
          const grown = new Uint32Array(counts.length * 2);
          grown.set(counts);
          counts = grown;
        }
      }
      cellOf[i] = c;
      sx[c] += x[i];
      sy[c] += y[i];
      counts[c * S + state[i]] += 1;
    }
    const cells = sx.length;
    const total = new Uint32Array(cells);
    const cx = new Float64Array(cells);
    const cy = new Float64Array(cells);
    for (let c = 0; c < cells; c += 1) {
      for (let s = 0; s < S; s += 1) total[c] += counts[c * S + s];
      cx[c] = sx[c] / total[c];
      cy[c] = sy[c] / total[c];
    }
    return { L, cells, cellOf, cx, cy, total, counts, first: Int32Array.from(first) };
  }

  /** Lamp `i` went from state code `old` to its present one. */
  moved(i, old) {
    const now = this.lamps.state[i];
    for (const grid of this.levels.values()) {
      const c = grid.cellOf[i];
      grid.counts[c * this.states + old] -= 1;
      grid.counts[c * this.states + now] += 1;
    }
  }
}
