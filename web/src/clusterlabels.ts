// Cluster labels on the maps: short text on the dense regions of what each map shows now, so a
// map can be read without the legend. Coloured by categories, a region is labelled with the
// category that dominates it (half its points or more); coloured by a quantity (agreement, a
// numeric column) or one colour, with the class of a categorical metadata column that is
// over-represented there (highest lift = share here / share in the whole map, with a minimum
// support), so an agreement map still says which classes its clusters are.
//
// Like embedding-atlas (density map -> clusters -> labels placed by priority), but recomputed
// from the points in view on every camera move, so zooming in labels finer regions: points are
// binned on a screen-space grid of CELL px per map, the per-category counts smoothed, and the
// dense cells joined into regions of one key category (the dominant or over-represented one),
// so two touching clusters of different classes stay two regions. Labels are HTML at a fixed
// font size with a white halo, at the region cell with points nearest its centre, placed
// greedily (largest region first) without overlapping. Both maps share one camera, so both are
// recomputed together. The labels follow the maps' filters (MapView.visible) or a mask given
// to updateClusterLabels.
import './clusterlabels.css';
import { enc, getFrame, type ColorHeader, type Column, type LegendEntry } from './api';
import type { MapView } from './maps';
import { state } from './state';
import { cssColor } from './util';

// -- the pure part: grid, regions, placement ----------------------------------------------------
/** Grid cell (CSS px) of the screen-space density. */
export const CELL = 10;
/** Category slots: codes 0..31 each its own slot; missing (255) and any larger code share the last. */
export const SLOTS = 33;
export const HIDDEN = 255;   // a point's slot when it is filtered out
const REST = SLOTS - 1;

export interface Grid {
  w: number; h: number; cell: number;
  counts: Float32Array;   // SLOTS planes of w*h cells: points of each slot per cell
  total: Float32Array;    // w*h: points per cell
  n: number;              // points in view
}

/** A category slot for each category code (the page's colour codes: 0..254, 255 missing). */
export const slotOf = (code: number): number => (code < REST ? code : REST);

/** Bin the points in view: screen = affine(x, y) = [a*x + b*y + c, d*x + e*y + f]. */
export function binPoints(x: ArrayLike<number>, y: ArrayLike<number>, slot: ArrayLike<number>, affine: number[],
  width: number, height: number, cell = CELL): Grid {
  const w = Math.max(1, Math.ceil(width / cell)), h = Math.max(1, Math.ceil(height / cell));
  const wh = w * h;
  const counts = new Float32Array(SLOTS * wh), total = new Float32Array(wh);
  const [a, b, c, d, e, f] = affine;
  const inv = 1 / cell;
  let n = 0;
  for (let i = 0, len = x.length; i < len; i++) {
    const s = slot[i];
    if (s === HIDDEN) continue;
    const xi = x[i], yi = y[i];
    const sx = a * xi + b * yi + c;
    if (!(sx >= 0 && sx < width)) continue;
    const sy = d * xi + e * yi + f;
    if (!(sy >= 0 && sy < height)) continue;
    const k = ((sy * inv) | 0) * w + ((sx * inv) | 0);
    counts[s * wh + k]++;
    total[k]++;
    n++;
  }
  return { w, h, cell, counts, total, n };
}

/** Two passes of a 3x3 box blur (a 5x5 binomial-like kernel), zero outside the grid. */
export function blur(src: Float32Array, w: number, h: number, offset = 0, out = new Float32Array(w * h)): Float32Array {
  const tmp = new Float32Array(w * h);
  out.set(src.subarray(offset, offset + w * h));
  for (let pass = 0; pass < 2; pass++) {
    for (let yy = 0; yy < h; yy++) {
      const r = yy * w;
      for (let xx = 0; xx < w; xx++) {
        const k = r + xx;
        tmp[k] = (out[k] + (xx > 0 ? out[k - 1] : 0) + (xx < w - 1 ? out[k + 1] : 0)) / 3;
      }
    }
    for (let yy = 0; yy < h; yy++) {
      const r = yy * w;
      for (let xx = 0; xx < w; xx++) {
        const k = r + xx;
        out[k] = (tmp[k] + (yy > 0 ? tmp[k - w] : 0) + (yy < h - 1 ? tmp[k + w] : 0)) / 3;
      }
    }
  }
  return out;
}

export interface RegionOptions {
  /** 'dominant': label with the category holding >= minShare of the region's points; 'lift': with
   * the labelable category of highest lift (share / overall share) holding >= minSupport of them. */
  mode: 'dominant' | 'lift';
  /** Per slot: 1 when it can be a label (not "other", not missing). */
  labelable: ArrayLike<number>;
  /** Per slot: its share of all shown points of the map (lift mode). */
  overall?: ArrayLike<number>;
  minShare?: number;      // dominant: 0.5
  minSupport?: number;    // lift: 0.3
  minLift?: number;       // lift: 1.5
  minPoints?: number;     // default max(8, 0.3% of the points in view)
  /** A cell is dense when its smoothed count reaches this share of the 95th percentile (0.05). */
  density?: number;
}

export interface Region {
  slot: number;      // the category it is labelled with
  n: number;         // points in the region
  count: number;     // of them in the category
  share: number;     // count / n
  lift: number;      // share / overall share (1 in dominant mode without overall)
  x: number; y: number;  // where its label goes (screen px): the centre of its cell with points nearest its centre
  cells: number;
}

/** A grid with cells ``f`` times as wide (sparse views: a zoomed-in cluster has few points a cell). */
export function coarsen(g: Grid, f: number): Grid {
  if (f <= 1) return g;
  const w = Math.ceil(g.w / f), h = Math.ceil(g.h / f), wh = w * h, fwh = g.w * g.h;
  const counts = new Float32Array(SLOTS * wh), total = new Float32Array(wh);
  for (let k = 0; k < fwh; k++) {
    if (!g.total[k]) continue;
    const K = Math.floor(Math.floor(k / g.w) / f) * w + Math.floor((k % g.w) / f);
    total[K] += g.total[k];
    for (let s = 0; s < SLOTS; s++) counts[s * wh + K] += g.counts[s * fwh + k];
  }
  return { w, h, cell: g.cell * f, counts, total, n: g.n };
}

/** How much coarser than the binning grid the regions are found: until the occupied cells hold
 * two points each on average (at most 8 times, 80 px). */
export function coarseness(g: Grid): number {
  let f = 1;
  while (f < 8) {
    const c = coarsen(g, f);
    let occ = 0;
    for (let k = 0; k < c.w * c.h; k++) if (c.total[k]) occ++;
    if (!occ || g.n / occ >= 2) break;
    f *= 2;
  }
  return f;
}

/** The labelled dense regions of a grid, largest first. Regions are found on a grid coarsened
 * where the points in view are sparse; a label goes to the centre of the binning grid's cell
 * with points nearest the region's centre, so it sits on points. */
export function findLabelRegions(fine: Grid, o: RegionOptions): Region[] {
  if (!fine.n) return [];
  const f = coarseness(fine);
  const g = coarsen(fine, f);
  const { w, h } = g;
  const wh = w * h;
  const minShare = o.minShare ?? 0.5, minSupport = o.minSupport ?? 0.3, minLift = o.minLift ?? 1.5;
  const minPoints = o.minPoints ?? Math.max(8, Math.ceil(0.003 * g.n));
  const overall = o.overall;
  // smoothed density and per-slot counts (only the slots present)
  const dens = blur(g.total, w, h);
  const present: number[] = [];
  for (let s = 0; s < SLOTS; s++) {
    const plane = g.counts.subarray(s * wh, (s + 1) * wh);
    for (let k = 0; k < wh; k++) if (plane[k]) { present.push(s); break; }
  }
  const smooth = present.map((s) => blur(g.counts, w, h, s * wh));
  // dense: the 95th percentile of the occupied cells' density, times o.density
  const occ: number[] = [];
  for (let k = 0; k < wh; k++) if (dens[k] > 0) occ.push(dens[k]);
  occ.sort((p, q) => p - q);
  const p95 = occ[Math.min(occ.length - 1, Math.floor(0.95 * occ.length))] ?? 0;
  const t = Math.max(0.1, (o.density ?? 0.05) * p95);
  // each dense cell's key: its dominant slot, or its labelable slot of highest lift with enough support
  const key = new Int16Array(wh).fill(-1);
  for (let k = 0; k < wh; k++) {
    const tot = dens[k];
    if (tot < t) continue;
    let best = -1, bestV = -1;
    for (let j = 0; j < present.length; j++) {
      const v = smooth[j][k];
      if (o.mode === 'dominant') {
        if (v > bestV) { bestV = v; best = present[j]; }
      } else {
        const s = present[j];
        if (!o.labelable[s] || v < minSupport * tot) continue;
        const lift = v / Math.max(overall?.[s] ?? 1, 1e-12);
        if (lift > bestV) { bestV = lift; best = s; }
      }
    }
    key[k] = best;
  }
  // regions: 4-connected dense cells of one key
  const region = new Int32Array(wh).fill(-1);
  const stack = new Int32Array(wh);
  let nr = 0;
  for (let k0 = 0; k0 < wh; k0++) {
    if (key[k0] < 0 || region[k0] >= 0) continue;
    const kk = key[k0];
    let top = 0;
    stack[top++] = k0;
    region[k0] = nr;
    while (top) {
      const k = stack[--top];
      const xx = k % w;
      const nb = [xx > 0 ? k - 1 : -1, xx < w - 1 ? k + 1 : -1, k >= w ? k - w : -1, k + w < wh ? k + w : -1];
      for (const q of nb) {
        if (q >= 0 && region[q] < 0 && key[q] === kk) { region[q] = nr; stack[top++] = q; }
      }
    }
    nr++;
  }
  // per region: points per slot, cells, centre (px, weighted by points)
  const cnt = new Float64Array(nr * SLOTS), n = new Float64Array(nr), cells = new Int32Array(nr);
  const cx = new Float64Array(nr), cy = new Float64Array(nr);
  for (let k = 0; k < wh; k++) {
    const r = region[k];
    if (r < 0) continue;
    cells[r]++;
    const tot = g.total[k];
    if (!tot) continue;
    n[r] += tot;
    for (const s of present) cnt[r * SLOTS + s] += g.counts[s * wh + k];
  }
  const fw = fine.w, fwh = fine.w * fine.h, fc = fine.cell;
  const regionOfFine = (k: number): number => region[Math.floor(Math.floor(k / fw) / f) * w + Math.floor((k % fw) / f)];
  for (let k = 0; k < fwh; k++) {
    const tot = fine.total[k];
    if (!tot) continue;
    const r = regionOfFine(k);
    if (r < 0) continue;
    cx[r] += tot * ((k % fw) + 0.5) * fc;
    cy[r] += tot * (Math.floor(k / fw) + 0.5) * fc;
  }
  const out: (Region & { id: number })[] = [];
  for (let r = 0; r < nr; r++) {
    if (n[r] < minPoints) continue;
    let slot = -1, count = 0;
    if (o.mode === 'dominant') {
      for (const s of present) if (cnt[r * SLOTS + s] > count) { count = cnt[r * SLOTS + s]; slot = s; }
      if (!o.labelable[slot] || count < minShare * n[r]) continue;
    } else {
      let bestLift = 0;
      for (const s of present) {
        const c = cnt[r * SLOTS + s];
        if (!o.labelable[s] || c < minSupport * n[r]) continue;
        const lift = c / n[r] / Math.max(overall?.[s] ?? 1, 1e-12);
        if (lift > bestLift) { bestLift = lift; slot = s; count = c; }
      }
      if (slot < 0 || bestLift < minLift) continue;
    }
    const share = count / n[r];
    const lift = overall ? share / Math.max(overall[slot] ?? 1, 1e-12) : 1;
    out.push({ id: r, slot, n: n[r], count, share, lift, x: 0, y: 0, cells: cells[r] });
  }
  // the label's place: the binning grid's cell with points (of the region) nearest its centre
  const bestD = new Float64Array(nr).fill(Infinity), bestK = new Int32Array(nr).fill(-1);
  const labelled = new Uint8Array(nr);
  for (const r of out) { labelled[r.id] = 1; cx[r.id] /= n[r.id]; cy[r.id] /= n[r.id]; }
  for (let k = 0; k < fwh; k++) {
    if (!fine.total[k]) continue;
    const r = regionOfFine(k);
    if (r < 0 || !labelled[r]) continue;
    const dx = ((k % fw) + 0.5) * fc - cx[r], dy = (Math.floor(k / fw) + 0.5) * fc - cy[r];
    const dd = dx * dx + dy * dy;
    if (dd < bestD[r]) { bestD[r] = dd; bestK[r] = k; }
  }
  for (const r of out) {
    const k = bestK[r.id];
    r.x = ((k % fw) + 0.5) * fc;
    r.y = (Math.floor(k / fw) + 0.5) * fc;
  }
  out.sort((p, q) => q.n - p.n);
  return out.map(({ id: _id, ...r }) => r);
}

export interface LabelBox { x: number; y: number; w: number; h: number; key?: number | string; }

/** Greedy placement in the given order (largest region first): a label is kept when its box,
 * centred on (x, y) and moved inside the width x height area, overlaps no kept box (with ``pad``
 * px between) and no kept label of the same ``key`` is within ``near`` px. Returns the kept
 * indices and where each kept box's centre went. */
export function placeLabels(boxes: LabelBox[], width: number, height: number, pad = 2, near = 150,
  max = 40): { kept: number[]; at: [number, number][] } {
  const kept: number[] = [], at: [number, number][] = [], rects: number[][] = [];
  for (let i = 0; i < boxes.length && kept.length < max; i++) {
    const b = boxes[i];
    if (b.w > width || b.h > height) continue;
    const x0 = Math.min(Math.max(b.x - b.w / 2, 0), width - b.w);
    const y0 = Math.min(Math.max(b.y - b.h / 2, 0), height - b.h);
    const r = [x0 - pad, y0 - pad, x0 + b.w + pad, y0 + b.h + pad];
    if (rects.some((q) => r[0] < q[2] && q[0] < r[2] && r[1] < q[3] && q[1] < r[3])) continue;
    if (b.key !== undefined && kept.some((j, m) => boxes[j].key === b.key
      && Math.hypot(at[m][0] - b.x, at[m][1] - b.y) < near)) continue;
    kept.push(i);
    at.push([x0 + b.w / 2, y0 + b.h / 2]);
    rects.push(r);
  }
  return { kept, at };
}

/** Screen = affine(data) from three points and where they are on the screen (null: collinear). */
export function affineFrom(p: [number, number][], s: [number, number][]): number[] | null {
  const [[x0, y0], [x1, y1], [x2, y2]] = p;
  const det = x0 * (y1 - y2) - y0 * (x1 - x2) + (x1 * y2 - x2 * y1);
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) return null;
  const solve = (v0: number, v1: number, v2: number): number[] => [
    (v0 * (y1 - y2) - y0 * (v1 - v2) + (v1 * y2 - v2 * y1)) / det,
    (x0 * (v1 - v2) - v0 * (x1 - x2) + (x1 * v2 - x2 * v1)) / det,
    (x0 * (y1 * v2 - y2 * v1) - y0 * (x1 * v2 - x2 * v1) + v0 * (x1 * y2 - x2 * y1)) / det,
  ];
  return [...solve(s[0][0], s[1][0], s[2][0]), ...solve(s[0][1], s[1][1], s[2][1])];
}

// -- the page part: which categories, when to recompute, the label elements ---------------------
const FONT = '600 12px system-ui, sans-serif';
const LABEL_H = 18;   // px: the label's box height (12 px text, padding)
const SWATCH = 12;    // px: the colour dot and its gap

interface Source {
  mode: 'dominant' | 'lift';
  by: string;                 // the column the labels name
  codes: Uint8Array;          // per dataset row
  legend: LegendEntry[];
  key: string;                // identity of (column, codes) for the caches
}

interface Panel {
  view: MapView;
  layer: HTMLElement;
  slots: Uint8Array | null;   // per point: slot, HIDDEN when filtered out
  slotsKey: unknown[];        // what slots was built from
  overall: Float64Array;      // per slot: share of the shown points
  anchors: { x: Float32Array | null; idx: number[] };
  subscribed: unknown;        // the plot whose 'draw' event we follow
  sig: string;                // the camera and size the labels were placed for
}

/** Where a map's points are on the screen now (an affine map of their coordinates; null when
 * nothing is drawn), and a signature of it with the canvas size: the labels move when it changes. */
function screenAffine(p: Panel): { affine: number[] | null; sig: string } {
  const v = p.view;
  let affine: number[] | null = null;
  try {
    const idx = anchors(p);
    const s = idx.map((i) => v.plot!.getScreenPosition(i) as [number, number] | undefined);
    if (s.every((q) => q)) affine = affineFrom(idx.map((i) => [v.x[i], v.y[i]] as [number, number]), s as [number, number][]);
  } catch { /* points not drawn yet */ }
  return { affine, sig: `${affine?.map((a) => a.toFixed(3)).join(',')}|${v.canvas.clientWidth}x${v.canvas.clientHeight}` };
}

let panels: Panel[] = [];
let on = true;
let explicitMask: Uint8Array | null | undefined;   // undefined: follow the maps' filters
let pending = 0;
let lastRun = 0;
const metaCache = new Map<string, Promise<Source | null>>();
let metaSource: Source | null = null;
let metaKey = '';

/** What the last recompute cost (ms, both maps) and found, for tests and benchmarks. */
export const labelStats = { ms: 0, runs: 0, points: 0, by: '', mode: '' };

export function clusterLabelsOn(): boolean { return on; }

/** Show (true) or hide the labels, as the controls' "labels" checkbox does (for the URL). */
export function setClusterLabelsOn(value: boolean): void {
  on = value;
  const box = document.querySelector<HTMLInputElement>('#cluster-labels');
  if (box) box.checked = value;
  for (const p of panels) p.layer.hidden = !on;
  if (on) scheduleClusterLabels();
}

/** Recompute the labels soon (a draw, a recolour, a filter change); ``mask`` (per dataset row, 1
 * shown) makes them describe only those rows, null every row; left out, the maps' own filters. */
export function updateClusterLabels(mask?: Uint8Array | null): void {
  if (mask !== undefined) explicitMask = mask;
  scheduleClusterLabels();
}

/** Recompute at the next animation frame (at most one a frame; slower at a million points). */
export function scheduleClusterLabels(): void {
  if (pending || !on) return;
  const wait = Math.max(0, lastRun + 2 * labelStats.ms - performance.now());
  pending = requestAnimationFrame(() => {
    if (wait > 4) {
      pending = 0;
      setTimeout(() => scheduleClusterLabels(), wait);
      lastRun = performance.now() - 2 * labelStats.ms;  // run at the next frame after the wait
      return;
    }
    pending = 0;
    recomputeClusterLabels();
  });
}

/** Labels for the maps of ``views`` (the page's two linked maps), with the controls' checkbox. */
export function initClusterLabels(views: MapView[]): void {
  panels = views.map((view) => {
    const layer = document.createElement('div');
    layer.className = 'cluster-labels';
    layer.setAttribute('aria-hidden', 'true');
    view.canvas.parentElement!.appendChild(layer);
    const p: Panel = { view, layer, slots: null, slotsKey: [], overall: new Float64Array(SLOTS),
      anchors: { x: null, idx: [] }, subscribed: null, sig: '' };
    // new points, a recolour or a filter end by setting data-drawn or data-shown; camera moves
    // and resizes are followed through the plot's 'draw' event (see panelLabels)
    new MutationObserver(() => scheduleClusterLabels()).observe(view.root, { attributes: true, attributeFilter: ['data-drawn', 'data-shown'] });
    return p;
  });
  const box = document.querySelector<HTMLInputElement>('#cluster-labels');
  if (box) {
    box.checked = on;
    box.onchange = () => setClusterLabelsOn(box.checked);
  }
}

/** The categorical metadata column the labels name when the colouring is not categories: the
 * evaluated label column, else one whose name says classes, else any label-like one. */
export function labelColumn(columns: Column[]): Column | null {
  const cats = columns.filter((c) => c.kind === 'categorical' && !c.is_id);
  const rank = (c: Column) => (c.evaluated ? 4 : 0) + (c.class_name ? 2 : 0) + (c.label ? 1 : 0);
  return cats.sort((p, q) => rank(q) - rank(p))[0] ?? null;
}

function source(): Source | null {
  const c = state.colors;
  if (c && c.header.kind === 'categorical') {
    return { mode: 'dominant', by: c.header.by, codes: c.codes, legend: c.header.legend ?? [], key: `c:${c.header.by}` };
  }
  const ds = state.dataset;
  const col = ds ? labelColumn(ds.columns) : null;
  if (!ds || !col) return null;
  const k = `${ds.name}\u0000${col.name}`;
  if (k === metaKey) return metaSource;
  if (!metaCache.has(k)) {
    metaCache.set(k, getFrame<ColorHeader>(`datasets/${enc(ds.name)}/colors`, { by: col.name })
      .then((f) => (f.header.kind === 'categorical'
        ? { mode: 'lift' as const, by: col.name, codes: f.buffers.codes as Uint8Array, legend: f.header.legend ?? [], key: `m:${k}` }
        : null))
      .catch(() => null));
  }
  void metaCache.get(k)!.then((s) => {
    if (metaKey === k) return;
    metaKey = k;
    metaSource = s;
    scheduleClusterLabels();
  });
  return null;
}

/** Per point its category slot (HIDDEN when filtered out), and each slot's share of the shown points. */
function ensureSlots(p: Panel, src: Source, mask: Uint8Array | null): void {
  const v = p.view;
  const key = [v.rows, src.codes, mask];
  if (p.slots && key.every((k, i) => k === p.slotsKey[i])) return;
  const n = v.n, rows = v.rows, codes = src.codes;
  const slots = new Uint8Array(n);
  const counts = new Float64Array(SLOTS);
  let shown = 0;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    if (mask && !mask[r]) { slots[i] = HIDDEN; continue; }
    const s = slotOf(codes[r] ?? 255);
    slots[i] = s;
    counts[s]++;
    shown++;
  }
  for (let s = 0; s < SLOTS; s++) p.overall[s] = shown ? counts[s] / shown : 0;
  p.slots = slots;
  p.slotsKey = key;
}

/** Three points far apart (not on one line), to read the camera off the plot. */
function anchors(p: Panel): number[] {
  const v = p.view;
  if (p.anchors.x === v.x && p.anchors.idx.length === 3) return p.anchors.idx;
  const x = v.x, y = v.y, n = v.n;
  let i0 = 0, i1 = 0;
  for (let i = 1; i < n; i++) { if (x[i] < x[i0]) i0 = i; if (x[i] > x[i1]) i1 = i; }
  let i2 = 0, best = -1;
  const dx = x[i1] - x[i0], dy = y[i1] - y[i0];
  for (let i = 0; i < n; i++) {
    const cross = Math.abs(dx * (y[i] - y[i0]) - dy * (x[i] - x[i0]));
    if (cross > best) { best = cross; i2 = i; }
  }
  if (dx === 0 && dy === 0) {  // every x equal: take the y extremes
    for (let i = 1; i < n; i++) { if (y[i] < y[i0]) i0 = i; if (y[i] > y[i1]) i1 = i; }
    i2 = i0;
  }
  p.anchors = { x: v.x, idx: [i0, i1, i2] };
  return p.anchors.idx;
}

let measureCtx: CanvasRenderingContext2D | null = null;
function textWidth(s: string): number {
  measureCtx ??= document.createElement('canvas').getContext('2d');
  if (!measureCtx) return 7 * s.length;
  measureCtx.font = FONT;
  return measureCtx.measureText(s).width;
}

function labelText(e: LegendEntry | undefined, r: Region): string {
  const name = e?.label ?? '?';
  return r.share >= 0.9 ? name : `${name} (${Math.round(100 * r.share)}%)`;
}

/** The labels of one map now (also the body of the recompute, exposed for tests). */
function panelLabels(p: Panel, src: Source): number {
  const v = p.view;
  const layer = p.layer;
  const plot = v.plot;
  if (!plot || !v.n || v.root.dataset.drawn !== '1') { layer.replaceChildren(); return 0; }
  if (p.subscribed !== plot) {
    // every frame the plot draws: a new camera (zoom, pan, fit, the other map's camera followed
    // silently) or a new canvas size moves the labels; hovers and selections do not
    plot.subscribe('draw', () => {
      if (on && v.n && screenAffine(p).sig !== p.sig) scheduleClusterLabels();
    });
    p.subscribed = plot;
  }
  const mask = explicitMask !== undefined && (explicitMask === null || explicitMask.length === v.pos.length) ? explicitMask : v.visible;
  ensureSlots(p, src, mask);
  const { affine, sig } = screenAffine(p);
  p.sig = sig;
  const W = v.canvas.clientWidth, H = v.canvas.clientHeight;
  if (!affine || !W || !H) { layer.replaceChildren(); return 0; }
  const grid = binPoints(v.x, v.y, p.slots!, affine, W, H);
  const labelable = new Uint8Array(SLOTS);
  const bySlot = new Map<number, LegendEntry>();
  for (const e of src.legend) {
    const s = slotOf(e.code);
    if (e.code < REST && !(e as { other?: boolean }).other) { labelable[s] = 1; bySlot.set(s, e); }
  }
  const regions = findLabelRegions(grid, { mode: src.mode, labelable, overall: p.overall });
  const texts = regions.map((r) => labelText(bySlot.get(r.slot), r));
  const boxes = regions.map((r, i) => ({ x: r.x, y: r.y, w: Math.ceil(textWidth(texts[i])) + SWATCH + 8, h: LABEL_H, key: r.slot }));
  const { kept, at } = placeLabels(boxes, W, H);
  const els = kept.map((i, m) => {
    const r = regions[i], e = bySlot.get(r.slot);
    const el = document.createElement('div');
    el.className = 'cluster-label';
    const dot = document.createElement('i');
    dot.style.background = cssColor(e?.color);
    const span = document.createElement('span');
    span.textContent = texts[i];
    el.append(dot, span);
    el.style.font = FONT;
    el.style.width = `${boxes[i].w}px`;
    el.style.transform = `translate(${Math.round(at[m][0] - boxes[i].w / 2)}px, ${Math.round(at[m][1] - LABEL_H / 2)}px)`;
    el.dataset.code = String(e?.code ?? '');
    el.dataset.value = e?.label ?? '';
    el.dataset.n = String(r.n);
    el.dataset.share = r.share.toFixed(3);
    el.dataset.lift = r.lift.toFixed(2);
    el.dataset.x = String(r.x);
    el.dataset.y = String(r.y);
    return el;
  });
  layer.replaceChildren(...els);
  layer.dataset.mode = src.mode;
  layer.dataset.by = src.by;
  return grid.n;
}

/** Recompute both maps' labels now. */
export function recomputeClusterLabels(): void {
  const t0 = performance.now();
  lastRun = t0;
  const src = on ? source() : null;
  let points = 0;
  for (const p of panels) {
    p.layer.hidden = !on;
    if (!src) { p.layer.replaceChildren(); continue; }
    points += panelLabels(p, src);
  }
  const box = document.querySelector<HTMLElement>('#cluster-labels')?.closest('label');
  if (box) {
    box.title = src ? (src.mode === 'dominant'
      ? `Labels on the dense regions of each map: the value of "${src.by}" that half or more of the region's points have`
      : `Labels on the dense regions of each map: the value of "${src.by}" over-represented there (its share there vs in the whole map)`)
      : 'Labels on the dense regions of each map (none now: no categorical column to name them)';
  }
  labelStats.ms = performance.now() - t0;
  labelStats.runs++;
  labelStats.points = points;
  labelStats.by = src?.by ?? '';
  labelStats.mode = src?.mode ?? '';
  document.body.dataset.clusterLabels = String(labelStats.runs);
}

/** For tests and benchmarks (window.__sl.clusterLabels). */
export const clusterLabelsApi = {
  binPoints, findLabelRegions, placeLabels, affineFrom, labelColumn, blur, coarsen, coarseness,
  recompute: recomputeClusterLabels, stats: labelStats, isOn: clusterLabelsOn, setOn: setClusterLabelsOn,
};
