// "Can the evaluation be trusted?": the audit of the shown space A (spacelens.audit) and, with a
// second space B on screen, which flags both raise (likely the data's problem) and which only one
// (likely the model's). The answer sentence first, then what it leaves out of MAP@R, then the
// flagged items by kind (near-duplicates across splits, duplicates, likely label errors,
// outliers) with score, reason and evidence, and the mixed class pairs. A click on a kind (or on
// its "both" / "A only" / "B only" part) selects those items in both maps; a click on an item
// selects it and its evidence partner; Export CSV downloads every flagged item. Computed as a
// server job (POST /api/audit, progress and Cancel), stored, and read back (GET /api/audit) when
// the page shows the same spaces again. Every text from the data goes through esc().
import { ApiError, enc, getJSON, postJSON, url, type ClassRows } from './api';
import { short } from './catalogue';
import { jobResult, PROGRESS_HTML } from './jobs';
import { setSelection } from './selection';
import { state, status } from './state';
import { esc, $ } from './util';
import { labelColumns } from './versus';

interface Item {
  kind: string; id: string; score: number; reason: string; evidence: string; partner_id: string | null;
  partner_row: number | null; label: unknown; suggested_label: unknown; row: number;
}
interface KindSummary { n: number; share: number; rule: string; exact?: number }
interface VersusKind { both: number; only_a: number; only_b: number; rows_both: number[]; rows_only_a: number[]; rows_only_b: number[] }
interface MetricEffect { all: number | null; kept: number | null; difference: number | null; ci95: [number | null, number | null]; n: number; n_kept: number }
interface EffectSet { n_flagged: number; n_queries: number; share: number; metrics: Record<string, MetricEffect> }
interface MixedPair { a: unknown; b: unknown; share: number; lift: number; reason: string }
export interface Audit {
  space: string; dataset: string; n_items: number; k: number; label_field: string | null; answer: string;
  graph: { engine: string; exact: boolean; recall?: { mean: number } };
  splits: { field: string; query: string; reference: string; n_query: number } | null;
  duplicate_threshold: { rule?: string } | null;
  kinds: Record<string, KindSummary>;
  mixed_classes: MixedPair[] | null;
  effect: { queries: { note: string }; sets: Record<string, EffectSet> } | null;
  versus: { space_a: string; space_b: string; sentence: string; kinds: Record<string, VersusKind> } | null;
  other?: { space: string; answer: string; kinds: Record<string, KindSummary>; items_only: Item[] };
  items: Item[];
}

const KINDS: [string, string, string][] = [   // kind, its name, the name of one
  ['leak', 'near-duplicates across splits', 'near-duplicate across splits'],
  ['duplicate', 'duplicates', 'duplicate'], ['label_error', 'likely label errors', 'likely label error'],
  ['outlier', 'outliers', 'outlier'],
];
const EFFECT: Record<string, string> = {
  leak: 'leaked queries', duplicate: 'duplicated queries', label_error: 'likely label errors',
  clean: 'leaks and label errors', any: 'every flagged query',
};
const MAPR = 'mean_average_precision_at_r';
const TOP = 5;   // items listed per kind before "show all"
const MAX_LIST = 300;

let shownKey = '';
let running: string | null = null;
let shown: Audit | null = null;
const open = new Set<string>();   // kinds whose whole list is shown

const labelSel = () => $<HTMLSelectElement>('#audit-label');
const splitSel = () => $<HTMLSelectElement>('#audit-split');
const box = () => $('#audit');
const other = () => (state.b && state.b !== state.a ? state.b : '');
function spec(): Record<string, string | undefined> {
  return { space: state.a, other: other() || undefined, label_field: labelSel().value || undefined,
    split_field: splitSel().value || undefined };
}
const key = () => JSON.stringify(spec());

/** Columns that can be the split: categorical, not the id, a few values; one named like a split first. */
function splitColumns(): string[] {
  const cols = (state.dataset?.columns ?? []).filter((c) => !c.is_id && c.kind === 'categorical');
  const named = (n: string) => (/split|fold|subset|partition/i.test(n) ? 0 : 1);
  return cols.map((c) => c.name).sort((x, y) => named(x) - named(y));
}

function fill(sel: HTMLSelectElement, names: string[], none: string, want: string): void {
  const list = names.join('|');
  if (sel.dataset.names === list) return;
  sel.dataset.names = list;
  sel.innerHTML = `<option value="">${esc(none)}</option>` + names.map((c) => `<option value="${esc(c)}">${esc(c)}</option>`).join('');
  sel.value = names.includes(want) ? want : '';
}

let wired = false;
function wire(): void {
  if (wired) return;
  wired = true;
  $<HTMLButtonElement>('#run-audit').onclick = () => void runAudit();
  labelSel().onchange = () => syncAudit();
  splitSel().onchange = () => syncAudit();
  box().addEventListener('click', onClick);
}

/** Keep the panel in step with the page (called as it redraws): pickers, button, stale result. */
export function syncAudit(): void {
  wire();
  const evaluated = (state.dataset?.columns ?? []).find((c) => c.evaluated && c.label)?.name;
  const labels = labelColumns();
  fill(labelSel(), labels, 'none', evaluated ?? labels[0] ?? '');
  const splits = splitColumns();
  fill(splitSel(), splits, 'none', splits.find((s) => /split/i.test(s)) ?? '');
  $<HTMLButtonElement>('#run-audit').disabled = !state.a || running !== null;
  const k = key();
  if (k === shownKey || running === k) return;
  shownKey = '';
  shown = null;
  if (!state.a) { box().innerHTML = '<p class="muted">Pick a space.</p>'; return; }
  const b = other();
  box().innerHTML = `<p class="muted">Leaks, duplicates, likely label errors, outliers and mixed classes of A (${esc(state.a)})${b ? `, and which of them B (${esc(b)}) raises too` : ''}, found from its kNN graph, with what leaving them out does to ${short(MAPR)}.</p>`;
  void readBack(k);
}

/** The stored audit of these spaces and columns, when a job computed it before (a GET only reads). */
async function readBack(k: string): Promise<void> {
  try {
    const res = await getJSON<Audit>('audit', { ...spec(), dataset: state.dataset?.name });
    if (k !== key() || running !== null) return;
    shownKey = k;
    render(res);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) status(`audit: ${(e as Error).message}`);
  }
}

export async function runAudit(): Promise<void> {
  const k = key();
  const btn = $<HTMLButtonElement>('#run-audit');
  running = k;
  btn.disabled = true;
  box().innerHTML = PROGRESS_HTML;
  const prog = box().querySelector<HTMLElement>('.progress')!;
  prog.hidden = false;
  try {
    const job = await jobResult<Audit>('audit', { ...spec(), dataset: state.dataset?.name }, prog);
    if (job.status === 'cancelled') { box().innerHTML = '<p class="muted">Cancelled.</p>'; status('cancelled'); return; }
    if (job.status === 'failed' || !job.result) throw new Error(job.error ?? 'the audit failed');
    status(`audited in ${job.elapsed_s.toFixed(1)} s`);
    if (k !== key()) return;
    shownKey = k;
    open.clear();
    render(job.result);
    reveal();
  } catch (e) {
    box().innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
  } finally {
    running = null;
    syncAudit();
  }
}

/** Scroll the side column (only it) until the panel's top is in view, as the versus panel does. */
function reveal(): void {
  const panel = $('#audit-panel');
  const side = panel.closest<HTMLElement>('.side');
  if (!side) return;
  const top = panel.getBoundingClientRect().top - side.getBoundingClientRect().top + side.scrollTop;
  side.scrollTo({ top: Math.max(0, top - 8) });
}

const f3 = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(3) : '–');
const signed = (v: number | null | undefined) => (typeof v === 'number' ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}` : '–');
const pct = (v: number) => `${(100 * v).toFixed(v < 0.001 && v > 0 ? 2 : 1)}%`;

function render(res: Audit): void {
  shown = res;
  const vs = res.versus;
  // the sentence of A's audit, then (two spaces) which flags both raise, on a line of its own
  const vsText = vs && res.answer.endsWith(` ${vs.sentence}`) ? vs.sentence : '';
  const own = vsText ? res.answer.slice(0, -vsText.length - 1) : res.answer;
  const parts: string[] = [`<p class="verdict audit-answer" data-f="answer">${esc(own)}</p>`];
  if (vsText) parts.push(`<p class="audit-versus" data-f="versus">${esc(vsText)}</p>`);
  parts.push(effectHtml(res));
  for (const [kind, many] of KINDS) {
    const s = res.kinds[kind];
    if (!s) continue;
    parts.push(kindHtml(res, kind, many, s, vs?.kinds[kind] ?? null));
  }
  if (res.mixed_classes) parts.push(mixedHtml(res));
  const g = res.graph;
  const notes = [`k = ${res.k}`, g.exact ? 'exact neighbours' : `approximate neighbours (${esc(g.engine)}, recall ${f3(g.recall?.mean)})`,
    res.label_field ? `labels ${esc(res.label_field)}` : 'no labels: no label errors, mixed classes or effect',
    res.splits ? `queries: ${esc(res.splits.field)} = ${esc(res.splits.query)}` : 'no split: no leaks'];
  parts.push(`<div class="audit-foot"><button class="small export-audit">Export CSV</button><span class="muted">${notes.join(' · ')}</span></div>`);
  box().innerHTML = parts.join('');
}

function effectHtml(res: Audit): string {
  const sets = res.effect?.sets;
  if (!sets) return '';
  const rows = ['leak', 'duplicate', 'label_error', 'clean'].filter((n) => sets[n]).map((n) => {
    const e = sets[n];
    const m = e.metrics[MAPR];
    if (!m) return '';
    return `<tbody data-set="${n}"><tr><th>${EFFECT[n]}</th><td data-f="left-out">${e.n_flagged.toLocaleString()} (${pct(e.share)})</td>
      <td data-f="kept">${f3(m.all)} → ${f3(m.kept)}</td></tr>
      <tr class="ci-row"><td colspan="3" title="kept − all, its 95% interval paired over queries">difference <span data-f="difference">${signed(m.difference)}</span>, 95% CI <span data-f="ci95">${signed(m.ci95[0])} to ${signed(m.ci95[1])}</span></td></tr></tbody>`;
  }).join('');
  return `<table class="versus audit-effect"><thead><tr><th>left out</th><th>queries</th><th title="${short(MAPR)} over all queries → without those left out (${esc(res.effect!.queries.note)})">${short(MAPR)}</th></tr></thead>${rows}</table>`;
}

function kindHtml(res: Audit, kind: string, many: string, s: KindSummary, v: VersusKind | null): string {
  const items = res.items.filter((it) => it.kind === kind);
  const bOnly = (res.other?.items_only ?? []).filter((it) => it.kind === kind);
  const both = new Set(v?.rows_both ?? []);
  const head = `<button class="link audit-select" data-kind="${kind}" data-part="all" title="${esc(s.rule)}: click to select them in both maps"${s.n ? '' : ' disabled'}>${s.n.toLocaleString()} ${many}</button> <span class="muted">${pct(s.share)}</span>`;
  const parts = v ? ` <span class="audit-parts">${[['both', 'both', v.both], ['only_a', 'A only', v.only_a], ['only_b', 'B only', v.only_b]]
    .map(([p, name, n]) => `<button class="link audit-select" data-kind="${kind}" data-part="${p}"${n ? '' : ' disabled'} title="flagged ${p === 'both' ? 'in both spaces (likely the data)' : `in ${p === 'only_a' ? 'A' : 'B'} only (likely the model)`}">${name} ${Number(n).toLocaleString()}</button>`).join(' · ')}</span>` : '';
  const all = open.has(kind);
  const list = [...items.map((it) => ({ it, by: v ? (both.has(it.row) ? 'both' : 'A') : '' })),
    ...(all ? bOnly.map((it) => ({ it, by: 'B' })) : [])];
  const showN = all ? Math.min(list.length, MAX_LIST) : Math.min(list.length, TOP);
  const rows = list.slice(0, showN).map(({ it, by }) => `<tr class="audit-item" data-row="${it.row}" data-partner="${it.partner_row ?? ''}" title="${esc(it.reason)}: click to select it${it.partner_id !== null ? ' and its partner' : ''} in both maps">
      <td class="id">${by ? `<span class="by by-${by}">${by === 'both' ? 'both' : `${by} only`}</span> ` : ''}<span class="item-id">${esc(it.id)}</span></td><td data-f="score">${it.score.toFixed(2)}</td>
      <td class="why">${esc(it.evidence || it.reason)}</td></tr>`).join('');
  const more = list.length + (all ? 0 : bOnly.length) > TOP
    ? `<button class="link toggle-kind" data-kind="${kind}">${all ? 'show fewer' : `show all ${(items.length + bOnly.length).toLocaleString()}`}</button>`
    + (all && list.length > MAX_LIST ? ` <span class="muted small">first ${MAX_LIST}: Export CSV lists all</span>` : '') : '';
  return `<div class="audit-kind" data-kind="${kind}" data-n="${s.n}"><div class="audit-kind-head">${head}${parts}</div>
    ${rows ? `<table class="versus audit-items"><tbody>${rows}</tbody></table>` : ''}${more}</div>`;
}

function mixedHtml(res: Audit): string {
  const pairs = res.mixed_classes ?? [];
  const rows = pairs.slice(0, 8).map((p, i) => `<tr class="audit-mixed" data-i="${i}" title="${esc(p.reason)}: click to select both classes in both maps">
    <td class="id">${esc(String(p.a))} ↔ ${esc(String(p.b))}</td><td>${pct(p.share)}</td><td>${p.lift.toFixed(0)}× chance</td></tr>`).join('');
  return `<div class="audit-kind" data-kind="mixed_classes" data-n="${pairs.length}"><div class="audit-kind-head"><b>${pairs.length.toLocaleString()} mixed class pair${pairs.length === 1 ? '' : 's'}</b> <span class="muted">neighbours exchanged</span></div>
    ${rows ? `<table class="versus audit-items"><tbody>${rows}</tbody></table>` : ''}</div>`;
}

/** The rows a kind button stands for: every item of the kind A flags, or one part of the two-space split. */
function kindRows(res: Audit, kind: string, part: string): number[] {
  if (part === 'all' || !res.versus) return res.items.filter((it) => it.kind === kind).map((it) => it.row);
  const v = res.versus.kinds[kind];
  return part === 'both' ? v.rows_both : part === 'only_a' ? v.rows_only_a : v.rows_only_b;
}

function onClick(ev: Event): void {
  const t = ev.target as HTMLElement;
  const res = shown;
  if (!res) return;
  const sel = t.closest<HTMLButtonElement>('button.audit-select');
  if (sel) {
    const kind = sel.dataset.kind!, part = sel.dataset.part!;
    const rows = kindRows(res, kind, part);
    const name = KINDS.find((k) => k[0] === kind)?.[1] ?? kind;
    const which = part === 'all' ? `flagged in ${res.space}` : part === 'both' ? 'flagged in both spaces' : `flagged in ${part === 'only_a' ? res.space : res.other?.space} only`;
    setSelection(Uint32Array.from(rows), `${name} ${which} (audit)`);
    return;
  }
  const tog = t.closest<HTMLButtonElement>('button.toggle-kind');
  if (tog) {
    const kind = tog.dataset.kind!;
    if (open.has(kind)) open.delete(kind); else open.add(kind);
    render(res);
    return;
  }
  if (t.closest('button.export-audit')) { void exportAudit(); return; }
  const item = t.closest<HTMLTableRowElement>('tr.audit-item');
  if (item) {
    const rows = [Number(item.dataset.row)];
    if (item.dataset.partner) rows.push(Number(item.dataset.partner));
    const id = item.querySelector('.item-id')?.textContent ?? '';
    setSelection(Uint32Array.from(rows), `${id.trim()}${rows.length > 1 ? ' and its partner' : ''} (audit)`);
    return;
  }
  const mixed = t.closest<HTMLTableRowElement>('tr.audit-mixed');
  if (mixed && res.mixed_classes && res.label_field) void selectPair(res, res.mixed_classes[Number(mixed.dataset.i)]);
}

/** Both classes of a mixed pair, selected in both maps. */
async function selectPair(res: Audit, p: MixedPair): Promise<void> {
  const ds = state.dataset?.name;
  if (!ds) return;
  try {
    const got = await Promise.all([p.a, p.b].map((value) => postJSON<ClassRows>('versus/class', { dataset: ds, label_field: res.label_field, value })));
    setSelection(Uint32Array.from(got.flatMap((g) => g.rows)), `${res.label_field} = ${String(p.a)} or ${String(p.b)} (mixed classes)`);
  } catch (e) {
    status(`error: ${(e as Error).message}`);
  }
}

/** Every flagged item as CSV (GET /api/audit?format=csv: the stored audit, read only). */
async function exportAudit(): Promise<void> {
  const res = await fetch(url('audit', { ...spec(), dataset: state.dataset?.name, format: 'csv' }));
  if (!res.ok) { status(`export failed: ${res.status}`); return; }
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await res.blob());
  a.download = `${enc(state.a).replace(/%/g, '_')}-audit.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The audit on show (for tests). */
export function shownAudit(): Audit | null { return shown; }
