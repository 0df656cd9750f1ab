// Saved views: the page address holds what is on screen (dataset, pair, map, colour, k, the
// filters, the selection and the overlays), so a view can be shared or reopened as it was.
// ``writeUrl`` writes it (history.replaceState: no new history entry per click); ``savedView``
// reads what the page was opened with, for start-up to restore.
//
// The selection is saved by what made it when that is short (the queried item, a histogram bar),
// else as its dataset rows, delta-encoded varints in base64url, when that stays under
// MAX_SELECTION_CHARS (a long address is refused by servers; 16 kB of headers for uvicorn).
import { activeFilters } from './filter';
import { state } from './state';

export const MAX_SELECTION_CHARS = 6000;

/** Extra settings other modules keep in the address (the overlays' toggles): name -> value or null. */
export const addressParts: Record<string, () => string | null> = {};

export function writeUrl(): void {
  const q = new URLSearchParams();
  if (state.dataset) q.set('dataset', state.dataset.name);
  if (state.a) q.set('a', state.a);
  if (state.b) q.set('b', state.b);
  q.set('method', state.method);
  if (state.color) q.set('color', state.color);
  q.set('k', String(state.k));
  if (state.align) q.set('align', '1');
  if (state.baseline) q.set('baseline', state.baseline);
  for (const f of activeFilters()) if (f.saved) q.append(f.key === 'search' ? 'find' : 'f', f.saved);
  if (state.query && state.queryRow !== null) q.set('item', String(state.queryRow));
  else if (state.pickedBin !== null) q.set('bin', String(state.pickedBin));
  else if (state.selection.length) {
    const enc = encodeRows(state.selection);
    if (enc.length <= MAX_SELECTION_CHARS) q.set('sel', enc);
  }
  for (const [name, get] of Object.entries(addressParts)) {
    const v = get();
    if (v !== null) q.set(name, v);
  }
  history.replaceState(null, '', `?${q}`);
}

/** Ascending distinct rows as base64url varints of their gaps (a contiguous block: ~1 char a row). */
export function encodeRows(rows: ArrayLike<number>): string {
  const sorted = Uint32Array.from(new Set(Array.from(rows))).sort();
  const bytes: number[] = [];
  let prev = -1;
  for (const r of sorted) {
    let gap = r - prev - 1;
    prev = r;
    while (gap >= 0x80) { bytes.push((gap & 0x7f) | 0x80); gap >>>= 7; }
    bytes.push(gap);
  }
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeRows(text: string): Uint32Array {
  let bin: string;
  try {
    bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return new Uint32Array(0);
  }
  const out: number[] = [];
  let prev = -1, gap = 0, shift = 0;
  for (let i = 0; i < bin.length; i++) {
    const b = bin.charCodeAt(i);
    gap |= (b & 0x7f) << shift;
    if (b & 0x80) { shift += 7; continue; }
    prev = prev + gap + 1;
    out.push(prev);
    gap = 0;
    shift = 0;
  }
  return Uint32Array.from(out);
}

/** What the address asked for when the page opened (read once at start). */
export interface SavedView { filters: string[]; find: string | null; item: number | null; bin: number | null; sel: Uint32Array | null; }

export function savedView(q: URLSearchParams): SavedView {
  const num = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
  return { filters: q.getAll('f'), find: q.get('find'), item: num(q.get('item')), bin: num(q.get('bin')),
    sel: q.get('sel') ? decodeRows(q.get('sel')!) : null };
}
