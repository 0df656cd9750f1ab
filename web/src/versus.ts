// "Which retrieves better": the two shown spaces scored on the same queries by a label column
// (P@1, R-precision, MAP@R per query), each metric's difference B − A with its paired bootstrap
// 95% interval and randomization p-value, and the one-sentence verdict of `evaluate A --vs B`.
// With a baseline pair (A and C, a reseeded run of A: `--baseline C`) each metric also shows
// C − A, what seeds alone change, and whether B − A goes beyond it. Below, the classes where B
// gains and loses most (per-class means, `per_class` of the result); a click on a class
// selects its items in both maps. Computed on request as a server job (POST /api/versus;
// R-precision needs each query's R neighbours, slow at large n), with the jobs' progress bar and
// Cancel button. Every figure is the library's (spacelens.evaluate_versus), only formatted here.
import { postJSON, type ClassRows, type PairedMetric, type PerClassRow, type Versus } from './api';
import { versusRows } from './catalogue';
import { jobResult, PROGRESS_HTML } from './jobs';
import { setSelection } from './selection';
import { state, status } from './state';
import { esc, $ } from './util';

// labels and order from the one catalogue (loaded before a result shows)
const metricRows = () => versusRows();
const TOP = 3;  // classes shown each way before "show all"

let shownKey = '';
let running: string | null = null;  // the key of the job being polled
let shown: Versus | null = null;    // the result on show (the per-class table re-renders from it)
let classMetric = 'mean_average_precision_at_r';
let allClasses = false;
let picked: { value: string; label: string } | null = null;  // the class whose items are selected (JSON value, selection label)

const labelSel = () => $<HTMLSelectElement>('#versus-label');
const baseSel = () => $<HTMLSelectElement>('#versus-baseline');

function key(): string { return `${state.a}|${state.b}|${labelSel().value}|${baseSel()?.value ?? ''}`; }

const num = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(3) : '–');
const signed = (v: number | null | undefined) => (typeof v === 'number' ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}` : '–');
const pText = (p: number | null | undefined) => (typeof p !== 'number' ? '–' : p < 0.001 ? '< 0.001' : p.toFixed(3));
/** Decimals for an interval, as spacelens.formatting.ci_digits: one that excludes 0 gets more than 3
 * until both ends are nonzero and distinct (at most 6), so [+0.00047, +0.00238] does not read "+0.000". */
function ciDigits([lo, hi]: (number | null)[]): number {
  if (typeof lo !== 'number' || typeof hi !== 'number' || !(lo > 0 || hi < 0)) return 3;
  let d = 3;
  for (; d < 6; d++) {
    const a = lo.toFixed(d), b = hi.toFixed(d);
    if (Number(a) !== 0 && Number(b) !== 0 && a !== b) break;
  }
  return d;
}
const signedAt = (v: number | null | undefined, d: number) => (typeof v === 'number' ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(d)}` : '–');
const ci = (x: PairedMetric) => { const d = ciDigits(x.ci95); return `${signedAt(x.ci95[0], d)} to ${signedAt(x.ci95[1], d)}`; };
/** Green when B is ahead with an interval that excludes 0, red when A is. */
function ahead(x: PairedMetric): string {
  const [lo, hi] = x.ci95;
  const clear = typeof lo === 'number' && typeof hi === 'number' && (lo > 0 || hi < 0);
  return !clear ? '' : (x.difference ?? 0) > 0 ? ' b-ahead' : ' a-ahead';
}

/** The label picker's columns: every column that can be labels (spacelens.labels: strings, integers,
 * booleans, however many classes), those evaluated with first, then those named like classes. The
 * default: an evaluated column, else the colour column when it can be labels, else the first. */
export function labelColumns(): string[] {
  const cols = (state.dataset?.columns ?? []).filter((c) => c.label && !c.is_id);
  const rank = (c: typeof cols[number]) => (c.evaluated ? 0 : c.class_name ? 1 : c.kind === 'categorical' ? 2 : 3);
  return cols.map((c, i) => ({ c, i })).sort((x, y) => rank(x.c) - rank(y.c) || x.i - y.i).map(({ c }) => c.name);
}

function fillLabels(): void {
  const sel = labelSel();
  const cats = labelColumns();
  const names = cats.join('|');
  if (sel.dataset.names !== names) {
    sel.dataset.names = names;
    sel.innerHTML = cats.map((c) => `<option value="${esc(c)}">${esc(c)}</option>`).join('');
    sel.dataset.chosen = '';
  }
  if (!sel.dataset.chosen) {  // follow the colouring until the user picks a column here
    const evaluated = (state.dataset?.columns ?? []).find((c) => c.evaluated && c.label);
    const want = evaluated ? evaluated.name : cats.includes(state.color) ? state.color : cats[0] ?? '';
    sel.value = want;
  }
}

/** The baseline pair's picker (made here once, below the label picker): "A vs" one of the
 * dataset's other spaces, a reseeded run of A; none by default. */
function baselineControl(): HTMLSelectElement {
  let sel = baseSel();
  if (sel) return sel;
  const row = document.createElement('div');
  row.className = 'versus-controls versus-baseline';
  row.innerHTML = `<label title="A reseeded run of A (its recipe, another seed): B − A is read against C − A, what seeds alone change (evaluate --baseline)">baseline pair: A vs <select id="versus-baseline"></select></label>`;
  $('#versus-panel .versus-controls').after(row);
  sel = baseSel();
  sel.onchange = () => { sel!.dataset.chosen = '1'; syncVersus(); };
  $('#versus').addEventListener('click', onClick);
  $('#versus').addEventListener('change', onChange);
  // the picked class stays marked while its items are the selection (a lasso or Clear ends it)
  new MutationObserver(markPicked).observe($('#selection-info'), { childList: true, characterData: true, subtree: true });
  return sel;
}

/** The reseeded run of A the answer found (spacelens.answer's proposed baseline): chosen as the
 * baseline pair unless the user picked one, and marked in the list. */
let proposed: { a: string; space: string } | null = null;
export function proposeBaseline(a: string, space: string | null): void {
  proposed = space ? { a, space } : null;
  const sel = baselineControl();
  sel.dataset.names = '';   // re-label the options
  fillBaselines();
  // never under a result on show or being computed: the user's figures stay as they are
  if (space && !sel.dataset.chosen && !shown && running === null && state.a === a
      && [...sel.options].some((o) => o.value === space)) {
    sel.value = space;
    syncVersus();
  }
}

function fillBaselines(): void {
  const sel = baselineControl();
  const names = (state.dataset?.spaces ?? []).filter((s) => s !== state.a && s !== state.b);
  const list = names.join('|');
  if (sel.dataset.names !== list) {
    const keep = sel.value;
    sel.dataset.names = list;
    sel.innerHTML = `<option value="">${names.length ? 'none' : 'none (no third space)'}</option>`
      + names.map((s) => `<option value="${esc(s)}">${esc(s)}${proposed?.a === state.a && proposed.space === s ? ' (reseeded run of A)' : ''}</option>`).join('');
    sel.value = names.includes(keep) ? keep : '';
  }
  sel.disabled = !names.length || running !== null;
}

/** Keep the panel in step with the page (called as it redraws): labels, button, stale result. */
export function syncVersus(): void {
  fillLabels();
  fillBaselines();
  const sel = labelSel();
  const btn = $<HTMLButtonElement>('#compare-retrieval');
  const same = !state.a || !state.b || state.a === state.b;
  btn.disabled = same || !sel.value || running !== null;
  if (key() === shownKey || running === key()) return;
  shownKey = '';
  shown = null;
  const base = baseSel().value;
  const box = $('#versus');
  box.innerHTML = same ? '<p class="muted">Pick two different spaces.</p>'
    : !sel.value ? `<p class="muted">This dataset has no column that can be labels (strings, integers or booleans).${noLabels()}</p>`
      : `<p class="muted">Retrieval of A (${esc(state.a)}) and B (${esc(state.b)}) on the same queries, labels from <b>${esc(sel.value)}</b>: paired differences B − A with 95% intervals${base ? `, read against ${esc(base)} − A (seed noise)` : ''}.</p>`;
}

/** Why the dataset's columns cannot be labels, in words (the first few). */
function noLabels(): string {
  const why = (state.dataset?.columns ?? []).filter((c) => !c.is_id && c.label_reason).slice(0, 3).map((c) => c.label_reason as string);
  return why.length ? ` ${why.map(esc).join('; ')}.` : '';
}

export async function compareRetrieval(): Promise<void> {
  const k = key();
  const label = labelSel().value;
  const baseline = baseSel().value || undefined;
  const box = $('#versus');
  const btn = $<HTMLButtonElement>('#compare-retrieval');
  running = k;
  btn.disabled = true;
  baseSel().disabled = true;
  box.innerHTML = PROGRESS_HTML;
  const prog = box.querySelector<HTMLElement>('.progress')!;
  prog.hidden = false;
  try {
    const job = await jobResult<Versus>('versus', { a: state.a, b: state.b, label_field: label, dataset: state.dataset?.name, baseline }, prog);
    if (job.status === 'cancelled') { box.innerHTML = '<p class="muted">Cancelled.</p>'; status('cancelled'); return; }
    if (job.status === 'failed' || !job.result) throw new Error(job.error ?? 'the comparison failed');
    status(`retrieval compared in ${job.elapsed_s.toFixed(1)} s`);
    if (k !== key()) return;  // the pair, labels or baseline changed meanwhile: syncVersus shows the new state
    shownKey = k;
    allClasses = false;
    renderVersus(job.result);
    revealPanel();
  } catch (e) {
    box.innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
  } finally {
    running = null;
    syncVersus();
  }
}

/** Scroll the side column (only it: the page itself never scrolls, so the maps stay put) until
 * the panel's top is in view: the answer arrives below the fold on a 900 px screen. */
function revealPanel(): void {
  const panel = $('#versus-panel');
  const side = panel.closest<HTMLElement>('.side');
  if (!side) return;
  const top = panel.getBoundingClientRect().top - side.getBoundingClientRect().top + side.scrollTop;
  side.scrollTo({ top: Math.max(0, top - 8), behavior: 'smooth' });
}

const RULE = 'beyond seed noise: the interval of B − A excludes 0 and B − A is larger than the whole interval of C − A';
const P_MEANS = 'p: the share of 9,999 random sign flips of the per-query differences whose mean is at least as far from 0 '
  + 'as the one observed (1.000: no evidence of a difference; many queries tie, as P@1 often does)';
const CI_MEANS = '95% interval of B − A, a paired bootstrap over queries: B is better where it lies above 0';

export function renderVersus(res: Versus): void {
  shown = res;
  const base = res.baseline;
  const rows = metricRows().map(([m, name]) => {
    const x = res.metrics[m];
    if (!x) return '';
    const beyond = base?.beyond[m];
    const mark = !base ? '' : `<td data-f="beyond" class="beyond ${beyond ? 'yes' : 'no'}" title="${RULE}">${beyond ? 'beyond' : 'within'}</td>`;
    return `<tbody data-metric="${m}"><tr><th>${name}</th><td data-f="a">${num(x.mean_a)}</td><td data-f="b">${num(x.mean_b)}</td>
      <td data-f="difference" class="diff${ahead(x)}">${signedAt(x.difference, ciDigits(x.ci95))}</td>${mark}</tr>
      <tr class="ci-row"><td colspan="${base ? 5 : 4}"><span title="${CI_MEANS}">95% CI <span data-f="ci95">${ci(x)}</span></span> · <span title="${P_MEANS}">p <span data-f="p">${pText(x.p_value)}</span></span></td></tr></tbody>`;
  }).join('');
  const seedsHead = base ? `<th title="${RULE}">vs seeds</th>` : '';
  // The verdict first (the answer), then the figures it rests on.
  const note = (res as Versus & { coverage?: { note?: string | null } }).coverage?.note;  // items not all spaces embed
  $('#versus').innerHTML = `<p class="verdict">${esc(res.verdict)}</p>
    ${note ? `<p class="muted" data-f="coverage">${esc(note)}.</p>` : ''}
    <table class="versus"><thead><tr><th></th><th title="${esc(res.space_a)}">A</th><th title="${esc(res.space_b)}">B</th><th>B − A</th>${seedsHead}</tr></thead>${rows}</table>
    ${baselineHtml(res)}
    <div class="per-class" id="versus-classes">${perClassHtml(res)}</div>
    <p class="muted">${res.n_queries.toLocaleString()} shared queries labelled by ${esc(res.label_field)}; interval: paired bootstrap, p: sign-flip randomization.</p>`;
}

/** The baseline pair's table, as the CLI and report show it: C − A per metric (what seeds alone
 * change) with its paired interval and p. */
function baselineHtml(res: Versus): string {
  const base = res.baseline;
  if (!base) return '';
  const rows = metricRows().map(([m, name]) => {
    const c = base.metrics[m];
    if (!c) return '';
    return `<tr data-metric="${m}"><th>${name}</th><td data-f="base-difference">${signed(c.difference)}</td>
      <td data-f="base-ci95">${ci(c)}</td><td data-f="base-p">${pText(c.p_value)}</td></tr>`;
  }).join('');
  return `<div class="seed-head" title="the same comparison of C, a reseeded run of A, with A: what seeds alone change (evaluate --baseline); ${base.n_queries.toLocaleString()} shared queries">Seed noise: C − A, C = <b>${esc(base.space)}</b></div>
    <table class="versus seeds"><thead><tr><th></th><th>C − A</th><th>95% CI</th><th>p</th></tr></thead><tbody>${rows}</tbody></table>`;
}

/** The classes where B wins and where it loses most on one metric (or all, sorted, B's best first). */
function perClassHtml(res: Versus): string {
  const per = res.per_class[classMetric] ?? [];
  const w = res.wins[classMetric];
  if (!per.length || !w) return '';
  const desc = per.slice().reverse();  // the library lists the largest loss for B first
  const gains = desc.filter((r) => (r.difference ?? 0) > 0).slice(0, TOP);
  const losses = per.filter((r) => (r.difference ?? 0) < 0).slice(0, TOP);
  const row = (r: PerClassRow) => {
    const d = r.difference ?? 0;
    const value = JSON.stringify(r.label);
    const on = picked?.value === value && state.selectionLabel === picked.label ? ' picked' : '';
    return `<tr class="class-row${on}" data-label="${esc(value)}" title="${esc(String(r.label))}: click to select its items in both maps">
      <td class="cls">${esc(String(r.label))}</td><td data-f="n">${r.n.toLocaleString()}</td><td data-f="a">${num(r.a)}</td><td data-f="b">${num(r.b)}</td>
      <td data-f="difference" class="diff${d > 0 ? ' b-ahead' : d < 0 ? ' a-ahead' : ''}">${signed(r.difference)}</td></tr>`;
  };
  const group = (cls: string, title: string, list: PerClassRow[], none: string) =>
    `<tbody class="${cls}"><tr class="group"><th colspan="5">${title}</th></tr>${list.length ? list.map(row).join('') : `<tr class="none"><td colspan="5">${none}</td></tr>`}</tbody>`;
  const body = allClasses ? group('all', `All ${per.length} classes, B's largest gain first`, desc, '')
    : group('gains', 'B gains most', gains, 'none: B is ahead in no class') + group('losses', 'B loses most', losses, 'none: B is behind in no class');
  const shownAll = gains.length + losses.length >= per.length;
  const options = metricRows().slice().reverse().map(([m, name]) => `<option value="${m}"${m === classMetric ? ' selected' : ''}>${name}</option>`).join('');
  return `<div class="per-class-head"><b>Per class</b> <select class="class-metric" title="the per-query score averaged per class">${options}</select>
      <span class="muted" data-f="wins">B ahead in ${w.b} of ${w.classes}, A in ${w.a}${w.ties ? `, ${w.ties} tied` : ''}</span></div>
    <table class="versus classes"><thead><tr><th>class</th><th title="queries">n</th><th title="${esc(res.space_a)}">A</th><th title="${esc(res.space_b)}">B</th><th>B − A</th></tr></thead>${body}</table>
    ${shownAll && !allClasses ? '' : `<button class="link toggle-classes">${allClasses ? 'show fewer' : `show all ${per.length} classes`}</button>`}`;
}

function rerenderClasses(): void {
  const box = document.querySelector<HTMLElement>('#versus-classes');
  if (box && shown) box.innerHTML = perClassHtml(shown);
}

function onChange(ev: Event): void {
  const t = ev.target as HTMLElement;
  if (t.matches('select.class-metric')) {
    classMetric = (t as HTMLSelectElement).value;
    rerenderClasses();
  }
}

function onClick(ev: Event): void {
  const t = ev.target as HTMLElement;
  if (t.closest('button.toggle-classes')) {
    allClasses = !allClasses;
    rerenderClasses();
    return;
  }
  const tr = t.closest<HTMLTableRowElement>('tr.class-row');
  if (tr && shown) void selectClass(shown, JSON.parse(tr.dataset.label!));
}

function markPicked(): void {
  if (picked && state.selectionLabel !== picked.label) picked = null;
  document.querySelectorAll<HTMLElement>('#versus tr.class-row').forEach((r) => {
    r.classList.toggle('picked', picked !== null && r.dataset.label === picked.value);
  });
}

/** Select the items of one class in both maps (the dataset rows holding that label). */
async function selectClass(res: Versus, value: string | number): Promise<void> {
  const ds = state.dataset?.name;
  if (!ds) return;
  try {
    const got = await postJSON<ClassRows>('versus/class', { dataset: ds, label_field: res.label_field, value });
    if (state.dataset?.name !== ds) return;
    const label = `${res.label_field} = ${String(value)} (${got.n.toLocaleString()} items)`;
    picked = { value: JSON.stringify(value), label };
    setSelection(Uint32Array.from(got.rows), label);
    markPicked();
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  }
}
