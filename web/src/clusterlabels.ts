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
import { binPoints, CELL, blur, coarsen, coarseness, findLabelRegions, HIDDEN, placeLabels, REST, SLOTS, slotOf, type Region } from './clusterregions';

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
  subscribed: unknown;        // the plot whose 'draw' event we follow
  sig: string;                // the camera and size the labels were placed for
  inView: number;             // points in view at the last recompute (estimated when sampled)
}

/** At most about this many points in view are binned a map (a uniform sample beyond). */
export const MAX_BINNED = 250_000;

/** Where a map's points are on the screen now (the map's affine screen transform; null before
 * its plot exists), and a signature of it with the canvas size: the labels move when it changes. */
function screenAffine(p: Panel): { affine: number[] | null; sig: string } {
  const v = p.view;
  const affine = v.screenTransform();
  return { affine, sig: `${affine?.map((a) => a.toFixed(3)).join(',')}|${v.canvas.clientWidth}x${v.canvas.clientHeight}` };
}

let panels: Panel[] = [];
let on = true;
let explicitMask: Uint8Array | null = null;   // null: follow the maps' filters (MapView.visible)
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

/** Recompute the labels soon. ``mask`` (per dataset row, 1 shown) makes them describe only those
 * rows until it is replaced; null (or a mask of another dataset's length) drops it, and the labels
 * follow the maps' own filters (MapView.visible, set by filter.ts), which they always do unasked. */
export function updateClusterLabels(mask?: Uint8Array | null): void {
  if (mask !== undefined) explicitMask = mask;
  scheduleClusterLabels();
}

/** Recompute at the next animation frame: at most one a frame, and (a slow machine at a million
 * points) at most about a third of the time spent on them; a recompute reads the state it runs in,
 * so the calls in between are one. */
export function scheduleClusterLabels(): void {
  if (pending || !on) return;
  pending = 1;
  const run = () => requestAnimationFrame(() => { pending = 0; recomputeClusterLabels(); });
  const wait = lastRun + 2 * labelStats.ms - performance.now();
  if (wait > 4) setTimeout(run, wait); else run();
}

/** Labels for the maps of ``views`` (the page's two linked maps), with the controls' checkbox. */
export function initClusterLabels(views: MapView[]): void {
  panels = views.map((view) => {
    const layer = document.createElement('div');
    layer.className = 'cluster-labels';
    layer.setAttribute('aria-hidden', 'true');
    view.canvas.parentElement!.appendChild(layer);
    const p: Panel = { view, layer, slots: null, slotsKey: [], overall: new Float64Array(SLOTS), subscribed: null, sig: '', inView: Infinity };
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
  const kind = ds?.columns.find((col) => col.name === state.color)?.kind;
  if (kind === 'categorical' && c?.header.by !== state.color) return null;   // its colours are on their way
  const col = ds ? labelColumn(ds.columns) : null;
  if (!ds || !col) return null;
  const k = `${ds.name}\u0000${col.name}`;
  if (k === metaKey) return metaSource;
  if (!metaCache.has(k)) {
    metaCache.set(k, getFrame<ColorHeader>(`datasets/${enc(ds.name)}/colors`, { by: col.name }, 'charts')
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
  const mask = (explicitMask && explicitMask.length === v.pos.length ? explicitMask : null) ?? v.visible;
  ensureSlots(p, src, mask);
  const { affine, sig } = screenAffine(p);
  p.sig = sig;
  const W = v.canvas.clientWidth, H = v.canvas.clientHeight;
  if (!affine || !W || !H) { layer.replaceChildren(); return 0; }
  // one point in `stride` when the last view held many more than MAX_BINNED points; when the
  // view now holds fewer (zoomed in), binned again with a finer stride
  const strideFor = (inView: number) => Math.max(1, Math.floor(Math.min(inView, v.n) / MAX_BINNED));
  let grid = binPoints(v.x, v.y, p.slots!, affine, W, H, CELL, strideFor(p.inView));
  p.inView = grid.n * grid.stride;
  if (strideFor(p.inView) < grid.stride) grid = binPoints(v.x, v.y, p.slots!, affine, W, H, CELL, strideFor(p.inView));
  p.inView = grid.n * grid.stride;
  const labelable = new Uint8Array(SLOTS);
  const bySlot = new Map<number, LegendEntry>();
  for (const e of src.legend) {
    const s = slotOf(e.code);
    if (e.code < REST && !(e as { other?: boolean }).other) { labelable[s] = 1; bySlot.set(s, e); }
  }
  const regions = findLabelRegions(grid, { mode: src.mode, labelable, overall: p.overall });
  const texts = regions.map((r) => labelText(bySlot.get(r.slot), r));
  const boxes = regions.map((r, i) => ({ x: r.x, y: r.y, w: Math.ceil(textWidth(texts[i])) + (src.mode === 'dominant' ? SWATCH : 0) + 8, h: LABEL_H, key: r.slot }));
  const { kept, at } = placeLabels(boxes, W, H);
  const els = kept.map((i, m) => {
    const r = regions[i], e = bySlot.get(r.slot);
    const el = document.createElement('div');
    el.className = 'cluster-label';
    const span = document.createElement('span');
    span.textContent = texts[i];
    if (src.mode === 'dominant') {   // the category's colour on the map; not under a quantity's colours
      const dot = document.createElement('i');
      dot.style.background = cssColor(e?.color);
      el.append(dot);
    }
    el.append(span);
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
  binPoints, findLabelRegions, placeLabels, labelColumn, blur, coarsen, coarseness,
  recompute: recomputeClusterLabels, update: updateClusterLabels, stats: labelStats, isOn: clusterLabelsOn, setOn: setClusterLabelsOn,
};
