// Drawing what the state says: both maps, their colours (fitted to the drawn points), the
// agreement histogram, the legend and the evaluations; again when the colouring changes.
import { ApiError, enc, getFrame, traffic, type ColorHeader, type ComparisonHeader, type MapHeader } from './api';
import { renderAnswer } from './answer';
import { fitScale } from './colorscale';
import { renderEvaluations } from './evaluation';
import { loadFacets } from './facets';
import { reapplyFilters } from './filter';
import { syncVersus } from './versus';
import { syncAudit } from './audit';
import { mapRows } from './frame';
import { baselineOf, renderHistogram } from './histogram';
import { addMissing, showMissing, updateMissingButton } from './jobs';
import { renderLegend } from './legend';
import { withPlan } from './scale';
import { writeUrl } from './pickers';
import { clearQuery, reapplySelection } from './query';
import { clearSelection } from './selection';
import { els, state, status, type State } from './state';
import { fmt, METHOD_LABEL } from './util';
import { maps } from './views';

/** Point counts in the status bar; what the point data cost, for the curious, in its tooltip. */
export function mapStatus(): void {
  const n = maps.A.n + maps.B.n;
  const perPoint = n ? (traffic.bytes / n).toFixed(1) : '–';
  const count = (v: typeof maps.A) => (v.visible ? `${v.shownN.toLocaleString()} of ${v.n.toLocaleString()}` : v.n.toLocaleString());
  const filtered = maps.A.visible || maps.B.visible;
  status(`${count(maps.A)} + ${count(maps.B)} points${filtered ? ' shown (filtered)' : ''}`,
    `${(traffic.bytes / 1e6).toFixed(1)} MB of point data in ${traffic.frames} binary frames, ${perPoint} bytes a point a map`);
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

type Loaded = { side: 'A' | 'B'; space: string; header: MapHeader; x: Float32Array; y: Float32Array; rows: Uint32Array; alignTo?: string };

export async function refresh(): Promise<void> {
  const gen = ++state.generation;
  const ds = state.dataset;
  if (!ds || !state.a || !state.b) return;
  writeUrl();
  state.loading = true;
  state.missing = [];
  state.comparison = null;
  state.scale = null;
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
    ? getFrame<ComparisonHeader>('comparison', { a: state.a, b: state.b, k: state.k, baseline: baselineOf() }).catch((e) => withPlan(e as Error))
    : Promise.resolve(new Error('Pick two different spaces to compare them'));
  const loads = (['A', 'B'] as const).map(async (side): Promise<Loaded | null> => {
    const view = maps[side];
    const space = side === 'A' ? state.a : state.b;
    const alignTo = side === 'B' && state.align && state.a !== state.b ? state.a : undefined;
    view.root.querySelector('.map-title')!.textContent = `${side}: ${space}`;
    (view.root.querySelector('.map-title') as HTMLElement).title = space;
    view.root.querySelector('.faith')!.textContent = '';
    try {
      const frame = await getFrame<MapHeader>(`spaces/${enc(space)}/map`, { method: state.method, align_to: alignTo });
      const h = frame.header;
      return { side, space, header: h, x: frame.buffers.x as Float32Array, y: frame.buffers.y as Float32Array,
        rows: mapRows(h.rows, h.n, frame.buffers), alignTo };
    } catch (e) {
      if (gen !== state.generation) return null;
      view.clear();
      showMissing(view, e as Error, { kind: 'projection', space, method: state.method, align_to: alignTo });
      return null;
    }
  });

  const comparison = await comparisonP;
  if (gen !== state.generation) return;
  if (comparison instanceof Error) {
    state.comparison = null;
    renderHistogram(comparison);
  } else {
    state.comparison = { header: comparison.header, bins: comparison.buffers.bins as Uint8Array };
    renderHistogram(null);
  }
  void renderEvaluations(gen);
  syncVersus();
  syncAudit();
  void renderAnswer();

  const loaded = (await Promise.all(loads)).filter((l): l is Loaded => l !== null);
  const colors = await colorsP;
  if (gen !== state.generation) return;
  const c = colors instanceof Error ? null : colors;
  // the colours are fitted to the points of both maps before either is drawn
  state.scale = c ? fitScale(c.header, c.codes, loaded.map((l) => ({ rows: l.rows, n: l.rows.length }))) : null;
  await Promise.all(loaded.map(async (l) => {
    const view = maps[l.side];
    view.showOverlay(null);
    await view.show(l.space, l.header.method, l.x, l.y, l.rows, l.header.n_dataset, c?.codes ?? null, state.scale?.palette ?? []);
    state.timings[l.side] = view.drawnAt - state.timings.start;
    const f = l.header.faithfulness ?? {};
    const faith = view.root.querySelector<HTMLElement>('.faith')!;
    faith.textContent = `${METHOD_LABEL[l.header.method] ?? l.header.method}${l.alignTo ? ' aligned to A' : ''} · kNN preservation ${fmt(f.knn_preservation)} · trustworthiness ${fmt(f.trustworthiness)}`;
    faith.title = 'How faithful the 2D map is to the space: the share of each item\'s k nearest neighbours kept in the map, and trustworthiness (1 = no false neighbours in the map)';
    showFaithWarning(view.root, l.header.method, f);
  }));
  if (gen !== state.generation) return;
  for (const v of [maps.A, maps.B]) v.fit();  // both maps drawn: one camera showing both whole
  if (state.comparison) renderHistogram(null);  // bars in the fitted colours
  renderLegend(colors instanceof Error ? colors : null);
  if (colors instanceof ApiError && colors.missing) addMissing(colors.missing);
  state.loading = false;
  updateMissingButton();
  mapStatus();
  reapplyFilters();
  document.body.dataset.ready = String(gen);
  void loadFacets();
}

/** The pair's comparison, read again (a job stored it meanwhile): the histogram and, when the maps
 * are coloured by agreement, their colours; the maps, the query and the selection stay as they are. */
export async function reloadComparison(): Promise<void> {
  if (!state.a || !state.b || state.a === state.b) return;
  const gen = state.generation;
  try {
    const f = await getFrame<ComparisonHeader>('comparison', { a: state.a, b: state.b, k: state.k });
    if (gen !== state.generation) return;
    state.comparison = { header: f.header, bins: f.buffers.bins as Uint8Array };
    state.missing = state.missing.filter((m) => m.kind !== 'comparison');
    updateMissingButton();
    renderHistogram(null);
    void loadFacets();   // the agreement chart, now that there is a comparison
    if (state.color === 'coincidence') await recolor();
  } catch {
    /* still missing: the panel keeps its Compute button */
  }
}

export async function recolor(): Promise<void> {
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
  const c = state.colors;
  state.scale = c ? fitScale(c.header, c.codes, [maps.A, maps.B]) : null;
  await Promise.all([maps.A, maps.B].map((v) => v.recolor(c?.codes ?? null, state.scale?.palette ?? [])));
  renderLegend(err);
  if (state.comparison) renderHistogram(null);
  reapplySelection();
  els.legend.dataset.generation = String(state.generation);
}

/** Below a map's title, in plain words, when the map keeps few of each item's neighbours. */
export const FEW_NEIGHBOURS = 0.5;
function showFaithWarning(root: HTMLElement, method: string, f: Record<string, number | null>): void {
  let warn = root.querySelector<HTMLElement>('.faith-warn');
  const kept = f.knn_preservation;
  if (typeof kept !== 'number' || kept >= FEW_NEIGHBOURS) { warn?.remove(); return; }
  if (!warn) {
    warn = document.createElement('div');
    warn.className = 'faith-warn';
    root.querySelector('.faith')!.after(warn);
  }
  const k = typeof f.k === 'number' ? ` ${f.k}` : '';
  warn.textContent = `Keeps only ${Math.round(kept * 100)}% of each item's${k} nearest neighbours: nearness here may mislead`
    + (method === 'pca' ? ' (UMAP usually keeps more).' : '.');
  warn.title = `Of each item's${k} nearest neighbours in the space, ${Math.round(kept * 100)}% are among its nearest `
    + 'on this map: items close on the map may not be close in the space, and clusters that are clean in the space '
    + 'can look mixed.';
}
