// Overplotting: density contours over each map, so a million points read as structure (where
// they crowd, how many blobs) rather than a blur, and a draw order that favours no colour.
//
// Contours: the points in view are binned into a screen-space histogram (CELL px cells), blurred
// (d3-array's blur2) and traced with d3-contour at quantiles of the occupied cells' density,
// then drawn as thin dark lines with a faint fill: SVG paths above the WebGL canvas (they take
// no pointer events; SVG, not a second canvas, so '#map-a canvas' still names the map's one).
// They follow the camera (recomputed at most once a frame after it moves), the drawn points,
// and a visibility mask of dataset rows (filters). One toggle for all maps:
// on by default when a map has more than AUTO_MIN_POINTS points, the user's choice kept.
import { blur2 } from 'd3-array';
import { contours } from 'd3-contour';
import type { MapView } from './maps';

/** Histogram cell, in CSS px: fine enough for detail, coarse enough to count several points a cell. */
const CELL = 4;
const SVG_NS = 'http://www.w3.org/2000/svg';
/** Levels, as quantiles of the occupied cells' smoothed density (outermost first). */
const QUANTILES = [0.35, 0.65, 0.85, 0.95];
const MAX_BLUR = 10;   // cells: the widest smoothing (sparse views)
const PAD = 3 * MAX_BLUR + 2;   // cells binned beyond each edge, so no contour closes along the view's edge
const MIN_POINTS = 200;   // fewer points in view: no contours (they would outline single points)
/** Maps with more points than this open with density contours on. */
export const AUTO_MIN_POINTS = 50_000;

let chosen: boolean | null = null;   // the user's choice; null: by the maps' size
let visible: Uint8Array | null = null;   // dataset row -> shown (null: all)
const layers = new Map<MapView, Layer>();
let toggle: HTMLInputElement | null = null;

/** Whether the contours are shown now: the user's choice, else whether a drawn map is large. */
export function getDensity(): boolean {
  if (chosen !== null) return chosen;
  for (const v of layers.keys()) if (v.n > AUTO_MIN_POINTS) return true;
  return false;
}

/** Show (true), hide (false) the contours, or (null) let the maps' size decide, as on opening. */
export function setDensity(on: boolean | null): void {
  chosen = on;
  syncToggle();
  for (const l of layers.values()) l.schedule();
}

/** The user's choice (null when they made none): what the address should keep. */
export function densityChoice(): boolean | null { return chosen; }

/** The page's checkbox: it shows and sets the toggle. */
export function bindDensityToggle(input: HTMLInputElement | null): void {
  toggle = input;
  if (input) input.onchange = () => setDensity(input.checked);
  syncToggle();
}

/** Contours of only the dataset rows whose ``mask`` entry is non-zero (null: every drawn point);
 * call it when a filter hides or shows points. */
export function densityRows(mask: Uint8Array | null): void {
  visible = mask;
  for (const l of layers.values()) l.schedule();
}

/** The map's points changed (drawn, re-coloured or cleared): contours again (maps.ts calls this). */
export function densityChanged(view: MapView): void {
  let l = layers.get(view);
  if (!l) { l = new Layer(view); layers.set(view, l); }
  l.attach();
  syncToggle();
  for (const x of layers.values()) x.schedule();   // a larger map may have switched the default on
}

/** What the last contours were, for tests and benchmarks: levels, cost, points binned, and the
 * innermost level's rings as screen boxes (CSS px). */
export function densityInfo(view: MapView): LayerInfo | null {
  return layers.get(view)?.info ?? null;
}

/** A draw order of a map's points that favours no colour: the points ordered by a fixed shuffle
 * of the dataset's rows (the same item at the same depth in every map), instead of row order,
 * where data sorted by class paint the last class over the rest. Null when the rows are not a
 * set of distinct dataset rows (then the order is kept). */
export function drawOrder(rows: ArrayLike<number>, nDataset: number): Uint32Array | null {
  const n = rows.length;
  const at = new Int32Array(nDataset).fill(-1);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    if (!(r < nDataset) || at[r] >= 0) return null;
    at[r] = i;
  }
  const perm = shuffledRows(nDataset);
  const order = new Uint32Array(n);
  let k = 0;
  for (let j = 0; j < nDataset; j++) {
    const p = at[perm[j]];
    if (p >= 0) order[k++] = p;
  }
  return order;
}

/** A map's coordinates and rows in drawOrder (copies; the arrays themselves when it keeps the order). */
export function inDrawOrder(x: Float32Array, y: Float32Array, rows: Uint32Array, nDataset: number):
  { x: Float32Array; y: Float32Array; rows: Uint32Array } {
  const order = drawOrder(rows, nDataset);
  if (!order) return { x, y, rows };
  const n = order.length;
  const ox = new Float32Array(n), oy = new Float32Array(n), or = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const p = order[i];
    ox[i] = x[p]; oy[i] = y[p]; or[i] = rows[p];
  }
  return { x: ox, y: oy, rows: or };
}

/** How points are made translucent: regl-scatterplot's opacity by the number of points in view
 * (Ricky Reusser's rule), so that dense regions shade by how dense they are instead of
 * saturating to flat colour, sparse maps (and zoomed-in views) stay opaque. The fill is how
 * much of the view the points would cover at the opacity chosen (the library's default, 0.15,
 * leaves a million points too faint to see the outskirts). */
export const POINT_OPACITY = { opacityBy: 'density', opacityByDensityFill: 0.5 } as const;

let shuffleCache: Uint32Array | null = null;
/** 0..n-1 in a fixed pseudo-random order (Fisher-Yates on a seeded mulberry32). */
function shuffledRows(n: number): Uint32Array {
  if (shuffleCache?.length === n) return shuffleCache;
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let s = 0x5eed1e5 >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const j = Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (i + 1));
    const x = p[i]; p[i] = p[j]; p[j] = x;
  }
  shuffleCache = p;
  return p;
}

function syncToggle(): void {
  if (toggle) toggle.checked = getDensity();
}

export interface LayerInfo {
  shown: boolean; levels: number[]; ms: number; points: number; blur: number;
  phases?: Record<string, number>;   // ms: binning, blurring (and levels), tracing, drawing
  inner: { x0: number; y0: number; x1: number; y1: number }[];
}

class Layer {
  readonly view: MapView;
  readonly svg: SVGSVGElement;
  info: LayerInfo = { shown: false, levels: [], ms: 0, points: 0, blur: 0, inner: [] };
  private plot: unknown = null;
  private key = '';
  private pending = 0;

  constructor(view: MapView) {
    this.view = view;
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'density');
    svg.setAttribute('aria-hidden', 'true');
    // above the points, below the linked-item marker and the overlays; never in the way of the mouse
    svg.style.cssText = 'position:absolute;inset:0;width:100%;height:100%;pointer-events:none;overflow:hidden';
    view.canvas.after(svg);
    this.svg = svg;
  }

  /** Follow the camera: after any frame the plot draws with another view or size, contours again. */
  attach(): void {
    const plot = this.view.plot;
    if (!plot || plot === this.plot) return;
    this.plot = plot;
    plot.subscribe('drawing', () => { if (this.viewKey() !== this.key) this.schedule(); });
  }

  schedule(): void {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => { this.pending = 0; this.compute(); });
  }

  private viewKey(): string {
    const p = this.view.plot;
    if (!p) return '';
    return `${Array.from(p.get('cameraView') as ArrayLike<number>).join(',')}|${this.view.canvas.clientWidth}x${this.view.canvas.clientHeight}`;
  }

  /** Bin, blur, trace and draw the contours of the points in view (or clear the layer). */
  compute(): void {
    const t0 = performance.now();
    const v = this.view;
    this.key = this.viewKey();
    const w = v.canvas.clientWidth, h = v.canvas.clientHeight;
    const svg = this.svg;
    svg.replaceChildren();
    svg.setAttribute('viewBox', `0 0 ${Math.max(w, 1)} ${Math.max(h, 1)}`);
    const t = v.screenTransform();
    const shown = getDensity() && v.n > 0 && v.root.dataset.drawn === '1' && t !== null && w > 0 && h > 0;
    this.info = { shown: false, levels: [], ms: 0, points: 0, blur: 0, inner: [] };
    svg.dataset.levels = '0';
    if (!shown) return;
    const [ax, bx, cx, ay, by, cy] = t.map((a) => a / CELL);
    const gw = Math.ceil(w / CELL) + 2 * PAD, gh = Math.ceil(h / CELL) + 2 * PAD;
    const grid = new Float64Array(gw * gh);
    const xs = v.x, ys = v.y, rows = v.rows, mask = visible;
    let inView = 0;
    for (let i = 0, n = v.n; i < n; i++) {
      if (mask && !mask[rows[i]]) continue;
      const x = xs[i], y = ys[i];
      const gx = Math.floor(ax * x + bx * y + cx) + PAD;
      const gy = Math.floor(ay * x + by * y + cy) + PAD;
      if (gx < 0 || gy < 0 || gx >= gw || gy >= gh) continue;
      grid[gy * gw + gx]++;
      if (gx >= PAD && gy >= PAD && gx < gw - PAD && gy < gh - PAD) inView++;
    }
    const t1 = performance.now();
    if (inView < MIN_POINTS) { this.info.points = inView; return; }
    // smoothing wide enough that a sparse view still gives a few points a blurred cell
    const cells = (gw - 2 * PAD) * (gh - 2 * PAD);
    const blur = Math.max(2, Math.min(MAX_BLUR, Math.ceil(1.5 * Math.sqrt(cells / inView))));
    const occupied: number[] = [];
    for (let i = 0; i < grid.length; i++) if (grid[i] > 0) occupied.push(i);
    blur2({ data: grid, width: gw, height: gh }, blur);
    const t2 = performance.now();
    const dens = Float64Array.from(occupied, (i) => grid[i]).sort();
    const levels: number[] = [];
    for (const q of QUANTILES) {
      const lv = dens[Math.min(dens.length - 1, Math.floor(q * dens.length))];
      if (lv > 0 && (!levels.length || lv > levels[levels.length - 1] * 1.05)) levels.push(lv);
    }
    const polys = contours().size([gw, gh]).thresholds(levels)(grid as unknown as number[]);
    const t3 = performance.now();
    // grid coordinates -> CSS px: value i sits at i + 0.5 in d3-contour's coordinates
    const X = (g: number) => ((g - PAD) * CELL).toFixed(1);
    polys.forEach((p, k) => {
      const f = (k + 1) / polys.length;
      let d = '';
      for (const poly of p.coordinates) for (const ring of poly) {
        ring.forEach(([x, y], j) => { d += `${j ? 'L' : 'M'}${X(x)} ${X(y)}`; });
        d += 'Z';
      }
      const path = document.createElementNS(SVG_NS, 'path');
      path.setAttribute('d', d);
      path.setAttribute('fill', 'rgba(20, 24, 40, 0.035)');
      path.setAttribute('fill-rule', 'evenodd');
      path.setAttribute('stroke', `rgba(20, 24, 40, ${(0.35 + 0.4 * f).toFixed(2)})`);
      path.setAttribute('stroke-width', (0.6 + 0.6 * f).toFixed(2));   // 0.6-1.2 CSS px, the innermost darkest
      path.setAttribute('stroke-linejoin', 'round');
      path.dataset.level = String(levels[k]);
      svg.append(path);
    });
    const last = polys[polys.length - 1];
    const inner = (last?.coordinates ?? []).map((poly) => {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const [x, y] of poly[0]) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
      return { x0: (x0 - PAD) * CELL, y0: (y0 - PAD) * CELL, x1: (x1 - PAD) * CELL, y1: (y1 - PAD) * CELL };
    });
    const t4 = performance.now();
    const ms = t4 - t0;
    const phases = { bin: t1 - t0, blur: t2 - t1, trace: t3 - t2, draw: t4 - t3 };
    this.info = { shown: true, levels, ms, phases, points: inView, blur, inner };
    svg.dataset.levels = String(polys.length);
    svg.dataset.ms = ms.toFixed(1);
  }
}
