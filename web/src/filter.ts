// Filters: which items the page shows. Each filter (a brushed metadata chart, the search's
// "filter to matches", ...) keeps a set of dataset rows; the filters combine (an item is shown
// when every filter keeps it). Both maps hide the other items (regl-scatterplot's filter), and
// the panels that count items (the agreement histogram, the charts, the answer strip's figures)
// count only the shown ones. Filters are per dataset: choosing another dataset drops them.
//
// Other modules listen with ``onFilter`` (the density contours, the cluster labels, the charts)
// and read ``shownMask()``; they never keep their own copy of the mask.
import { state } from './state';
import { maps } from './views';
import { unionArea } from './maps';

export interface Filter {
  key: string;          // one per source: 'search', 'facet:label', 'facet:agreement', ...
  label: string;        // what it keeps, in words: 'label is 3 or 5', 'text holds "cat"'
  keep: Uint8Array;     // per dataset row: 1 kept, 0 hidden
  /** What the URL saves to restore it (the source decodes it again), e.g. 'label=3,5'. */
  saved?: string;
}

const filters = new Map<string, Filter>();
let mask: Uint8Array | null = null;          // AND of all filters (null: no filter, everything shown)
let shownCount = 0;
const listeners: (() => void)[] = [];

/** Call ``fn`` whenever the shown items change (after the maps were filtered). */
export function onFilter(fn: () => void): void {
  listeners.push(fn);
}

export function activeFilters(): Filter[] {
  return [...filters.values()];
}

export function getFilter(key: string): Filter | undefined {
  return filters.get(key);
}

/** Per dataset row 1 when shown; null when no filter is set (every item shown). */
export function shownMask(): Uint8Array | null {
  return mask;
}

/** How many drawn items the filters keep (the dataset's size when none is set). */
export function shownRowCount(): number {
  return mask ? shownCount : (state.dataset?.n_rows ?? 0);
}

export function isShown(row: number): boolean {
  return !mask || mask[row] === 1;
}

/** Set (or, with ``keep`` null, drop) the filter ``key``; the maps and every listener follow. */
export function setFilter(key: string, label: string, keep: Uint8Array | null, saved?: string): void {
  if (keep) filters.set(key, { key, label, keep, saved });
  else if (!filters.delete(key)) return;
  refilter();
}

export function clearFilters(): void {
  if (!filters.size) return;
  filters.clear();
  refilter();
}

/** Dataset rows -> a keep mask over ``n`` rows. */
export function rowsMask(rows: ArrayLike<number>, n = state.dataset?.n_rows ?? 0): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < rows.length; i++) if (rows[i] < n) m[rows[i]] = 1;
  return m;
}

function recompute(): void {
  const list = [...filters.values()];
  if (!list.length) { mask = null; shownCount = 0; return; }
  const n = list[0].keep.length;
  const m = new Uint8Array(n).fill(1);
  for (const f of list) {
    const k = f.keep;
    for (let r = 0; r < n; r++) m[r] &= k[r];
  }
  // counted: the kept items either map draws (a space may embed only some of the dataset's rows)
  const pa = maps.A.pos, pb = maps.B.pos;
  let c = 0;
  for (let r = 0; r < n; r++) if (m[r] && ((pa[r] ?? -1) >= 0 || (pb[r] ?? -1) >= 0)) c++;
  mask = m;
  shownCount = c;
}

/** Apply the filters to both maps and tell the listeners. */
function apply(): void {
  maps.A.setVisible(mask);
  maps.B.setVisible(mask);
  document.body.dataset.filtered = mask ? String(shownCount) : '';
  for (const fn of listeners) fn();
}

/** Zoom both maps (one camera) to the shown items: the union of their extents in both maps. */
export function zoomToShown(): void {
  const u = unionArea([maps.A.bounds(true), maps.B.bounds(true)]);
  if (!u) return;
  const w = Math.max(u.width, 0.02), h = Math.max(u.height, 0.02);
  // the other map follows through the linked camera (its 'view' event)
  maps.A.zoomTo({ x: u.x, y: u.y, width: w, height: h }, 0.06);
}

/** The maps were drawn again (another pair or map): count and hide again. */
export function reapplyFilters(): void {
  if (filters.size) refilter();
}

/** Combine the filters, apply them and tell the listeners, timing the page's own code (masks,
 * point lists, the charts' counts; painting aside) for bench/ui.py. */
function refilter(): void {
  const t0 = performance.now();
  recompute();
  apply();
  document.body.dataset.filterMs = (performance.now() - t0).toFixed(1);
}

/** A new dataset on screen: its rows are other rows, so the filters go. */
export function resetFilters(): void {
  filters.clear();
  mask = null;
  shownCount = 0;
  maps.A.visible = null;
  maps.B.visible = null;
  document.body.dataset.filtered = '';
}
