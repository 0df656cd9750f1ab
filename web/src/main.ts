// The spacelens analyzer page: two linked maps of two embedding spaces of one dataset,
// coloured by metadata or by neighbourhood agreement, with a Jaccard histogram, kNN query
// tables, evaluation figures and CSV export of any selection.
//
// This module only wires the page together; each concern has its module: state.ts (what is
// shown), api.ts/frame.ts (talking to the server), views.ts/maps.ts (the two linked maps),
// draw.ts/colorscale.ts (drawing them), pickers.ts (the controls), legend.ts, histogram.ts,
// query.ts, selection.ts, evaluation.ts, tooltip.ts, changes.ts, versus.ts, audit.ts (the panels), jobs.ts
// (computing what is missing) and registry.ts (the registry tab).
import './style.css';
import { traffic } from './api';
import { answerHooks, renderAnswer } from './answer';
import { shownAudit } from './audit';
import { loadCatalogue } from './catalogue';
import { bindDensityToggle, densityChoice, densityInfo, densityRows, getDensity, inDrawOrder, setDensity } from './density';
import { followFaithfulMap, offerFaithfulMap } from './mapchoice';
import { findGroups, selectGroup } from './changes';
import { clusterLabelsApi, clusterLabelsOn, initClusterLabels, setClusterLabelsOn } from './clusterlabels';
import { mapStatus, recolor, refresh, reloadComparison } from './draw';
import { histogramHooks, otherKs, selectBin, setBaseline } from './histogram';
import { jobHooks, jobsRunning, runJob } from './jobs';
import { chooseDataset, compared, latestComparison, loadRegistry, options } from './pickers';
import { renderRegistry } from './registry';
import { computeFull, scaleHooks } from './scale';
import { clearAll, clearQuery, onSearchInput, onSearchKey, placeResults, runQuery } from './query';
import { closeMatches, filterToMatches, restoreSearchFilter, showMatches } from './find';
import { clearSelection, exportSelection, setSelection } from './selection';
import { els, state, status } from './state';
import { hideTooltip, showTooltip } from './tooltip';
import { compareRetrieval, proposeBaseline, syncVersus } from './versus';
import { $ } from './util';
import { addressParts, savedView, type SavedView, writeUrl } from './address';
import { facetHandle, restoreFilters } from './facets';
import { activeFilters, onFilter, rowsMask, setFilter, shownMask } from './filter';
import { maps, other, pointEvents } from './views';
import type { MapView } from './maps';

// -- what pointing at the maps does ----------------------------------------------------
pointEvents.over = (view, point, ev) => {
  const row = view.rows[point];
  other(view).hoverRow(row);
  showTooltip(row, view, point, ev);
};
pointEvents.out = (view) => {
  other(view).hoverRow(state.queryRow);
  hideTooltip();
};
pointEvents.select = (view, points) => {
  if (!points.length) { clearAll(); return; }
  const rows = Uint32Array.from(points, (p) => view.rows[p]);
  if (points.length === 1) { void runQuery(rows[0]); return; }
  clearQuery();
  setSelection(rows, `${points.length} items lassoed in ${view.side === 'A' ? state.a : state.b}`, view);
};
pointEvents.deselect = () => clearAll();

// the answer job compares the pair when it was not compared yet: show the comparison it stored
answerHooks.done = async (ans) => {
  proposeBaseline(state.a, ans.baseline);   // the reseeded run the answer found is the versus panel's baseline too
  while (state.loading) await new Promise((r) => setTimeout(r, 100));
  if (!state.comparison && state.a !== state.b) {   // the answer compared the pair: show it, nothing else redrawn
    await reloadComparison();
    await reloadRegistry();
    stateK();
  }
  const base = document.querySelector<HTMLSelectElement>('#versus-baseline')?.value;
  if (base) await setBaseline(base);   // and its agreement marked on the histogram
};

// the full comparison of a pair too large to compare unasked is stored: its histogram, the maps in
// its colours, and the answer again (its agreement now from every item)
scaleHooks.done = async () => {
  await reloadRegistry();
  await reloadComparison();
  stateK();
  mapStatus();
  void renderAnswer(true);
};

jobHooks.done = async () => {
  await reloadRegistry();
  followFaithfulMap();   // a map computed in the background may be the more faithful one now
  await refresh();
  stateK();
};

// -- tabs ------------------------------------------------------------------------------
/** Load the registry (the pickers read it) and redraw its tab; with ``drawn``, resolve only once the
 * tab is drawn, so a job counts as running until what it stored is on the page. */
async function reloadRegistry(drawn = true): Promise<void> {
  const reg = await loadRegistry();
  const tab = renderRegistry($('#registry'), reg, openComparison);
  if (drawn) await tab;
}

function showTab(tab: string): void {
  document.querySelectorAll<HTMLButtonElement>('.tab').forEach((b) => b.classList.toggle('active', b.dataset.tab === tab));
  $('#analyzer').hidden = tab !== 'analyzer';
  $('#controls').hidden = tab !== 'analyzer';
  $('#registry').hidden = tab !== 'registry';
  document.body.dataset.tab = tab;
  if (tab === 'registry') {
    void reloadRegistry().then(() => {
      const r = state.registry!;
      const count = (n: number, what: string) => `${n.toLocaleString()} ${what}${n === 1 ? '' : 's'}`;
      status([count(r.datasets.length, 'dataset'), count(r.spaces.length, 'space'), count(r.comparisons.length, 'comparison'),
        count(r.evaluations.length, 'evaluation'), count(r.maps.length, 'map')].join(' · '));
    });
  } else {
    mapStatus();
  }
}

async function openComparison(a: string, b: string, k: number | null): Promise<void> {
  const sa = state.registry?.spaces.find((s) => s.name === a);
  if (!sa) return;
  state.a = a;
  state.b = b;
  if (k) { state.k = k; els.k.value = String(k); kChosen = true; }
  els.dataset.value = sa.dataset;
  await chooseDataset(sa.dataset);
  state.color = 'coincidence';
  state.colorChosen = true;
  els.color.value = 'coincidence';
  showTab('analyzer');
  followFaithfulMap(true);
  await refresh();
  stateK();
}

// -- start -----------------------------------------------------------------------------
async function start(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const saved = savedView(q);
  if (q.get('density') !== null) setDensity(q.get('density') === '1');
  if (q.get('labels') === '0') setClusterLabelsOn(false);
  await Promise.all([reloadRegistry(false), loadCatalogue()]);   // the maps need not wait for the tab
  const reg = state.registry!;
  const datasets = reg.datasets;
  // With nothing in the address, open on the pair compared last: the story the user just told.
  const last = latestComparison();
  const askedSpace = reg.spaces.find((s) => s.name === q.get('a'));
  const dataset = q.get('dataset') ?? askedSpace?.dataset ?? last?.dataset ?? '';
  options(els.dataset, datasets.map((d) => ({ value: d.name, label: `${d.name} (${d.n_rows.toLocaleString()} items)` })), dataset);
  state.a = q.get('a') ?? '';
  state.b = q.get('b') ?? '';
  state.color = q.get('color') ?? '';
  state.colorChosen = q.get('color') !== null;
  state.k = Number(q.get('k') ?? 10) || 10;
  if (q.get('k') === null) {  // no k asked for: the k of a stored comparison of the two spaces, if any
    const c = compared(state.a, state.b);
    if (c?.k) state.k = c.k;
  }
  state.baseline = q.get('baseline') ?? '';
  state.align = q.get('align') === '1';
  els.align.checked = state.align;
  els.k.value = String(state.k);
  if (!datasets.length) {
    status('The registry is empty: add spaces with "spacelens add", then reload.');
    return;
  }
  await chooseDataset(els.dataset.value, q.get('k') !== null);
  state.methodChosen = q.get('method') !== null;
  if (state.methodChosen) { state.method = q.get('method')!; els.method.value = state.method; } else followFaithfulMap();

  els.dataset.onchange = async () => {
    closeMatches();
    state.colorChosen = false;
    state.a = '';
    state.b = '';
    await chooseDataset(els.dataset.value, kSettled());
    followFaithfulMap(true);
    await showPair();
  };
  // One k for the pair: once a comparison is on screen or the user set k, a new pair keeps that k
  // (never another k substituted because the pair was stored at it); when the pair has no comparison
  // at it, the comparison job computes it. With neither (the page opened on A vs A at the default
  // k), the new pair opens at the k it was compared at: there is no figure yet to compare with.
  kChosen = q.get('k') !== null;
  const pairChanged = () => void showPair();
  els.a.onchange = () => { state.a = els.a.value; els.a.title = els.a.value; pairChanged(); };
  els.b.onchange = () => { state.b = els.b.value; els.b.title = els.b.value; pairChanged(); };
  els.method.onchange = () => { state.method = els.method.value; state.methodChosen = true; void refresh(); };
  els.k.onchange = () => { kChosen = true; state.k = Math.max(1, Math.round(Number(els.k.value)) || 10); els.k.value = String(state.k); void refresh().then(stateK); };
  histogramHooks.useK = (k) => { kChosen = true; state.k = k; els.k.value = String(k); void refresh().then(stateK); };
  document.addEventListener('change', (ev) => {  // the versus panel's baseline pair: its mark on the histogram
    const t = ev.target as HTMLSelectElement | null;
    if (t?.id === 'versus-baseline') void setBaseline(t.value);
  });
  els.color.onchange = () => { state.color = els.color.value; state.colorChosen = true; syncVersus(); void recolor(); };
  els.align.onchange = () => { state.align = els.align.checked; void refresh(); };
  bindDensityToggle($<HTMLInputElement>('#density'));
  $<HTMLInputElement>('#density').addEventListener('change', writeUrl);
  $<HTMLInputElement>('#cluster-labels').addEventListener('change', writeUrl);
  els.lasso.onchange = () => { maps.A.setLasso(els.lasso.checked); maps.B.setLasso(els.lasso.checked); };
  els.computeMissing.onclick = () => {
    for (const spec of [...state.missing]) {
      const box = spec.kind === 'comparison' ? els.histogram
        : (spec.space === state.a ? maps.A : maps.B).overlay;
      void (spec.full ? computeFull(spec, els.histogram) : runJob(spec, box));
    }
  };
  els.exportBtn.onclick = () => void exportSelection();
  $<HTMLButtonElement>('#find-groups').onclick = () => void findGroups();
  $<HTMLButtonElement>('#compare-retrieval').onclick = () => void compareRetrieval();
  $<HTMLSelectElement>('#versus-label').onchange = (ev) => { (ev.target as HTMLSelectElement).dataset.chosen = '1'; syncVersus(); };
  els.clearBtn.onclick = () => { clearQuery(); clearSelection(); };
  els.search.oninput = onSearchInput;
  els.search.onkeydown = (ev) => void onSearchKey(ev);
  window.addEventListener('resize', placeResults);
  document.querySelectorAll<HTMLButtonElement>('.tab').forEach((b) => { b.onclick = () => showTab(b.dataset.tab!); });
  restoreFilters(saved.filters);   // applied as their charts load
  await refresh();
  stateK();
  offerFaithfulMap();
  if (saved.find) await restoreSearchFilter(saved.find);
  await restoreSelection(saved);
}

/** The selection the address saved: the queried item, a histogram bar, or rows. */
async function restoreSelection(saved: SavedView): Promise<void> {
  const n = state.dataset?.n_rows ?? 0;
  if (saved.item !== null && saved.item < n) await runQuery(saved.item);
  else if (saved.bin !== null && state.comparison) selectBin(saved.bin);
  else if (saved.sel?.length) setSelection(saved.sel.filter((r) => r < n), `${saved.sel.length.toLocaleString()} items saved in the address`);
}

/** Where k is set, say which k the comparison on screen is at and at which other k the pair is stored. */
function stateK(): void {
  const others = otherKs(state.k);
  const shown = state.comparison ? `the comparison on screen is at k = ${state.comparison.header.k}` : `the pair is not compared at k = ${state.k} yet`;
  els.k.title = `Neighbours per item, for the comparison and the kNN query: ${shown}${others.length ? ` (also stored at k = ${others.join(', ')})` : ''}`;
  els.k.dataset.k = String(state.k);
  $('#k-note').textContent = state.comparison ? (others.length ? `also stored at k = ${others.join(', ')}` : '') : `not compared at ${state.k} yet`;
}

/** Whether k stays put for a new pair: the user set it, or a comparison at it is on screen. */
let kChosen = false;
const kSettled = () => kChosen || state.comparison !== null;

/** A new pair (or dataset) on screen at the same k; its comparison at that k computed when missing. */
async function showPair(): Promise<void> {
  if (!kSettled()) {
    const c = compared(state.a, state.b);
    if (c?.k) { state.k = c.k; els.k.value = String(c.k); }
  }
  followFaithfulMap();
  await refresh();
  stateK();
  offerFaithfulMap();
  if (state.comparison || state.a === state.b) return;
  const spec = state.missing.find((m) => m.kind === 'comparison' && m.k === state.k
    && new Set([m.a, m.b]).size === 2 && [m.a, m.b].every((x) => x === state.a || x === state.b));
  if (spec && !spec.full) void runJob(spec, els.histogram);   // a full one (hours at scale) waits for a click
}

// A handle for tests and benchmarks (read-only use).
declare global { interface Window { __sl: unknown } }
window.__sl = { state, maps, traffic, runQuery, selectBin, refresh, selectGroup, jobsRunning, shownAudit,
  setFilter, rowsMask, shownMask, activeFilters, facets: facetHandle, setSelection,
  density: { get: getDensity, set: setDensity, rows: densityRows, info: densityInfo, transform: (v: MapView) => v.screenTransform(), order: inDrawOrder },
  clusterLabels: clusterLabelsApi, find: { show: showMatches, filter: filterToMatches } };

addressParts.labels = () => (clusterLabelsOn() ? null : '0');
addressParts.density = () => { const d = densityChoice(); return d === null ? null : d ? '1' : '0'; };
// the address keeps the filters; the contours describe the shown points only
onFilter(() => { writeUrl(); densityRows(shownMask()); if (!document.body.dataset.tab || document.body.dataset.tab === 'analyzer') mapStatus(); });

initClusterLabels([maps.A, maps.B]);   // redrawn with every draw, filter and camera move of either map

start().catch((e) => status(`error: ${(e as Error).message}`));
