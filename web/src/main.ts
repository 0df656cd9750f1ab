// The spacelens analyzer page: two linked maps of two embedding spaces of one dataset,
// coloured by metadata or by neighbourhood agreement, with a Jaccard histogram, kNN query
// tables, evaluation figures and CSV export of any selection.
import './style.css';
import {
  ApiError, enc, getFrame, getJSON, postJSON, postRows, traffic,
  type ColorHeader, type ComparisonHeader, type Dataset, type Item, type Job, type JobSpec, type MapHeader,
  type QueryResult, type Registry, type SearchHit, type Space, type Evaluation,
} from './api';
import { mapRows } from './frame';
import { MapView } from './maps';
import { renderRegistry } from './registry';

const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => document.querySelector(sel) as T;
const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: unknown, digits = 3): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : v === null || v === undefined ? '–' : String(v));
const METHOD_LABEL: Record<string, string> = { pca: 'PCA', umap: 'UMAP', 'pca-umap': 'PCA→UMAP' };

interface State {
  registry: Registry | null;
  dataset: Dataset | null;
  a: string; b: string; method: string; color: string; k: number; align: boolean;
  colors: { header: ColorHeader; codes: Uint8Array } | null;
  comparison: { header: ComparisonHeader; bins: Uint8Array } | null;
  selection: Uint32Array;
  selectionLabel: string;
  query: QueryResult | null;
  queryRow: number | null;
  missing: JobSpec[];
  generation: number;
  loading: boolean;
  timings: Record<string, number>;
  colorChosen: boolean;
}

const state: State = {
  registry: null, dataset: null, a: '', b: '', method: 'pca', color: '', k: 10, align: false,
  colors: null, comparison: null, selection: new Uint32Array(0), selectionLabel: '', query: null, queryRow: null,
  missing: [], generation: 0, loading: false, timings: {}, colorChosen: false,
};

const els = {
  dataset: $<HTMLSelectElement>('#dataset'), a: $<HTMLSelectElement>('#space-a'), b: $<HTMLSelectElement>('#space-b'),
  method: $<HTMLSelectElement>('#method'), color: $<HTMLSelectElement>('#color'), k: $<HTMLInputElement>('#k'),
  lasso: $<HTMLInputElement>('#lasso'), align: $<HTMLInputElement>('#align'), computeMissing: $<HTMLButtonElement>('#compute-missing'),
  status: $('#status'), tooltip: $('#tooltip'), legend: $('#legend'), histogram: $('#histogram'),
  selectionInfo: $('#selection-info'), exportBtn: $<HTMLButtonElement>('#export'),
  clearBtn: $<HTMLButtonElement>('#clear-selection'), evaluation: $('#evaluation'),
  search: $<HTMLInputElement>('#search'), searchResults: $('#search-results'), queryInfo: $('#query-info'),
  tableA: $<HTMLTableElement>('#table-a'), tableB: $<HTMLTableElement>('#table-b'),
};

// -- the two linked maps ---------------------------------------------------------------
const itemCache = new Map<string, Item>();
let tooltipFor: number | null = null;

const handlers = {
  over(view: MapView, point: number, ev: MouseEvent | null) {
    const row = view.rows[point];
    other(view).hoverRow(row);
    showTooltip(row, view, point, ev);
  },
  out(view: MapView) {
    other(view).hoverRow(null);
    hideTooltip();
  },
  select(view: MapView, points: number[]) {
    if (!points.length) { clearSelection(); return; }
    const rows = Uint32Array.from(points, (p) => view.rows[p]);
    if (points.length === 1) { void runQuery(rows[0]); return; }
    setSelection(rows, `${points.length} items lassoed in ${view.side === 'A' ? state.a : state.b}`, view);
  },
  deselect() { clearSelection(); },
};

const maps = { A: new MapView($('#map-a'), handlers), B: new MapView($('#map-b'), handlers) };
const other = (v: MapView): MapView => (v === maps.A ? maps.B : maps.A);

// -- status ----------------------------------------------------------------------------
function status(msg: string): void {
  els.status.textContent = msg;
}

function wireStatus(): void {
  const n = maps.A.n + maps.B.n;
  const perPoint = n ? (traffic.bytes / n).toFixed(1) : '–';
  status(`${maps.A.n.toLocaleString()} + ${maps.B.n.toLocaleString()} points · ${(traffic.bytes / 1e6).toFixed(1)} MB of point data, ${perPoint} bytes a point a map`);
}

// -- loading the registry and filling the pickers --------------------------------------
async function loadRegistry(): Promise<void> {
  state.registry = await getJSON<Registry>('registry');
  renderRegistry($('#registry'), state.registry, openComparison);
}

function spacesOf(ds: string): Space[] {
  return (state.registry?.spaces ?? []).filter((s) => s.dataset === ds);
}

function options(sel: HTMLSelectElement, items: { value: string; label: string }[], value: string): void {
  sel.innerHTML = items.map((o) => `<option value="${esc(o.value)}">${esc(o.label)}</option>`).join('');
  if (items.some((o) => o.value === value)) sel.value = value;
}

async function chooseDataset(name: string): Promise<void> {
  state.dataset = name ? await getJSON<Dataset>(`datasets/${enc(name)}`) : null;
  itemCache.clear();
  const spaces = state.dataset ? spacesOf(state.dataset.name) : [];
  const names = spaces.map((s) => ({ value: s.name, label: `${s.name} (${s.dim}d, ${s.n_rows.toLocaleString()})` }));
  if (!spaces.some((s) => s.name === state.a)) state.a = spaces[0]?.name ?? '';
  if (!spaces.some((s) => s.name === state.b)) state.b = spaces[1]?.name ?? spaces[0]?.name ?? '';
  options(els.a, names, state.a);
  options(els.b, names, state.b);
  fillColors();
}

function fillColors(): void {
  const cols = (state.dataset?.columns ?? []).filter((c) => c.kind === 'categorical' || c.kind === 'numeric');
  const items = [{ value: '', label: '(none)' }, { value: 'coincidence', label: 'coincidence (Jaccard A vs B)' },
    ...cols.map((c) => ({ value: c.name, label: `${c.name} (${c.kind})` }))];
  if (!state.colorChosen || !items.some((o) => o.value === state.color)) {
    const firstCat = cols.find((c) => c.kind === 'categorical' && !c.is_id);
    const compared = (state.registry?.comparisons ?? []).some((c) => new Set([c.a, c.b]).has(state.a) && new Set([c.a, c.b]).has(state.b));
    state.color = firstCat ? firstCat.name : compared ? 'coincidence' : '';
  }
  options(els.color, items, state.color);
}

function preferredMethod(): string {
  const have = (name: string) => new Set(spacesOf(state.dataset?.name ?? '').find((s) => s.name === name)?.maps ?? []);
  const ma = have(state.a);
  const mb = have(state.b);
  for (const m of ['umap', 'pca-umap', 'pca']) if (ma.has(m) && mb.has(m)) return m;
  for (const m of ['umap', 'pca-umap', 'pca']) if (ma.has(m) || mb.has(m)) return m;
  return 'pca';
}

function writeUrl(): void {
  const q = new URLSearchParams();
  if (state.dataset) q.set('dataset', state.dataset.name);
  if (state.a) q.set('a', state.a);
  if (state.b) q.set('b', state.b);
  q.set('method', state.method);
  if (state.color) q.set('color', state.color);
  q.set('k', String(state.k));
  if (state.align) q.set('align', '1');
  history.replaceState(null, '', `?${q}`);
}

// -- drawing ---------------------------------------------------------------------------
async function refresh(): Promise<void> {
  const gen = ++state.generation;
  const ds = state.dataset;
  if (!ds || !state.a || !state.b) return;
  writeUrl();
  state.loading = true;
  state.missing = [];
  state.comparison = null;
  state.timings = { start: performance.now() };
  traffic.bytes = 0;
  traffic.frames = 0;
  traffic.payload = 0;
  clearQuery();
  clearSelection();
  status('loading maps…');
  updateMissingButton();

  const colorsP = loadColors(ds.name).catch((e) => e as Error);
  const comparisonP = state.a !== state.b
    ? getFrame<ComparisonHeader>('comparison', { a: state.a, b: state.b, k: state.k }).catch((e) => e as Error)
    : Promise.resolve(new Error('Pick two different spaces to compare them'));
  const draws = (['A', 'B'] as const).map(async (side) => {
    const view = maps[side];
    const space = side === 'A' ? state.a : state.b;
    const alignTo = side === 'B' && state.align && state.a !== state.b ? state.a : undefined;
    view.root.querySelector('.map-title')!.textContent = `${side}: ${space}`;
    view.root.querySelector('.faith')!.textContent = '';
    try {
      const frame = await getFrame<MapHeader>(`spaces/${enc(space)}/map`, { method: state.method, align_to: alignTo });
      if (gen !== state.generation) return;
      const colors = await colorsP;
      if (gen !== state.generation) return;
      const h = frame.header;
      const rows = mapRows(h.rows, h.n, frame.buffers);
      view.showOverlay(null);
      const c = colors instanceof Error ? null : colors;
      await view.show(space, h.method, frame.buffers.x as Float32Array, frame.buffers.y as Float32Array, rows,
        h.n_dataset, c?.codes ?? null, c?.header.palette ?? []);
      state.timings[side] = view.drawnAt - state.timings.start;
      const f = h.faithfulness ?? {};
      view.root.querySelector('.faith')!.textContent = `${METHOD_LABEL[h.method] ?? h.method}${alignTo ? ' aligned to A' : ''} · kNN preservation ${fmt(f.knn_preservation)} · trustworthiness ${fmt(f.trustworthiness)}`;
    } catch (e) {
      if (gen !== state.generation) return;
      view.clear();
      showMissing(view, e as Error, { kind: 'projection', space, method: state.method, align_to: alignTo });
    }
  });

  const comparison = await comparisonP;
  if (gen === state.generation) {
    if (comparison instanceof Error) {
      state.comparison = null;
      renderHistogram(comparison);
    } else {
      state.comparison = { header: comparison.header, bins: comparison.buffers.bins as Uint8Array };
      renderHistogram(null);
    }
  }
  void renderEvaluations(gen);
  await Promise.all(draws);
  const colors = await colorsP;
  if (gen !== state.generation) return;
  renderLegend(colors instanceof Error ? colors : null);
  state.loading = false;
  updateMissingButton();
  wireStatus();
  document.body.dataset.ready = String(gen);
}

async function loadColors(dataset: string): Promise<State['colors']> {
  state.colors = null;
  if (!state.color) return null;
  const frame = await getFrame<ColorHeader>(`datasets/${enc(dataset)}/colors`, {
    by: state.color, a: state.color === 'coincidence' ? state.a : undefined,
    b: state.color === 'coincidence' ? state.b : undefined, k: state.k,
  });
  state.colors = { header: frame.header, codes: frame.buffers.codes as Uint8Array };
  return state.colors;
}

async function recolor(): Promise<void> {
  writeUrl();
  const ds = state.dataset;
  if (!ds) return;
  let err: Error | null = null;
  try {
    await loadColors(ds.name);
  } catch (e) {
    err = e as Error;
    if (e instanceof ApiError && e.missing) addMissing(e.missing);
  }
  await Promise.all([maps.A, maps.B].map((v) => v.recolor(state.colors?.codes ?? null, state.colors?.header.palette ?? [])));
  renderLegend(err);
  reapplySelection();
}

// -- missing results: compute jobs with progress ---------------------------------------
function addMissing(spec: JobSpec): void {
  const key = JSON.stringify(spec);
  if (!state.missing.some((m) => JSON.stringify(m) === key)) state.missing.push(spec);
  updateMissingButton();
}

function updateMissingButton(): void {
  els.computeMissing.hidden = state.missing.length === 0;
  els.computeMissing.textContent = `Compute missing (${state.missing.length})`;
}

function showMissing(view: MapView, e: Error, spec: JobSpec): void {
  if (e instanceof ApiError && e.missing) {
    addMissing(e.missing);
    const ov = view.showOverlay(`<p>${esc(e.message)}</p><button class="compute">Compute ${esc(METHOD_LABEL[spec.method ?? ''] ?? '')} map</button><div class="progress" hidden><div class="bar"></div><span class="stage"></span></div>`);
    ov.querySelector<HTMLButtonElement>('.compute')!.onclick = () => void runJob(e.missing!, ov);
  } else {
    view.showOverlay(`<p class="error">${esc(e.message)}</p>`);
  }
}

const activeJobs = new Map<string, Promise<void>>();

async function runJob(spec: JobSpec, box: HTMLElement | null): Promise<void> {
  const key = JSON.stringify(spec);
  if (activeJobs.has(key)) return activeJobs.get(key);
  const p = (async () => {
    const button = box?.querySelector<HTMLButtonElement>('.compute');
    if (button) button.disabled = true;
    const prog = box?.querySelector<HTMLElement>('.progress');
    if (prog) prog.hidden = false;
    let job = await postJSON<Job>('jobs', spec);
    while (job.status === 'queued' || job.status === 'running') {
      showProgress(prog, job);
      await sleep(400);
      job = await getJSON<Job>(`jobs/${enc(job.id)}`);
    }
    showProgress(prog, job);
    if (job.status === 'failed') throw new Error(job.error ?? 'the job failed');
  })();
  activeJobs.set(key, p);
  try {
    await p;
    state.missing = state.missing.filter((m) => JSON.stringify(m) !== key);
    await loadRegistry();
    await refresh();
  } catch (e) {
    if (box) box.insertAdjacentHTML('beforeend', `<p class="error">${esc((e as Error).message)}</p>`);
    status(`failed: ${(e as Error).message}`);
  } finally {
    activeJobs.delete(key);
  }
}

function showProgress(prog: HTMLElement | null | undefined, job: Job): void {
  const frac = job.fraction;
  const text = `${job.stage}${frac !== null ? ` · ${Math.round(frac * 100)}%` : ''} · ${job.elapsed_s.toFixed(0)} s`;
  status(`computing: ${text}`);
  if (!prog) return;
  const bar = prog.querySelector<HTMLElement>('.bar')!;
  bar.style.width = frac === null ? '100%' : `${Math.round(frac * 100)}%`;
  bar.classList.toggle('indeterminate', frac === null);
  prog.querySelector('.stage')!.textContent = text;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// -- tooltip ---------------------------------------------------------------------------
async function fetchItem(row: number): Promise<Item> {
  const ds = state.dataset!.name;
  const key = `${ds}|${row}|${state.a}|${state.b}|${state.k}`;
  let item = itemCache.get(key);
  if (!item) {
    item = await getJSON<Item>(`datasets/${enc(ds)}/items/${row}`, { a: state.a, b: state.b, k: state.k });
    if (itemCache.size > 2000) itemCache.clear();
    itemCache.set(key, item);
  }
  return item;
}

function showTooltip(row: number, view: MapView, point: number, ev: MouseEvent | null): void {
  tooltipFor = row;
  const tip = els.tooltip;
  let x = ev?.clientX;
  let y = ev?.clientY;
  if (x === undefined || y === undefined) {
    const p = view.plot?.getScreenPosition(point);
    const r = view.canvas.getBoundingClientRect();
    x = r.left + (p?.[0] ?? 0);
    y = r.top + (p?.[1] ?? 0);
  }
  tip.style.left = `${Math.min(x + 14, window.innerWidth - 320)}px`;
  tip.style.top = `${Math.min(y + 14, window.innerHeight - 200)}px`;
  tip.hidden = false;
  tip.dataset.row = String(row);
  tip.innerHTML = `<b>row ${row}</b>`;
  fetchItem(row).then((item) => {
    if (tooltipFor !== row) return;
    const meta = Object.entries(item.metadata).slice(0, 14)
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`).join('');
    const jac = item.jaccard !== undefined ? `<tr><th>Jaccard A/B</th><td>${esc(fmt(item.jaccard))}</td></tr>` : '';
    const imgs = item.images.map((im) => `<img src="${esc(im.url)}" alt="${esc(im.column)}" />`).join('');
    tip.innerHTML = `<div class="tip-id">${esc(item.id)}</div>${imgs}<table>${jac}${meta}</table>`;
    tip.dataset.id = item.id;
  }).catch(() => { /* the row vanished: keep the short tooltip */ });
}

function hideTooltip(): void {
  tooltipFor = null;
  els.tooltip.hidden = true;
  delete els.tooltip.dataset.id;
}

// -- selection and export --------------------------------------------------------------
function setSelection(rows: Uint32Array, label: string, from: MapView | null = null, mapsToo = true): void {
  const sorted = Uint32Array.from(new Set(rows)).sort();
  state.selection = sorted;
  state.selectionLabel = label;
  if (mapsToo) for (const v of [maps.A, maps.B]) if (v !== from) v.selectRows(sorted);
  renderSelection();
}

function clearSelection(): void {
  state.selection = new Uint32Array(0);
  state.selectionLabel = '';
  for (const v of [maps.A, maps.B]) v.selectRows([]);
  renderSelection();
}

function reapplySelection(): void {
  if (state.query && state.queryRow !== null) highlightQuery(state.query, state.queryRow);
  else if (state.selection.length) for (const v of [maps.A, maps.B]) v.selectRows(state.selection);
}

function renderSelection(): void {
  const n = state.selection.length;
  els.selectionInfo.textContent = n ? `${n.toLocaleString()} selected: ${state.selectionLabel}` : 'Nothing selected. Click a point, shift-drag a lasso, or click a histogram bar.';
  els.selectionInfo.dataset.count = String(n);
  els.exportBtn.disabled = n === 0;
  els.clearBtn.disabled = n === 0;
}

async function exportSelection(): Promise<void> {
  const ds = state.dataset;
  if (!ds || !state.selection.length) return;
  const blob = await postRows(`datasets/${enc(ds.name)}/export`, state.selection,
    { a: state.a !== state.b ? state.a : undefined, b: state.a !== state.b ? state.b : undefined, k: state.k });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${ds.name}-selection.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// -- histogram -------------------------------------------------------------------------
function renderHistogram(err: Error | null): void {
  const box = els.histogram;
  const c = state.comparison;
  if (!c) {
    const spec = err instanceof ApiError ? err.missing : null;
    if (spec) addMissing(spec);
    box.innerHTML = `<p class="muted">${esc(err?.message ?? '')}</p>${spec ? '<button class="compute">Compute comparison</button><div class="progress" hidden><div class="bar"></div><span class="stage"></span></div>' : ''}`;
    const btn = box.querySelector<HTMLButtonElement>('.compute');
    if (btn && spec) btn.onclick = () => void runJob(spec, box);
    return;
  }
  const { edges, counts } = c.header.histogram;
  const W = 320, H = 150, pad = 24;
  const max = Math.max(1, ...counts);
  const bw = (W - 2 * pad) / counts.length;
  const xOf = (v: number) => pad + v * (W - 2 * pad);
  const bars = counts.map((n, i) => {
    const h = (n / max) * (H - 2 * pad);
    return `<rect class="bar" data-bin="${i}" data-count="${n}" x="${xOf(edges[i]) + 0.5}" y="${H - pad - h}" width="${Math.max(bw - 1, 1)}" height="${Math.max(h, n ? 1 : 0)}" fill="${jaccardColor(edges[i] + 0.5 / counts.length)}"><title>Jaccard ${edges[i].toFixed(2)}–${edges[i + 1].toFixed(2)}: ${n.toLocaleString()} items</title></rect>`;
  }).join('');
  const hits = counts.map((_, i) => `<rect class="hit" data-bin="${i}" x="${xOf(edges[i])}" y="${pad / 2}" width="${bw}" height="${H - pad * 1.5}" fill="transparent"/>`).join('');
  const mx = xOf(c.header.mean);
  box.innerHTML = `<svg viewBox="0 0 ${W} ${H}" width="100%" class="hist">
    ${bars}${hits}
    <line x1="${mx}" x2="${mx}" y1="${pad / 2}" y2="${H - pad}" class="mean"/>
    <text x="${mx + 3}" y="${pad / 2 + 9}" class="mean-label">mean ${c.header.mean.toFixed(3)}</text>
    <line x1="${pad}" x2="${W - pad}" y1="${H - pad}" y2="${H - pad}" class="axis"/>
    <text x="${pad}" y="${H - 8}" class="tick">0</text><text x="${W / 2}" y="${H - 8}" class="tick" text-anchor="middle">0.5</text>
    <text x="${W - pad}" y="${H - 8}" class="tick" text-anchor="end">1</text></svg>
    <div class="muted" id="hist-summary" data-mean="${c.header.mean}">k = ${c.header.k} · ${c.header.n.toLocaleString()} shared items · mean Jaccard <b>${c.header.mean.toFixed(3)}</b>. Click a bar to select its items.</div>`;
  box.querySelectorAll<SVGRectElement>('rect.hit').forEach((r) => {
    r.addEventListener('click', () => selectBin(Number(r.dataset.bin)));
  });
}

function selectBin(bin: number): void {
  const c = state.comparison;
  if (!c) return;
  const rows: number[] = [];
  for (let r = 0; r < c.bins.length; r++) if (c.bins[r] === bin) rows.push(r);
  const e = c.header.histogram.edges;
  clearQuery();
  setSelection(Uint32Array.from(rows), `Jaccard ${e[bin].toFixed(2)}–${e[bin + 1].toFixed(2)}`);
  els.histogram.querySelectorAll('rect.bar').forEach((b) => b.classList.toggle('picked', Number((b as SVGElement).dataset.bin) === bin));
}

function jaccardColor(v: number): string {
  const pal = state.colors?.header.kind === 'coincidence' ? state.colors.header.palette : null;
  if (pal) return pal[Math.min(254, Math.max(0, Math.round(v * 254)))];
  // blue (low) to red (high), as the coincidence colouring
  const lerp = (a: number, b: number, t: number) => Math.round(a + (b - a) * t);
  return v < 0.5 ? `rgb(${lerp(59, 221, v * 2)},${lerp(76, 221, v * 2)},${lerp(192, 221, v * 2)})`
    : `rgb(${lerp(221, 180, (v - 0.5) * 2)},${lerp(221, 4, (v - 0.5) * 2)},${lerp(221, 38, (v - 0.5) * 2)})`;
}

// -- legend ----------------------------------------------------------------------------
function renderLegend(err: Error | null): void {
  const c = state.colors;
  if (err) { els.legend.innerHTML = `<p class="error">${esc(err.message)}</p>`; return; }
  if (!c) { els.legend.innerHTML = '<p class="muted">Uniform colour. Pick a column or "coincidence".</p>'; return; }
  const h = c.header;
  if (h.kind === 'categorical') {
    els.legend.innerHTML = `<ul class="swatches">${(h.legend ?? []).map((e) => `<li><i style="background:${e.color}"></i>${esc(e.label)} <span class="muted">${e.count.toLocaleString()}</span></li>`).join('')}</ul>`;
  } else {
    const grad = `linear-gradient(to right, ${(h.stops ?? []).join(',')})`;
    const lo = h.kind === 'coincidence' ? '0 (no shared neighbours)' : fmt(h.min);
    const hi = h.kind === 'coincidence' ? '1 (same neighbours)' : fmt(h.max);
    const mean = h.mean !== undefined ? `<div>mean ${fmt(h.mean)}</div>` : '';
    els.legend.innerHTML = `<div class="ramp" style="background:${grad}"></div><div class="ramp-labels"><span>${esc(lo)}</span><span>${esc(hi)}</span></div>${mean}${h.missing ? `<div class="muted">${h.missing.toLocaleString()} without a value (grey)</div>` : ''}`;
  }
  els.legend.dataset.by = h.by;
}

// -- evaluations -----------------------------------------------------------------------
async function renderEvaluations(gen: number): Promise<void> {
  const spaces = state.a === state.b ? [state.a] : [state.a, state.b];
  const parts = await Promise.all(spaces.map(async (s) => {
    const rec = await getJSON<{ evaluations: Evaluation[] }>(`spaces/${enc(s)}`).catch(() => ({ evaluations: [] as Evaluation[] }));
    const evs = rec.evaluations;
    if (!evs.length) return `<h4>${esc(s)}</h4><p class="muted">No evaluation stored (spacelens evaluate ${esc(s)} --label-field …).</p>`;
    const names = Array.from(new Set(evs.flatMap((e) => Object.keys(e.metrics))));
    const label = (e: Evaluation) => {
      const p = e.params as Record<string, unknown>;
      return p.label_field ? `${p.label_field} · ${p.metric ?? ''}${p.split ? ' · split' : ''}` : (e.name ?? `#${e.id}`);
    };
    const head = `<tr><th></th>${evs.map((e) => `<th>${esc(label(e))}</th>`).join('')}</tr>`;
    const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '–');
    const body = names.map((m) => `<tr><th>${esc(m)}</th>${evs.map((e) => `<td>${num(e.metrics[m])}</td>`).join('')}</tr>`).join('');
    return `<h4>${esc(s)}</h4><table class="metrics" data-space="${esc(s)}">${head}${body}</table>`;
  }));
  if (gen === state.generation) els.evaluation.innerHTML = parts.join('');
}

// -- kNN query -------------------------------------------------------------------------
async function runQuery(row: number): Promise<void> {
  if (!state.dataset) return;
  els.queryInfo.textContent = 'querying…';
  try {
    const res = await getJSON<QueryResult>('query', { space: state.a, vs: state.b !== state.a ? state.b : undefined, row, k: state.k });
    state.query = res;
    state.queryRow = row;
    renderQuery(res);
    highlightQuery(res, row);
  } catch (e) {
    els.queryInfo.textContent = (e as Error).message;
  }
}

function highlightQuery(res: QueryResult, row: number): void {
  const nA = (res.spaces[state.a] ?? []).map((n) => n.row);
  const nB = (res.spaces[state.b] ?? []).map((n) => n.row);
  const all = Uint32Array.from(new Set([row, ...nA, ...nB]));
  setSelection(all, `query ${res.query} and its neighbours`, null, false);
  maps.A.selectRows([row, ...nA]);
  maps.B.selectRows([row, ...nB]);
  maps.A.hoverRow(row);
  maps.B.hoverRow(row);
}

function renderQuery(res: QueryResult): void {
  const shared = new Set(res.shared);
  els.queryInfo.innerHTML = `query <b>${esc(res.query)}</b> · k = ${res.k} · <span class="shared-mark">★</span> ${shared.size} shared`;
  const fill = (table: HTMLTableElement, title: HTMLElement, space: string) => {
    const list = res.spaces[space] ?? [];
    title.textContent = `${space}: ${list.length} neighbours`;
    const extra = Array.from(new Set(list.flatMap((n) => Object.keys(n))))
      .filter((k) => !['id', 'row', 'distance', 'rank', state.dataset?.id_field].includes(k)).slice(0, 4);
    table.innerHTML = `<thead><tr><th>#</th><th>id</th><th>distance</th>${extra.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${list.map((n, i) => `<tr data-row="${n.row}" data-id="${esc(n.id)}" class="${shared.has(String(n.id)) ? 'shared' : ''}"><td>${i + 1}</td><td>${shared.has(String(n.id)) ? '<span class="shared-mark">★</span> ' : ''}${esc(n.id)}</td><td>${fmt(n.distance, 4)}</td>${extra.map((k) => `<td>${esc(fmt(n[k]))}</td>`).join('')}</tr>`).join('')}</tbody>`;
    table.querySelectorAll<HTMLTableRowElement>('tbody tr').forEach((tr) => {
      const r = Number(tr.dataset.row);
      tr.onmouseenter = () => { maps.A.hoverRow(r); maps.B.hoverRow(r); };
      tr.onmouseleave = () => { maps.A.hoverRow(state.queryRow); maps.B.hoverRow(state.queryRow); };
      tr.onclick = () => void runQuery(r);
    });
  };
  fill(els.tableA, $('#table-a-title'), state.a);
  if (state.b !== state.a) fill(els.tableB, $('#table-b-title'), state.b);
}

function clearQuery(): void {
  state.query = null;
  state.queryRow = null;
  els.tableA.innerHTML = '';
  els.tableB.innerHTML = '';
  els.queryInfo.textContent = '';
}

let searchTimer = 0;
function onSearchInput(): void {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(async () => {
    const q = els.search.value.trim();
    const box = els.searchResults;
    if (!q || !state.dataset) { box.hidden = true; return; }
    const hits = await getJSON<SearchHit[]>(`datasets/${enc(state.dataset.name)}/search`, { q, limit: 12 }).catch(() => []);
    box.innerHTML = hits.length ? hits.map((h) => `<li data-row="${h.row}"><b>${esc(h.id)}</b>${h.text ? ` <span class="muted">${esc(h.column)}: ${esc(h.text.slice(0, 80))}</span>` : ''}</li>`).join('') : '<li class="muted">no match</li>';
    box.hidden = false;
    box.querySelectorAll<HTMLLIElement>('li[data-row]').forEach((li) => {
      li.onclick = () => { box.hidden = true; els.search.value = li.querySelector('b')!.textContent ?? ''; void runQuery(Number(li.dataset.row)); };
    });
  }, 150);
}

// -- registry tab ----------------------------------------------------------------------
function showTab(tab: string): void {
  document.querySelectorAll<HTMLButtonElement>('.tab').forEach((b) => b.classList.toggle('active', b.dataset.tab === tab));
  $('#analyzer').hidden = tab !== 'analyzer';
  $('#controls').hidden = tab !== 'analyzer';
  $('#registry').hidden = tab !== 'registry';
  if (tab === 'registry') void loadRegistry();
}

async function openComparison(a: string, b: string, k: number | null): Promise<void> {
  const sa = state.registry?.spaces.find((s) => s.name === a);
  if (!sa) return;
  state.a = a;
  state.b = b;
  if (k) { state.k = k; els.k.value = String(k); }
  els.dataset.value = sa.dataset;
  await chooseDataset(sa.dataset);
  state.color = 'coincidence';
  state.colorChosen = true;
  els.color.value = 'coincidence';
  showTab('analyzer');
  await refresh();
}

// -- start -----------------------------------------------------------------------------
async function start(): Promise<void> {
  const q = new URLSearchParams(location.search);
  await loadRegistry();
  const datasets = state.registry!.datasets;
  options(els.dataset, datasets.map((d) => ({ value: d.name, label: `${d.name} (${d.n_rows.toLocaleString()} items)` })), q.get('dataset') ?? '');
  state.a = q.get('a') ?? '';
  state.b = q.get('b') ?? '';
  state.color = q.get('color') ?? '';
  state.colorChosen = q.get('color') !== null;
  state.k = Number(q.get('k') ?? 10) || 10;
  if (q.get('k') === null) {  // no k asked for: the k of a stored comparison of the two spaces, if any
    const c = state.registry!.comparisons.find((x) => new Set([x.a, x.b]).has(state.a) && new Set([x.a, x.b]).has(state.b) && x.a !== x.b);
    if (c?.k) state.k = c.k;
  }
  state.align = q.get('align') === '1';
  els.align.checked = state.align;
  els.k.value = String(state.k);
  if (!datasets.length) {
    status('The registry is empty: add spaces with "spacelens add", then reload.');
    return;
  }
  await chooseDataset(els.dataset.value);
  state.method = q.get('method') ?? preferredMethod();
  els.method.value = state.method;

  els.dataset.onchange = async () => { state.colorChosen = false; await chooseDataset(els.dataset.value); state.method = preferredMethod(); els.method.value = state.method; await refresh(); };
  els.a.onchange = () => { state.a = els.a.value; void refresh(); };
  els.b.onchange = () => { state.b = els.b.value; void refresh(); };
  els.method.onchange = () => { state.method = els.method.value; void refresh(); };
  els.k.onchange = () => { state.k = Math.max(1, Number(els.k.value) || 10); void refresh(); };
  els.color.onchange = () => { state.color = els.color.value; state.colorChosen = true; void recolor(); };
  els.align.onchange = () => { state.align = els.align.checked; void refresh(); };
  els.lasso.onchange = () => { maps.A.setLasso(els.lasso.checked); maps.B.setLasso(els.lasso.checked); };
  els.computeMissing.onclick = () => {
    for (const spec of [...state.missing]) {
      const box = spec.kind === 'comparison' ? els.histogram
        : (spec.space === state.a ? maps.A : maps.B).overlay;
      void runJob(spec, box);
    }
  };
  els.exportBtn.onclick = () => void exportSelection();
  els.clearBtn.onclick = () => { clearQuery(); clearSelection(); };
  els.search.oninput = onSearchInput;
  els.search.onkeydown = (ev) => {
    if (ev.key === 'Enter') els.searchResults.querySelector<HTMLLIElement>('li[data-row]')?.click();
    if (ev.key === 'Escape') els.searchResults.hidden = true;
  };
  document.querySelectorAll<HTMLButtonElement>('.tab').forEach((b) => { b.onclick = () => showTab(b.dataset.tab!); });
  await refresh();
}

// A handle for tests and benchmarks (read-only use).
declare global { interface Window { __sl: unknown } }
window.__sl = { state, maps, traffic, runQuery, selectBin, refresh };

start().catch((e) => status(`error: ${(e as Error).message}`));
