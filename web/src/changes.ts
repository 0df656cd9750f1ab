// What changed between the two spaces, on the page:
// - for a queried item, its neighbours kept (in both lists), lost (in A's only) and gained (in
//   B's only): rings of three colours in both maps (in A where they were, in B where they are
//   now) and a mark in each neighbour table row;
// - the groups of items whose neighbourhoods changed together, listed in the side panel (read
//   back from GET /api/change-groups, or found by a job: POST /api/change-groups); clicking one
//   selects its items in both maps.
import { ApiError, getJSON, type Neighbour, type QueryResult } from './api';
import { jobResult, PROGRESS_HTML } from './jobs';
import type { MapView } from './maps';
import { setSelection } from './selection';
import { state, status } from './state';
import { esc, fmt, $ } from './util';
import { maps } from './views';

export type Change = 'kept' | 'lost' | 'gained';
export interface ChangedQuery extends QueryResult { kept?: string[]; lost?: string[]; gained?: string[]; }

export const CHANGE_COLORS: Record<Change, string> = { kept: '#15803d', lost: '#dc2626', gained: '#2563eb' };
const SIGN: Record<Change, string> = { kept: '=', lost: '−', gained: '+' };
const SVG = 'http://www.w3.org/2000/svg';

/** Each neighbour id of the query (in either list) and what happened to it from A to B. */
export function changesOf(res: ChangedQuery): Map<string, Change> {
  const out = new Map<string, Change>();
  if (state.a === state.b) return out;
  const a = (res.spaces[state.a] ?? []).map((n) => String(n.id));
  const b = (res.spaces[state.b] ?? []).map((n) => String(n.id));
  const inA = new Set(a), inB = new Set(b);
  // the server says it (query --vs); derived from the two lists when an older server does not
  for (const id of res.kept ?? a.filter((x) => inB.has(x))) out.set(String(id), 'kept');
  for (const id of res.lost ?? a.filter((x) => !inB.has(x))) out.set(String(id), 'lost');
  for (const id of res.gained ?? b.filter((x) => !inA.has(x))) out.set(String(id), 'gained');
  return out;
}

/** The table cell mark of a neighbour: "= kept", "− lost", "+ gained". */
export function changeBadge(change: Change | undefined): string {
  return change ? `<span class="change-mark ${change}" title="${change}">${SIGN[change]}</span> ` : '';
}

/** One line for the query header: counts with their colours. */
export function changeSummary(res: ChangedQuery): string {
  const ch = changesOf(res);
  if (!ch.size) return '';
  const count = (c: Change) => [...ch.values()].filter((v) => v === c).length;
  const part = (c: Change, what: string) => `<span class="change-key ${c}"><i></i>${count(c)} ${c}</span>` +
    (what ? ` <span class="muted">${what}</span>` : '');
  // A and B, not their names: the tables under the maps name them, and the line fits at 1280 px
  return `${part('kept', '')} · ${part('lost', '(A only)')} · ${part('gained', '(B only)')}`;
}

// -- rings in the maps --------------------------------------------------------------------------
interface Marked { rows: number[]; kinds: Change[]; }
const marked = new Map<MapView, Marked>();
const followed = new WeakSet<object>();

function layer(view: MapView): SVGSVGElement {
  let svg = view.root.querySelector<SVGSVGElement>('svg.changes-layer');
  if (!svg) {
    svg = document.createElementNS(SVG, 'svg');
    svg.classList.add('changes-layer');
    view.canvas.parentElement!.appendChild(svg);
  }
  return svg;
}

function place(view: MapView): void {
  const m = marked.get(view);
  const svg = layer(view);
  svg.replaceChildren();
  if (!m || !view.plot || !view.n) { svg.dataset.count = '0'; return; }
  const w = view.canvas.clientWidth, h = view.canvas.clientHeight;
  let shown = 0;
  m.rows.forEach((row, i) => {
    const p = view.pos[row] ?? -1;
    if (p < 0) return;
    const xy = view.plot!.getScreenPosition(p);
    if (!xy || xy[0] < 0 || xy[1] < 0 || xy[0] > w || xy[1] > h) return;
    const c = document.createElementNS(SVG, 'circle');
    c.setAttribute('cx', String(xy[0]));
    c.setAttribute('cy', String(xy[1]));
    c.setAttribute('r', '6');
    c.setAttribute('class', m.kinds[i]);
    c.setAttribute('stroke', CHANGE_COLORS[m.kinds[i]]);
    c.dataset.row = String(row);
    svg.appendChild(c);
    shown++;
  });
  svg.dataset.count = String(shown);
}

/** Ring the query's neighbours in both maps by what happened to them (kept / lost / gained). */
export function markChanges(res: ChangedQuery): void {
  const ch = changesOf(res);
  const rowOf = new Map<string, number>();
  for (const list of [res.spaces[state.a] ?? [], res.spaces[state.b] ?? []]) {
    for (const n of list as Neighbour[]) rowOf.set(String(n.id), n.row);
  }
  const rows: number[] = [], kinds: Change[] = [];
  for (const [id, kind] of ch) {
    const r = rowOf.get(id);
    if (r !== undefined) { rows.push(r); kinds.push(kind); }
  }
  for (const view of [maps.A, maps.B]) {
    marked.set(view, { rows, kinds });
    if (view.plot && !followed.has(view.plot)) {
      // after every frame the plot draws: zoom and pan, and a resize (the query panel opening
      // shrinks the maps) that moves the points without a 'view' event
      followed.add(view.plot);
      view.plot.subscribe('draw', () => place(view));
    }
    place(view);
  }
}

export function clearChangeMarks(): void {
  for (const view of [maps.A, maps.B]) { marked.delete(view); place(view); }
}

// -- groups of items that changed together ------------------------------------------------------
interface Feature {
  column: string; value?: unknown; share?: number; overall?: number;
  low?: number; high?: number; overall_low?: number; overall_high?: number; mean?: number; overall_mean?: number;
}
export interface ChangeGroup {
  rank: number; n: number; rows: number[]; ids: string[]; mean_jaccard: number; score: number;
  features: Feature[]; description: string;
  // what the change is set against (compare/groups.py): the seed baseline, the rest of its class, the other items
  reference?: number; against?: 'baseline' | 'class' | 'rest'; class?: { column: string; value: unknown };
  excess?: number; unusual?: boolean; kind?: string;
}
export interface ChangeGroups {
  k: number; n_items: number; n_changed: number; n_grouped: number; n_groups: number; max_overlap: number;
  against?: 'baseline' | 'class'; baseline?: string | null; groups: ChangeGroup[];
}

let groupsKey = '';
let loaded: ChangeGroups | null = null;
let running: string | null = null;  // the pair (pairKey) whose job is being polled

function pct(x: number): string { return x >= 0.095 ? `${Math.round(100 * x)}%` : `${(100 * x).toFixed(1)}%`; }

/** One feature of a group as HTML: every name and value from the dataset escaped. */
export function featureText(f: Feature): string {
  if (f.value !== undefined) return `${pct(f.share ?? 0)} ${esc(f.column)}=${esc(String(f.value))} <span class="muted">(${pct(f.overall ?? 0)} overall)</span>`;
  if (f.low !== undefined) return `${esc(f.column)} ${num(f.low)}–${num(f.high)} <span class="muted">(${num(f.overall_low)}–${num(f.overall_high)} overall)</span>`;
  return `mean ${esc(f.column)} ${esc(fmt(f.mean))} <span class="muted">(${esc(fmt(f.overall_mean))} overall)</span>`;
}

/** A range end: whole numbers as such ("30"), others to 3 significant digits. */
function num(x: number | undefined): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '?';
  return Number.isInteger(x) ? x.toLocaleString() : String(Number(x.toPrecision(3)));
}

/** The seed baseline chosen on the page (the retrieval panel's "baseline pair: A vs C"), if any. */
function baselineSpace(): string | undefined {
  const v = document.querySelector<HTMLSelectElement>('#versus-baseline')?.value;
  return v && v !== state.a ? v : undefined;
}

function pairKey(): string { return `${state.a}|${state.b}|${state.k}|${baselineSpace() ?? ''}`; }

/** Empty the list when the pair or k changed since it was found (called as the page redraws). */
export function syncGroups(): void {
  const box = $('#groups');
  const same = state.a === state.b || !state.a || !state.b;
  $<HTMLButtonElement>('#find-groups').disabled = same || running !== null;
  if (pairKey() === groupsKey || running === pairKey()) return;
  groupsKey = '';
  loaded = null;
  const base = baselineSpace();
  box.innerHTML = same ? '<p class="muted">Pick two different spaces.</p>'
    : `<p class="muted">Groups of items whose neighbourhoods changed together from A to B (k = ${esc(state.k)}), ranked by how far their change exceeds ${base ? `what seeds alone change (A vs ${esc(base)})` : 'what the rest of their class shows'}.</p>`;
}

/** The groups of the shown pair: read back when a job already found them, else found by a server
 * job (POST /api/change-groups: it reads, and when missing builds, both kNN graphs) with the
 * jobs' progress bar and Cancel button. */
export async function findGroups(): Promise<void> {
  const box = $('#groups');
  const key = pairKey();
  const btn = $<HTMLButtonElement>('#find-groups');
  const spec = { a: state.a, b: state.b, k: state.k, baseline: baselineSpace() };
  running = key;
  btn.disabled = true;
  try {
    let res: ChangeGroups | null = null;
    try {
      res = await getJSON<ChangeGroups>('change-groups', spec);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404 && e.missing)) throw e;
    }
    if (!res) {
      box.innerHTML = PROGRESS_HTML;
      const prog = box.querySelector<HTMLElement>('.progress')!;
      prog.hidden = false;
      const job = await jobResult<ChangeGroups>('change-groups', { ...spec, dataset: state.dataset?.name }, prog);
      if (job.status === 'cancelled') { box.innerHTML = '<p class="muted">Cancelled.</p>'; status('cancelled'); return; }
      if (job.status === 'failed' || !job.result) throw new Error(job.error ?? 'finding the groups failed');
      status(`groups found in ${job.elapsed_s.toFixed(1)} s`);
      res = job.result;
    }
    if (key !== pairKey()) return;  // the pair changed meanwhile: syncGroups shows the new state
    groupsKey = key;
    loaded = res;
    renderGroups(res);
  } catch (e) {
    box.innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
  } finally {
    running = null;
    syncGroups();
  }
}

const n = (x: unknown): string => (typeof x === 'number' ? x.toLocaleString() : esc(x));

/** The groups as HTML: every text that comes from the dataset (column names, values, the
 * description) escaped, in the content and in the title attribute alike. */
export function groupsHtml(res: ChangeGroups): string {
  const against = res.against === 'baseline'
    ? `by how far their change exceeds what seeds alone change (A against ${esc(res.baseline ?? 'its reseeded run')})`
    : 'by how far their change exceeds what the rest of their class shows';
  const head = `<p class="muted">${n(res.n_changed)} of ${n(res.n_items)} items kept at most ${pct(res.max_overlap)} of their ${n(res.k)} neighbours; ${n(res.n_grouped)} of them in ${n(res.n_groups)} group${res.n_groups === 1 ? '' : 's'}, ranked ${against}. Click one to select it in both maps.</p>`;
  if (!res.groups.length) return head + '<p>No group: the items that changed did not change together.</p>';
  const usual = res.groups.every((g) => g.unusual === false);
  const note = usual ? `<p class="usual">No group changed more than ${res.against === 'baseline' ? 'seeds alone change' : 'the rest of its class'}: nothing here stands out as a region to look at first.</p>` : '';
  return head + note + `<ol class="groups">${res.groups.map((g) => `<li data-rank="${esc(g.rank)}" class="${g.unusual === false ? 'usual' : 'unusual'}" title="${esc(g.description)}">
    <div class="group-head"><b>${n(g.n)} items</b>${g.kind ? ` <span class="group-kind">${esc(g.kind)}</span>` : ''}</div>
    <div class="group-what">${g.features.slice(0, 2).map(featureText).join('; ') || '<span class="muted">no metadata value stands out</span>'}</div>
    <div class="group-vs muted">${referenceText(g)}</div></li>`).join('')}</ol>`;
}

/** "Jaccard 0.12 vs 0.85 for the rest of label=7: changed more" — what the group's change is set against. */
function referenceText(g: ChangeGroup): string {
  const j = `mean Jaccard ${esc(fmt(g.mean_jaccard, 2))}`;
  if (g.reference === undefined) return j;
  const what = g.against === 'baseline' ? 'these items under seed noise'
    : g.against === 'class' && g.class ? `the rest of ${esc(g.class.column)}=${esc(String(g.class.value))}` : 'the other items';
  const verdict = g.unusual ? '<b class="more">changed more</b>' : 'changed about as much';
  return `${j} vs ${esc(fmt(g.reference, 2))} for ${what}: ${verdict}`;
}

function renderGroups(res: ChangeGroups): void {
  const box = $('#groups');
  box.innerHTML = groupsHtml(res);
  box.querySelectorAll<HTMLLIElement>('li[data-rank]').forEach((li) => {
    li.onclick = () => selectGroup(Number(li.dataset.rank));
  });
}

/** Select a group's items in both maps (the selection panel exports them). */
export function selectGroup(rank: number): void {
  const g = loaded?.groups.find((x) => x.rank === rank);
  if (!g) return;
  document.querySelectorAll('#groups li.picked').forEach((li) => li.classList.remove('picked'));
  document.querySelectorAll<HTMLLIElement>('#groups li[data-rank]').forEach((li) => {
    if (Number(li.dataset.rank) === rank) li.classList.add('picked');
  });
  setSelection(Uint32Array.from(g.rows), `changed together #${rank}: ${g.n.toLocaleString()} items${g.kind ? `, ${g.kind}` : ''}`);
}
