// The map's base: the district's roads (GeoJSON centre lines, from the inventory once it has
// them), dark-road stretches over them, and, only when the deployment names one, raster tiles
// from a tile server ({z}/{x}/{y}). A closed network needs no tiles: the roads are the base.

import { project } from '../district.js';

const ROAD_WIDTH = { main: 3, secondary: 2.4, branch: 1.8, residential_path: 1.2 };
const TILE_CACHE = 256;

/** GeoJSON lines as projected polylines with their bounding boxes. */
export function lines(geojson) {
  const out = [];
  for (const feature of geojson?.features || []) {
    const g = feature.geometry;
    if (!g) continue;
    const parts = g.type === 'LineString' ? [g.coordinates]
      : g.type === 'MultiLineString' ? g.coordinates : [];
    for (const part of parts) {
      const xy = new Float64Array(part.length * 2);
      let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
      part.forEach(([lon, lat], k) => {
        const [x, y] = project(lon, lat);
        xy[2 * k] = x; xy[2 * k + 1] = y;
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      });
      out.push({ xy, box: [x0, y0, x1, y1], props: feature.properties || {} });
    }
  }
  return out;
}

export class Base {
  constructor(redraw) {
    this.redraw = redraw;
    this.roads = [];
    this.darkRoads = [];
    this.tileUrl = null;
    this.tiles = new Map();
  }

  setRoads(geojson) { this.roads = lines(geojson); this.redraw(); }
  setDarkRoads(geojson) { this.darkRoads = lines(geojson); this.redraw(); }
  setTiles(url) { this.tileUrl = url; this.redraw(); }

  draw(ctx, view) {
    if (this.tileUrl) this.drawTiles(ctx, view);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    const widen = Math.max(0.6, Math.min(2.5, 2 ** (view.z - 16)));
    this.stroke(ctx, view, this.roads, (p) => [this.tileUrl ? 'rgba(40,48,64,.55)' : '#323b4b',
      (ROAD_WIDTH[p.road_class] || 1.5) * widen]);
    ctx.setLineDash([6, 4]);
    this.stroke(ctx, view, this.darkRoads, () => ['#ff4d4f', 3]);
    ctx.setLineDash([]);
  }

  stroke(ctx, view, polylines, style) {
    const [x0, y0, x1, y1] = view.bounds();
    for (const line of polylines) {
      const [a, b, c, d] = line.box;
      if (c < x0 || a > x1 || d < y0 || b > y1) continue;
      const [colour, width] = style(line.props);
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      for (let k = 0; k < line.xy.length; k += 2) {
        const [sx, sy] = view.toScreen(line.xy[k], line.xy[k + 1]);
        if (k === 0) ctx.moveTo(sx, sy); else ctx.lineTo(sx, sy);
      }
      ctx.stroke();
    }
  }

  drawTiles(ctx, view) {
    const tz = Math.max(0, Math.min(19, Math.round(view.z)));
    const size = 256 / 2 ** tz; // a tile in world units
    const [x0, y0, x1, y1] = view.bounds();
    for (let ty = Math.floor(y0 / size); ty <= Math.floor(y1 / size); ty += 1) {
      for (let tx = Math.floor(x0 / size); tx <= Math.floor(x1 / size); tx += 1) {
        const image = this.tile(tz, tx, ty);
        if (!image?.complete || !image.naturalWidth) continue;
        const [sx, sy] = view.toScreen(tx * size, ty * size);
        const side = size * 2 ** view.z;
        ctx.drawImage(image, sx, sy, side + 0.5, side + 0.5);
      }
    }
  }

  tile(z, x, y) {
    const url = this.tileUrl.replace('{z}', z).replace('{x}', x).replace('{y}', y);
    let image = this.tiles.get(url);
    if (!image) {
      image = new Image();
      image.onload = () => this.redraw();
      image.src = url;
      this.tiles.set(url, image);
      if (this.tiles.size > TILE_CACHE) this.tiles.delete(this.tiles.keys().next().value);
    }
    return image;
  }
}
