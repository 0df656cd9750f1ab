// The spacelens analyzer page: two linked maps of two embedding spaces of one dataset,
// coloured by metadata or by neighbourhood agreement, with a Jaccard histogram, kNN query
// tables, evaluation figures and CSV export of any selection.
//
// This module only wires the page together; each concern has its module: state.ts (what is
// shown), api.ts/frame.ts (talking to the server), views.ts/maps.ts (the two linked maps),
// draw.ts/colorscale.ts (drawing them), pickers.ts (the controls), legend.ts, histogram.ts,
// query.ts, selection.ts, evaluation.ts, tooltip.ts, changes.ts, versus.ts (the panels), jobs.ts
// (computing what is missing) and registry.ts (the registry tab).
import './style.css';
import { traffic } from './api';
import { loadCatalogue } from './catalogue';
import { findGroups, selectGroup } from './changes';
import { mapStatus, recolor, refresh } from './draw';
import { selectBin } from './histogram';
import { jobHooks, runJob } from './jobs';
import { chooseDataset, compared, latestComparison, loadRegistry, options, preferredMethod } from './pickers';
import { renderRegistry } from './registry';
import { clearAll, clearQuery, onSearchInput, onSearchKey, placeResults, runQuery } from './query';
import { clearSelection, exportSelection, setSelection } from './selection';
import { els, state, status } from './state';
import { hideTooltip, showTooltip } from './tooltip';
import { compareRetrieval, syncVersus } from './versus';
import { $ } from './util';
import { maps, other, pointEvents } from './views';

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

jobHooks.done = async () => {
  await reloadRegistry();
  await refresh();
};

// -- tabs ------------------------------------------------------------------------------
async function reloadRegistry(): Promise<void> {
  const reg = await loadRegistry();
  renderRegistry($('#registry'), reg, openComparison);
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
  if (k) { state.k = k; els.k.value = String(k); }
  els.dataset.value = sa.dataset;
  await chooseDataset(sa.dataset);
  state.color = 'coincidence';
  state.colorChosen = true;
  els.color.value = 'coincidence';
  showTab('analyzer');
  state.method = preferredMethod();
  els.method.value = state.method;
  await refresh();
}

// -- start -----------------------------------------------------------------------------
async function start(): Promise<void> {
  const q = new URLSearchParams(location.search);
  await Promise.all([reloadRegistry(), loadCatalogue()]);
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

  els.dataset.onchange = async () => {
    state.colorChosen = false;
    state.a = '';
    state.b = '';
    await chooseDataset(els.dataset.value);
    state.method = preferredMethod();
    els.method.value = state.method;
    await refresh();
  };
  // A new pair opens at the k it was compared at, unless the user set k.
  let kChosen = q.get('k') !== null;
  const pairChanged = () => {
    const c = compared(state.a, state.b);
    if (!kChosen && c?.k) { state.k = c.k; els.k.value = String(c.k); }
    void refresh();
  };
  els.a.onchange = () => { state.a = els.a.value; els.a.title = els.a.value; pairChanged(); };
  els.b.onchange = () => { state.b = els.b.value; els.b.title = els.b.value; pairChanged(); };
  els.method.onchange = () => { state.method = els.method.value; void refresh(); };
  els.k.onchange = () => { kChosen = true; state.k = Math.max(1, Number(els.k.value) || 10); void refresh(); };
  els.color.onchange = () => { state.color = els.color.value; state.colorChosen = true; syncVersus(); void recolor(); };
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
  $<HTMLButtonElement>('#find-groups').onclick = () => void findGroups();
  $<HTMLButtonElement>('#compare-retrieval').onclick = () => void compareRetrieval();
  $<HTMLSelectElement>('#versus-label').onchange = (ev) => { (ev.target as HTMLSelectElement).dataset.chosen = '1'; syncVersus(); };
  els.clearBtn.onclick = () => { clearQuery(); clearSelection(); };
  els.search.oninput = onSearchInput;
  els.search.onkeydown = (ev) => void onSearchKey(ev);
  window.addEventListener('resize', placeResults);
  document.querySelectorAll<HTMLButtonElement>('.tab').forEach((b) => { b.onclick = () => showTab(b.dataset.tab!); });
  await refresh();
}

// A handle for tests and benchmarks (read-only use).
declare global { interface Window { __sl: unknown } }
window.__sl = { state, maps, traffic, runQuery, selectBin, refresh, selectGroup };

start().catch((e) => status(`error: ${(e as Error).message}`));
