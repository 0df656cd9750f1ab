// The registry tab as an experiments view: first the leaderboard of each dataset (one ranked
// table per group of equal evaluation settings, as 'spacelens leaderboard' prints), what differs
// between two runs of one recipe (the seed...), and a training curve per experiment logged by
// epoch (the 'spacelens evolution' figures, read from stored results only); then the raw
// records (datasets, experiments, spaces, comparisons, evaluations, maps), collapsed. Long
// values wrap or are cut with the whole value in a tooltip; params read as key = value chips.
import './experiments.css';
import { getJSON, type Registry } from './api';
import { definition, loadCatalogue, metricOrder, short as shortLabel } from './catalogue';
import { esc } from './util';

const num = (v: unknown): string => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString() : v.toFixed(3)) : v == null ? '–' : esc(v));
const METHOD: Record<string, string> = { pca: 'PCA', umap: 'UMAP', 'pca-umap': 'PCA→UMAP' };

function table(id: string, title: string, head: string[], rows: string[][], attrs: string[] = []): string {
  const body = rows.length
    ? rows.map((r, i) => `<tr ${attrs[i] ?? ''}>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')
    : `<tr><td colspan="${head.length}" class="muted">none yet</td></tr>`;
  return `<section class="panel"><h3>${title} <span class="muted">${rows.length}</span></h3><div class="scroll-x"><table id="${id}" class="records"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table></div></section>`;
}

/** A value for a chip: numbers and short strings as they are, lists and objects in short. */
function short(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (Array.isArray(v)) return v.length <= 4 ? `[${v.map(short).join(', ')}]` : `[${v.slice(0, 3).map(short).join(', ')}, … ${v.length}]`;
  if (typeof v === 'object') { const n = Object.keys(v as object).length; return `{${n} ${n === 1 ? 'key' : 'keys'}}`; }
  return String(v);
}

/** Params flattened to dotted keys (optimizer.lr = 0.001), as the server's experiments view does. */
export function flatParams(params: Record<string, unknown> | null | undefined, prefix = ''): [string, unknown][] {
  const flat: [string, unknown][] = [];
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length) flat.push(...flatParams(v as Record<string, unknown>, `${prefix}${k}.`));
    else flat.push([`${prefix}${k}`, v]);
  }
  return flat;
}

/** Params as key = value chips; the keys in ``first`` (those that differ between experiments)
 * come first and are marked, so that the one setting that tells two runs apart is never under "+N more". */
export function chips(params: Record<string, unknown> | null | undefined, limit = 12, first: Set<string> = new Set()): string {
  const all = flatParams(params);
  const flat = [...all.filter(([k]) => first.has(k)), ...all.filter(([k]) => !first.has(k))];
  if (!flat.length) return '<span class="muted">–</span>';
  const shown = flat.slice(0, Math.max(limit, flat.filter(([k]) => first.has(k)).length)).map(([k, v]) => {
    const full = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    const diff = first.has(k);
    return `<span class="chip${diff ? ' chip-diff' : ''}" title="${esc(`${k} = ${full}${diff ? ' (differs between experiments)' : ''}`)}"${diff ? ` data-key="${esc(k)}"` : ''}><span class="chip-k">${esc(k)}</span> ${esc(short(v))}</span>`;
  });
  const rest = flat.slice(shown.length);
  const more = rest.length ? `<span class="chip muted" title="${esc(rest.map(([k, v]) => `${k} = ${short(v)}`).join('\n'))}">+${rest.length} more</span>` : '';
  return `<div class="chips">${shown.join('')}${more}</div>`;
}

/** A long text cut to one line, the whole of it in the tooltip. */
const cut = (s: string): string => `<span class="cut" title="${esc(s)}">${esc(s)}</span>`;

// -- the experiments view ---------------------------------------------------------------------
interface LeaderRow { space: string; experiment: string; step: number | null; group: number; rank: number;
  settings: Record<string, unknown>; n_queries: number | null; [metric: string]: unknown; }
interface Curve { experiment: string; dataset?: string; split?: string | null; run?: string | null; k?: number;
  metric?: string; settings_text?: string | null; steps?: number[]; spaces?: string[];
  jaccard_prev?: (number | null)[]; metric_values?: (number | null)[]; missing?: { jaccard_prev: number; metric: number };
  command?: string; error?: string; }
interface RunPair { a: string; b: string; differ: { key: string; a: unknown; b: unknown }[]; n_same: number; }
interface ExperimentsView { leaderboards: Record<string, LeaderRow[]>; curves: Curve[]; run_pairs: RunPair[]; varying_params: string[]; }

const PRIMARY = 'mean_average_precision_at_r';
const TOP = 10;   // leaderboard rows shown before "show all"
const f3 = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(3) : '–');

/** Each settings group of a dataset's leaderboard as one ranked table, its settings above it. */
function leaderboardHtml(dataset: string, rows: LeaderRow[]): string {
  const groups = [...new Set(rows.map((r) => r.group))].sort((x, y) => x - y).map((g) => rows.filter((r) => r.group === g));
  const tables = groups.map((g) => {
    const metrics = [PRIMARY, ...metricOrder(['r_precision', 'precision_at_1', 'NMI', 'AMI'].filter((m) => m !== PRIMARY && g.some((r) => typeof r[m] === 'number')))];
    const steps = g.some((r) => r.step !== null && r.step !== undefined);
    const head = `<tr><th>#</th><th>space</th>${steps ? '<th>epoch</th>' : ''}${metrics.map((m) => `<th class="num" title="${esc(definition(m))}">${esc(shortLabel(m))}</th>`).join('')}</tr>`;
    const body = g.map((r, i) => `<tr class="${i >= TOP ? 'more' : ''}" data-space="${esc(r.space)}"><td class="num">${r.rank}</td><td>${cut(r.space)}</td>${steps ? `<td class="num">${r.step ?? '–'}</td>` : ''}${metrics.map((m, j) => `<td class="num">${j === 0 ? `<b>${f3(r[m])}</b>` : f3(r[m])}</td>`).join('')}</tr>`).join('');
    const more = g.length > TOP ? `<button class="link-button show-all">show all ${g.length}</button>` : '';
    return `<p class="settings small">${esc(settingsLine(g[0].settings))} <span class="muted">· ${g.length} space${g.length === 1 ? '' : 's'}</span></p>`
      + `<table class="records leaderboard" data-dataset="${esc(dataset)}" data-group="${g[0].group}"><thead>${head}</thead><tbody>${body}</tbody></table>${more}`;
  }).join('');
  const several = groups.length > 1 ? `<p class="small muted">${groups.length} different evaluation settings, each ranked on its own: rows of different settings are not comparable.</p>` : '';
  return `<section class="panel" id="xp-leaderboard-${esc(dataset)}" data-leaderboard="${esc(dataset)}"><h3>Leaderboard · ${esc(dataset)} <span class="muted">ranked by ${esc(shortLabel(PRIMARY))}, higher is better</span></h3>${several}${tables}</section>`;
}

/** The settings a leaderboard group shares, as the CLI's line above each table reads. */
function settingsLine(st: Record<string, unknown>): string {
  const parts = [st.label_field != null ? `labels '${String(st.label_field)}'` : null, st.metric != null ? String(st.metric) : null,
    st.k != null ? `k = ${String(st.k)}` : null, st.split ? `queries ${String(st.split)}` : 'every item a query',
    st.avg_of_avgs ? 'avg of per-label avgs' : null, String(st.engine ?? 'exact'), st.clustering ? String(st.clustering) : null];
  return parts.filter(Boolean).join(' · ');
}

const value = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : short(v));

/** Two runs of one recipe: the params that differ between them, first and in full. */
function runPairsHtml(pairs: RunPair[], curves: Curve[]): string {
  if (!pairs.length) return '';
  const last = (e: string) => { const c = curves.find((x) => x.experiment === e); return c?.spaces?.length ? c.spaces[c.spaces.length - 1] : null; };
  const items = pairs.map((p) => {
    const diff = p.differ.map((d) => `<span class="chip chip-diff" data-key="${esc(d.key)}" title="${esc(`${d.key}: ${value(d.a)} in ${p.a}, ${value(d.b)} in ${p.b}`)}"><span class="chip-k">${esc(d.key)}</span> ${esc(value(d.a))} → ${esc(value(d.b))}</span>`).join(' ');
    const la = last(p.a);
    const lb = last(p.b);
    const open = la && lb ? ` <button class="link-button open-pair" data-a="${esc(la)}" data-b="${esc(lb)}" title="${esc(`open ${la} vs ${lb} in the analyzer`)}">compare their last epochs</button>` : '';
    return `<li class="run-pair" data-a="${esc(p.a)}" data-b="${esc(p.b)}"><b>${esc(p.a)}</b> vs <b>${esc(p.b)}</b>: only ${diff} differ${p.differ.length === 1 ? 's' : ''} <span class="muted">(${p.n_same} other params equal)</span>${open}</li>`;
  }).join('');
  return `<section class="panel" id="xp-runs"><h3>Runs of one recipe <span class="muted">what differs between them</span></h3><ul class="run-pairs">${items}</ul></section>`;
}

/** A small line chart: values over steps, gaps where a value is missing. */
function spark(steps: number[], values: (number | null)[], lo: number, hi: number, y0: number, h: number, w: number, cls: string, label: string): string {
  const x0 = 34;
  const x1 = w - 6;
  const smin = steps[0];
  const smax = steps[steps.length - 1];
  const X = (s: number) => (smax === smin ? (x0 + x1) / 2 : x0 + ((s - smin) / (smax - smin)) * (x1 - x0));
  const Y = (v: number) => y0 + h - ((v - lo) / (hi - lo || 1)) * h;
  let d = '';
  let pen = false;
  const dots: string[] = [];
  steps.forEach((s, i) => {
    const v = values[i];
    if (typeof v !== 'number') { pen = false; return; }
    d += `${pen ? 'L' : 'M'}${X(s).toFixed(1)},${Y(v).toFixed(1)}`;
    pen = true;
    dots.push(`<circle cx="${X(s).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="2"><title>epoch ${s}: ${esc(label)} ${v.toFixed(3)}</title></circle>`);
  });
  return `<g class="${cls}"><line class="axis" x1="${x0}" x2="${x1}" y1="${y0 + h}" y2="${y0 + h}"/>`
    + `<text class="tick" x="${x0 - 3}" y="${y0 + 8}" text-anchor="end">${hi.toFixed(2)}</text><text class="tick" x="${x0 - 3}" y="${y0 + h}" text-anchor="end">${lo.toFixed(2)}</text>`
    + `<path d="${d}"/>${dots.join('')}</g>`;
}

function curveHtml(c: Curve): string {
  if (c.error || !c.steps?.length) return `<div class="curve"><h4>${esc(c.experiment)}</h4><p class="small muted">${esc(c.error ?? 'no epochs')}</p></div>`;
  const steps = c.steps;
  const w = 290;
  const mv = c.metric_values ?? [];
  const jp = c.jaccard_prev ?? [];
  const got = mv.filter((v): v is number => typeof v === 'number');
  let lo = got.length ? Math.min(...got) : 0;
  let hi = got.length ? Math.max(...got) : 1;
  const pad = Math.max((hi - lo) * 0.1, 0.005);
  lo = Math.max(0, lo - pad);
  hi = Math.min(1, hi + pad);
  const mLabel = shortLabel(c.metric ?? PRIMARY);
  const svg = `<svg class="curve-svg" viewBox="0 0 ${w} 128" width="${w}" height="128" role="img" aria-label="${esc(`${c.experiment}: ${mLabel} and Jaccard to the previous epoch over epochs`)}">`
    + `<text class="series-label m" x="34" y="9">${esc(mLabel)}${c.settings_text ? '' : ''}</text>`
    + spark(steps, mv, lo, hi, 12, 42, w, 'm', mLabel)
    + `<text class="series-label j" x="34" y="70">mean Jaccard to the previous epoch (k = ${c.k ?? '–'})</text>`
    + spark(steps, jp, 0, 1, 73, 38, w, 'j', 'Jaccard to previous')
    + `<text class="tick" x="34" y="124">epoch ${steps[0]}</text><text class="tick" x="${w - 6}" y="124" text-anchor="end">epoch ${steps[steps.length - 1]}</text></svg>`;
  const best = got.length ? (() => { let bi = -1; mv.forEach((v, i) => { if (typeof v === 'number' && (bi < 0 || v > (mv[bi] as number))) bi = i; }); return `best ${esc(mLabel)} ${f3(mv[bi])} at epoch ${steps[bi]}`; })() : '';
  const miss = c.missing && (c.missing.metric || c.missing.jaccard_prev)
    ? `<p class="small muted missing">Stored: ${esc(mLabel)} for ${steps.length - c.missing.metric} of ${steps.length} epochs, Jaccard for ${steps.length - 1 - c.missing.jaccard_prev} of ${steps.length - 1} epoch pairs. Compute the rest with <code>${esc(c.command ?? '')}</code></p>` : '';
  return `<div class="curve" data-experiment="${esc(c.experiment)}"><h4 title="${esc(`${c.experiment}, ${c.split ?? ''} split${c.run ? `, run ${c.run}` : ''}${c.settings_text ? `; ${mLabel}: ${c.settings_text}` : ''}`)}">${esc(c.experiment)} <span class="muted">${esc(c.split ?? '')}${best ? ` · ${best}` : ''}</span></h4>${svg}${miss}</div>`;
}

function curvesHtml(curves: Curve[]): string {
  if (!curves.length) return '';
  return `<section class="panel" id="xp-curves"><h3>Training curves <span class="muted">per epoch, from stored results ('spacelens evolution')</span></h3><div class="curves">${curves.map(curveHtml).join('')}</div></section>`;
}

let rendering = 0;
let drawn = '';   // what the tab shows now: redrawn only when the records or the view changed

/** Draw the registry tab from ``reg``; resolves once the experiments view that leads it is drawn
 * too (``data-pending`` is on the tab until then), so a job's ending can wait for its redraw. */
export function renderRegistry(root: HTMLElement, reg: Registry, open: (a: string, b: string, k: number | null) => void): Promise<void> {
  const gen = ++rendering;
  root.dataset.pending = '1';
  const draw = (view: ExperimentsView | null, failed = '') => {
    if (gen !== rendering) return;
    const key = JSON.stringify([reg, view, failed]);
    if (view && key === drawn && root.querySelector('#xp')) return;   // nothing new: keep scroll, open sections, toggles
    drawn = key;
    const varying = new Set(view?.varying_params ?? []);
    const pruned = new Set(reg.spaces.filter((s) => s.pruned_at).map((s) => s.name));
    const exps = reg.experiments as Record<string, unknown>[];
    const boards = Object.entries(view?.leaderboards ?? {}).filter(([, rows]) => rows.length);
    const lead = view === null
      ? `<p class="muted">${failed ? `The experiments view did not load: ${esc(failed)}` : 'Loading the experiments view…'}</p>`
      : `<div class="xp-main">${boards.map(([d, rows]) => leaderboardHtml(d, rows)).join('')
        || '<section class="panel"><h3>Leaderboard</h3><p class="muted">No evaluation stored yet: spacelens evaluate SPACE --label-field COLUMN</p></section>'}</div>`
        + `<div class="xp-side">${runPairsHtml(view.run_pairs, view.curves)}${curvesHtml(view.curves)}</div>`;
    const count = (n: number, what: string) => `${n.toLocaleString()} ${what}${n === 1 ? '' : 's'}`;
    const raw = [

    table('reg-datasets', 'Datasets', ['name', 'items', 'id field', 'columns', 'spaces'],
      reg.datasets.map((d) => [esc(d.name), num(d.n_rows), esc(d.id_field),
        cut((d.columns ?? []).map((c) => c.name).join(', ')), cut(d.spaces.join(', '))])),
    table('reg-experiments', 'Experiments', ['name', 'model', 'trained on', 'params'],
      exps.map((e) => [esc(e.name), esc(e.model_name ?? '–'), esc(e.train_dataset ?? '–'), chips(e.params as Record<string, unknown>, 12, varying)])),
    table('reg-spaces', 'Spaces', ['name', 'dataset', 'experiment', 'dim', 'items', 'maps'],
      reg.spaces.map((s) => [esc(s.name) + (s.pruned_at ? ` <span class="tag" title="its vectors were removed on ${esc(s.pruned_at.slice(0, 10))} (spacelens prune); its stored results remain">vectors pruned</span>` : ''), esc(s.dataset), esc(s.experiment), num(s.dim), num(s.n_rows), esc(s.maps.map((m) => METHOD[m] ?? m).join(', ') || '–')])),
    table('reg-comparisons', 'Comparisons (click to open)', ['space A', 'space B', 'dataset', 'k', 'mean Jaccard'],
      reg.comparisons.map((c) => [esc(c.a), esc(c.b), esc(c.dataset), num(c.k), num(c.mean)]),
      reg.comparisons.map((c) => (pruned.has(c.a) || pruned.has(c.b)
        ? `class="pruned" title="${esc(pruned.has(c.a) ? c.a : c.b)}'s vectors were pruned: this comparison cannot be opened on the maps"`
        : `class="link" data-a="${esc(c.a)}" data-b="${esc(c.b)}" data-k="${c.k ?? ''}"`))),
    table('reg-evaluations', 'Evaluations', ['space', 'settings', 'metrics'],
      reg.evaluations.map((e) => [esc(e.space),
        chips(Object.fromEntries(Object.entries(e.params).filter(([, v]) => v !== null && typeof v !== 'object'))),
        `<div class="chips">${metricOrder(Object.keys(e.metrics)).map((k) => `<span class="chip" title="${esc(definition(k))}"><span class="chip-k">${esc(shortLabel(k))}</span> <b>${e.metrics[k].toFixed(3)}</b></span>`).join('')}</div>`])),
    table('reg-maps', 'Maps', ['space', 'map', 'kNN preservation', 'trustworthiness'],
      reg.maps.map((m) => [esc(m.space),
        `${esc(METHOD[m.method] ?? m.method)}${m.align_to ? ` <span class="tag" title="rotated, reflected and scaled onto the map of ${esc(m.align_to)}">aligned to ${esc(m.align_to)}</span>` : ''}`,
        num(m.faithfulness?.knn_preservation), num(m.faithfulness?.trustworthiness)]),
      reg.maps.map((m) => `data-method="${esc(m.method)}" data-aligned="${m.align_to ? '1' : '0'}"`)),
    ].join('');
    const wasOpen = (root.querySelector('#reg-raw') as HTMLDetailsElement | null)?.open ?? false;
    root.innerHTML = `<div class="xp" id="xp">${lead}</div>`
      + `<details class="raw" id="reg-raw"><summary>All records <span class="muted">${[count(reg.datasets.length, 'dataset'), count(exps.length, 'experiment'),
        count(reg.spaces.length, 'space'), count(reg.comparisons.length, 'comparison'), count(reg.evaluations.length, 'evaluation'), count(reg.maps.length, 'map')].join(' · ')}</span></summary>${raw}</details>`;
    if (wasOpen) (root.querySelector('#reg-raw') as HTMLDetailsElement).open = true;
    root.dataset.view = view ? '1' : '';
    root.querySelectorAll<HTMLTableRowElement>('#reg-comparisons tr.link').forEach((tr) => {
      tr.onclick = () => open(tr.dataset.a!, tr.dataset.b!, tr.dataset.k ? Number(tr.dataset.k) : null);
    });
    root.querySelectorAll<HTMLButtonElement>('button.open-pair').forEach((b) => { b.onclick = () => open(b.dataset.a!, b.dataset.b!, null); });
    root.querySelectorAll<HTMLButtonElement>('button.show-all').forEach((b) => {
      b.onclick = () => {
        const t = b.previousElementSibling as HTMLElement;
        t.classList.toggle('all');
        b.textContent = t.classList.contains('all') ? `show the first ${TOP}` : `show all ${t.querySelectorAll('tbody tr').length}`;
      };
    });
  };
  if (!root.querySelector('#xp')) draw(null);
  return Promise.all([loadCatalogue(), getJSON<ExperimentsView>('experiments-view')])
    .then(([, view]) => draw(view))
    .catch((e: unknown) => draw(null, e instanceof Error ? e.message : String(e)))
    .finally(() => { if (gen === rendering) delete root.dataset.pending; });
}
