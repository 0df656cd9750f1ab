// The linked metadata charts ("Filter" panel): one compact chart per column (counts per value
// for categories, a histogram for numbers), plus per-item agreement of the pair and each map's
// per-item faithfulness. Clicking values or brushing a range sets a filter (filter.ts): both maps,
// the agreement histogram, the answer strip's figures and the other charts follow, and filters
// on several charts combine. Each chart counts the drawn items that pass the *other* charts'
// filters (as crossfilter does), so more values of a brushed chart can still be added.
//
// The per-row values come as the colour codes the maps use (GET /datasets/NAME/colors: one byte
// a row, categories by code, numbers quantised to 255 levels), so a million rows cost 1 MB a chart
// and a filter is a loop over bytes.
import { enc, getFrame, type ColorHeader } from './api';
import { codeValue, MISSING } from './colorscale';
import { activeFilters, clearFilters, getFilter, onFilter, setFilter, shownRowCount, zoomToShown } from './filter';
import { els, state } from './state';
import { esc, spanDigits } from './util';
import { maps } from './views';

const BINS = 40;         // bars of a numeric chart
const TOP = 8;           // categories shown before "show all" (all of them when up to TOP_ALL)
const TOP_ALL = 12;
const MAX_COLUMNS = 16;  // charts of metadata columns (the first ones)

export interface Facet {
  key: string;            // filter key: 'facet:' + id
  id: string;             // column name, 'agreement', 'faithfulness:A' / 'faithfulness:B'
  title: string;
  note?: string;          // what the values are, in a tooltip
  header: ColorHeader;
  codes: Uint8Array;      // per dataset row
  numeric: boolean;
  picked: Set<number>;    // categories kept (codes), or for numbers the kept bins
  expanded?: boolean;
}

let facets: Facet[] = [];
let loadedFor = '';
let drawn: Uint8Array = new Uint8Array(0);   // dataset rows drawn in either map
/** Filters from the URL, applied once their chart has loaded: facet id -> saved text. */
const pending = new Map<string, string>();

const box = () => document.querySelector<HTMLElement>('#facets');

/** The binned value of a numeric code (0..BINS-1), or -1 for missing. */
const binOf = (code: number): number => (code === MISSING ? -1 : Math.min(BINS - 1, Math.floor((code * BINS) / 255)));

/** Whether the Filter panel has been on screen: its charts load only then (a million rows cost a
 * megabyte a chart), and from then on with every new pair. */
let wanted = false;
let watching = false;

function watchPanel(): void {
  if (watching) return;
  watching = true;
  const panel = document.querySelector('#facets-panel');
  if (!panel || typeof IntersectionObserver === 'undefined') { wanted = true; return; }
  const io = new IntersectionObserver((entries) => {
    if (!entries.some((e) => e.isIntersecting)) return;
    io.disconnect();
    wanted = true;
    void loadFacets();
  });
  io.observe(panel);
}

/** The facets for the pair on screen: (re)load what changed and draw. Called after every draw. */
export async function loadFacets(): Promise<void> {
  const ds = state.dataset;
  const root = box();
  if (!ds || !root) return;
  watchPanel();
  if (!wanted && !pending.size) {   // a filter saved in the address loads its charts at once
    if (!facets.length) root.innerHTML = '<p class="muted small">The charts load when this panel is in view.</p>';
    return;
  }
  wanted = true;
  drawn = drawnRows();
  const key = `${ds.name}|${state.a}|${state.b}|${state.k}|${state.method}|${state.align}|${state.comparison ? 1 : 0}`;
  if (key === loadedFor) { renderFacets(); return; }
  loadedFor = key;
  const gen = state.generation;
  const keepPicked = new Map(facets.map((f) => [f.id, f]));
  const specs: { id: string; title: string; note?: string; params: Record<string, string | number | undefined> }[] = [];
  if (state.comparison && state.a !== state.b) {
    specs.push({ id: 'agreement', title: `agreement (kNN Jaccard, k = ${state.k})`, note: `each item's k = ${state.k} neighbours in ${state.a} vs in ${state.b}: shared / union`,
      params: { by: 'coincidence', a: state.a, b: state.b, k: state.k } });
  }
  for (const side of ['A', 'B'] as const) {
    const v = maps[side];
    if (!v.n) continue;
    const alignTo = side === 'B' && state.align && state.a !== state.b ? state.a : undefined;
    if (side === 'B' && state.a === state.b) continue;
    specs.push({ id: `faithfulness:${side}`, title: `faithfulness of map ${side} (kNN kept)`,
      note: `each item's share of its nearest neighbours in ${v.space} that stay its nearest on the ${v.method} map: low = the map misplaces it`,
      params: { by: 'faithfulness', space: v.space, method: v.method, align_to: alignTo } });
  }
  for (const c of ds.columns.filter((c) => !c.is_id && (c.kind === 'categorical' || c.kind === 'numeric')).slice(0, MAX_COLUMNS)) {
    specs.push({ id: c.name, title: c.name, params: { by: c.name } });
  }
  root.innerHTML = '<p class="muted small">Loading the charts…</p>';
  const out: Facet[] = [];
  for (const s of specs) {
    try {
      const f = await getFrame<ColorHeader>(`datasets/${enc(ds.name)}/colors`, s.params, 'charts');
      if (gen !== state.generation) return;
      const old = keepPicked.get(s.id);
      const numeric = f.header.kind !== 'categorical';
      out.push({ key: `facet:${s.id}`, id: s.id, title: s.title, note: s.note, header: f.header, codes: f.buffers.codes as Uint8Array,
        numeric, picked: old && old.numeric === numeric ? old.picked : new Set(), expanded: old?.expanded });
    } catch { /* a chart whose values are missing (a map without per-item faithfulness) is left out */ }
  }
  facets = out;
  // filters of charts no longer shown go; kept ones are set again on the new codes (same rows)
  for (const f of activeFilters()) if (f.key.startsWith('facet:') && !facets.some((x) => x.key === f.key)) setFilter(f.key, '', null);
  for (const f of facets) {
    const saved = pending.get(f.id);
    if (saved !== undefined) { pending.delete(f.id); restore(f, saved); }
  }
  for (const f of facets) if (f.picked.size) applyFacet(f, false);
  renderFacets();
}

function drawnRows(): Uint8Array {
  const n = state.dataset?.n_rows ?? 0;
  const m = new Uint8Array(n);
  for (const v of [maps.A, maps.B]) for (let i = 0; i < v.n; i++) m[v.rows[i]] = 1;
  return m;
}

/** The keep mask of one chart's picks (null: nothing picked). */
function keepOf(f: Facet): Uint8Array | null {
  if (!f.picked.size) return null;
  const n = f.codes.length, keep = new Uint8Array(n), codes = f.codes;
  if (f.numeric) {
    const ok = new Uint8Array(256);
    for (let c = 0; c < 255; c++) if (f.picked.has(binOf(c))) ok[c] = 1;
    for (let r = 0; r < n; r++) keep[r] = ok[codes[r]];
  } else {
    const ok = new Uint8Array(256);
    for (const c of f.picked) ok[c] = 1;
    for (let r = 0; r < n; r++) keep[r] = ok[codes[r]];
  }
  return keep;
}

/** What a chart keeps, in words: "label is 3 or 5", "agreement 0.20 to 0.45". */
export function describe(f: Facet): string {
  const name = f.id === 'agreement' ? 'agreement' : f.id.startsWith('faithfulness:') ? `faithfulness ${f.id.slice(-1)}` : f.id;
  if (f.numeric) {
    const [lo, hi] = binRange(f);
    return `${name} ${lo} to ${hi}`;
  }
  const labels = [...f.picked].map((c) => categoryLabel(f, c));
  return `${name} is ${labels.length > 3 ? `${labels.slice(0, 3).join(', ')} or ${labels.length - 3} more` : labels.join(' or ')}`;
}

function categoryLabel(f: Facet, code: number): string {
  return f.header.legend?.find((e) => e.code === code)?.label ?? (code === MISSING ? 'missing' : String(code));
}

function binBounds(f: Facet, bin: number): [number, number] {
  return [codeValue(f.header, (bin * 255) / BINS), codeValue(f.header, Math.min(254, ((bin + 1) * 255) / BINS))];
}

function binRange(f: Facet): [string, string] {
  const bins = [...f.picked].sort((a, b) => a - b);
  const span = Math.abs((f.header.max ?? 1) - (f.header.min ?? 0));
  const digits = spanDigits(span);
  return [binBounds(f, bins[0])[0].toFixed(digits), binBounds(f, bins[bins.length - 1])[1].toFixed(digits)];
}

/** Saved in the URL: category labels joined by '|', or a numeric range 'lo~hi'. */
function savedText(f: Facet): string {
  if (f.numeric) return binRange(f).join('~');
  return [...f.picked].map((c) => categoryLabel(f, c)).join('|');
}

function restore(f: Facet, saved: string): void {
  f.picked.clear();
  if (f.numeric) {
    const [lo, hi] = saved.split('~').map(Number);
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return;
    for (let b = 0; b < BINS; b++) {
      const [a, z] = binBounds(f, b);
      const mid = (a + z) / 2;
      if (mid >= Math.min(lo, hi) && mid <= Math.max(lo, hi)) f.picked.add(b);
    }
  } else {
    const want = new Set(saved.split('|'));
    for (const e of f.header.legend ?? []) if (want.has(e.label)) f.picked.add(e.code);
  }
}

function applyFacet(f: Facet, render = true): void {
  const keep = keepOf(f);
  const had = getFilter(f.key) !== undefined;
  setFilter(f.key, keep ? describe(f) : '', keep, keep ? `${f.id}=${savedText(f)}` : undefined);
  if (render && !had && !keep) renderFacets();   // nothing changed, so no listener redrew the charts
}

/** Filters to restore from the address once the charts load: 'col=v1|v2', 'agreement=0.1~0.4'. */
export function restoreFilters(saved: string[]): void {
  for (const s of saved) {
    const i = s.indexOf('=');
    if (i > 0) pending.set(s.slice(0, i), s.slice(i + 1));
  }
}

/** Pick (or, picked, drop) one category / a numeric range from the code. */
export function pick(id: string, codes: number[] | [number, number], range = false): void {
  const f = facets.find((x) => x.id === id);
  if (!f) return;
  if (range) {
    const [b0, b1] = codes as [number, number];
    f.picked.clear();
    for (let b = Math.min(b0, b1); b <= Math.max(b0, b1); b++) f.picked.add(b);
  } else {
    for (const c of codes) if (f.picked.has(c)) f.picked.delete(c); else f.picked.add(c);
  }
  applyFacet(f);
}

// -- drawing --------------------------------------------------------------------------------
/** Per code, the drawn rows that pass every filter but this chart's own. */
function countsOf(f: Facet, fails: Uint8Array | null, own: Uint8Array | null): { all: Uint32Array; shown: Uint32Array } {
  const all = new Uint32Array(256), shown = new Uint32Array(256), codes = f.codes, n = codes.length;
  for (let r = 0; r < n; r++) {
    if (!drawn[r]) continue;
    const c = codes[r];
    all[c]++;
    if (!fails) { shown[c]++; continue; }
    const k = fails[r];
    if (k === 0 || (k === 1 && own && !own[r])) shown[c]++;
  }
  return { all, shown };
}

/** Per row, how many of the active filters leave it out. */
function failCounts(): Uint8Array | null {
  const list = activeFilters();
  if (!list.length) return null;
  const n = list[0].keep.length, fails = new Uint8Array(n);
  for (const f of list) { const k = f.keep; for (let r = 0; r < n; r++) fails[r] += 1 - k[r]; }
  return fails;
}

export function renderFacets(): void {
  const root = box();
  if (!root) return;
  const t0 = performance.now();
  const fails = failCounts();
  const head = document.querySelector<HTMLElement>('#facets-head')!;
  const active = activeFilters();
  head.innerHTML = active.length
    ? `<span class="filter-count"><b>${shownRowCount().toLocaleString()}</b> of ${countDrawn().toLocaleString()} items shown</span> `
      + active.map((f) => `<span class="chip" data-key="${esc(f.key)}" title="${esc(f.label)}">${esc(f.label)} <button class="x" aria-label="drop this filter" data-key="${esc(f.key)}">×</button></span>`).join('')
      + ' <button class="link zoom-shown" title="Zoom both maps to the shown items">zoom to them</button>'
      + ' <button class="link clear-filters">clear filters</button>'
    : '<span class="muted small">Click values or drag across a chart to show only those items; filters combine.</span>';
  head.querySelectorAll<HTMLButtonElement>('button.x').forEach((b) => { b.onclick = () => dropFilter(b.dataset.key!); });
  head.querySelector<HTMLButtonElement>('.clear-filters')?.addEventListener('click', clearAllFilters);
  head.querySelector<HTMLButtonElement>('.zoom-shown')?.addEventListener('click', zoomToShown);
  if (!facets.length) { root.innerHTML = '<p class="muted small">No column to chart.</p>'; return; }
  root.innerHTML = facets.map((f) => {
    const own = getFilter(f.key)?.keep ?? null;
    const { all, shown: sh } = countsOf(f, fails, own);
    return `<div class="facet${f.picked.size ? ' active' : ''}" data-id="${esc(f.id)}"><div class="facet-title" title="${esc(f.note ?? f.title)}">${esc(f.title)}</div>${f.numeric ? numericChart(f, all, sh) : categoryChart(f, all, sh)}</div>`;
  }).join('');
  root.querySelectorAll<HTMLElement>('.facet').forEach((el) => wire(el, facets.find((f) => f.id === el.dataset.id)!));
  root.dataset.ms = String(Math.round(performance.now() - t0));
}

function countDrawn(): number {
  let c = 0;
  for (let r = 0; r < drawn.length; r++) c += drawn[r];
  return c;
}

function dropFilter(key: string): void {
  const f = facets.find((x) => x.key === key);
  if (f) f.picked.clear();
  setFilter(key, '', null);
  renderFacets();
}

function categoryChart(f: Facet, all: Uint32Array, shown: Uint32Array): string {
  const entries = (f.header.legend ?? []).filter((e) => all[e.code] > 0).sort((a, b) => all[b.code] - all[a.code]);
  const list = f.expanded || entries.length <= TOP_ALL ? entries : entries.slice(0, TOP);
  const max = Math.max(1, ...list.map((e) => all[e.code]));
  const rows = list.map((e) => {
    const w = (100 * all[e.code]) / max, ws = (100 * shown[e.code]) / max;
    const on = f.picked.has(e.code);
    return `<li class="cat${on ? ' on' : ''}" data-code="${e.code}" title="${esc(e.label)}: ${shown[e.code].toLocaleString()} shown of ${all[e.code].toLocaleString()}">`
      + `<span class="cat-label">${esc(e.label)}</span><span class="cat-bar"><i class="all" style="width:${w.toFixed(1)}%"></i><i class="shown" style="width:${ws.toFixed(1)}%"></i></span>`
      + `<span class="cat-n">${compactCount(shown[e.code])}</span></li>`;
  }).join('');
  const more = entries.length > TOP_ALL ? `<button class="link more">${f.expanded ? 'fewer' : `all ${entries.length}`}</button>` : '';
  const other = f.header.note ? `<div class="muted small">${esc(f.header.note)}</div>` : '';
  return `<ul class="cats">${rows}</ul>${more}${other}`;
}

function numericChart(f: Facet, all: Uint32Array, shown: Uint32Array): string {
  const W = 300, H = 46, top = 4, base = H - 14;
  const a = new Float64Array(BINS), s = new Float64Array(BINS);
  for (let c = 0; c < 255; c++) { const b = binOf(c); a[b] += all[c]; s[b] += shown[c]; }
  const max = Math.max(1, ...a);
  const bw = W / BINS;
  const bars = Array.from({ length: BINS }, (_, b) => {
    const ha = ((base - top) * a[b]) / max, hs = ((base - top) * s[b]) / max;
    const on = f.picked.has(b);
    const [lo, hi] = binBounds(f, b);
    return `<rect class="all" x="${(b * bw).toFixed(1)}" y="${(base - ha).toFixed(1)}" width="${(bw - 0.6).toFixed(1)}" height="${ha.toFixed(1)}"/>`
      + `<rect class="shown${on ? ' on' : ''}" data-bin="${b}" x="${(b * bw).toFixed(1)}" y="${(base - hs).toFixed(1)}" width="${(bw - 0.6).toFixed(1)}" height="${hs.toFixed(1)}"><title>${lo.toFixed(3)} to ${hi.toFixed(3)}: ${s[b].toLocaleString()} shown of ${a[b].toLocaleString()}</title></rect>`;
  }).join('');
  const lo = codeValue(f.header, 0), hi = codeValue(f.header, 254);
  const digits = spanDigits(Math.abs(hi - lo));
  const missing = all[MISSING] ? `<span class="muted small"> · ${all[MISSING].toLocaleString()} without a value</span>` : '';
  const brushed = f.picked.size ? `<span class="brushed">${esc(binRange(f).join(' to '))}</span>` : '';
  return `<svg class="num" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="none" data-bins="${BINS}">${bars}`
    + `<rect class="hit" x="0" y="0" width="${W}" height="${base}" fill="transparent"/>`
    + `<text x="0" y="${H - 2}" class="tick">${lo.toFixed(digits)}</text><text x="${W}" y="${H - 2}" class="tick" text-anchor="end">${hi.toFixed(digits)}</text></svg>`
    + `<div class="facet-foot">${brushed}${missing}</div>`;
}

function compactCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${Math.round(n / 1e3)}k` : n.toLocaleString();
}

function wire(el: HTMLElement, f: Facet): void {
  el.querySelectorAll<HTMLLIElement>('li.cat').forEach((li) => { li.onclick = () => pick(f.id, [Number(li.dataset.code)]); });
  const more = el.querySelector<HTMLButtonElement>('.more');
  if (more) more.onclick = () => { f.expanded = !f.expanded; renderFacets(); };
  const svg = el.querySelector<SVGSVGElement>('svg.num');
  if (!svg) return;
  // brushing: press, drag across the bars, release; a click without a drag on a picked range drops it
  const binAt = (ev: MouseEvent) => {
    const r = svg.getBoundingClientRect();
    return Math.max(0, Math.min(BINS - 1, Math.floor(((ev.clientX - r.left) / r.width) * BINS)));
  };
  svg.onmousedown = (ev) => {
    ev.preventDefault();
    const start = binAt(ev);
    let end = start, moved = false;
    const mark = () => svg.querySelectorAll<SVGRectElement>('rect.shown').forEach((b) => {
      const i = Number(b.dataset.bin);
      b.classList.toggle('on', i >= Math.min(start, end) && i <= Math.max(start, end));
    });
    mark();
    const move = (e: MouseEvent) => { const b = binAt(e); if (b !== end) { end = b; moved = true; mark(); } };
    const up = () => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      if (!moved && f.picked.size === 1 && f.picked.has(start)) { f.picked.clear(); applyFacet(f); return; }
      pick(f.id, [start, end], true);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  };
}

/** A new dataset: the charts are loaded again. */
export function forgetFacets(): void {
  facets = [];
  loadedFor = '';
}

/** Drop every filter (the charts' and the search's). */
export function clearAllFilters(): void {
  for (const f of facets) f.picked.clear();
  clearFilters();
  renderFacets();
}

export const facetHandle = { facets: () => facets, pick, describe, clear: clearAllFilters };

// the charts count what the other filters keep: redraw on every filter change (search's too)
onFilter(() => { if (els && facets.length) renderFacets(); });
