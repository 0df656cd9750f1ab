// Search that finds and shows (#26): every item whose id or metadata holds the searched text,
// counted in the search's head line and listed under it (the first 50, the matched part marked),
// all of them highlighted in both maps at once, and "Filter to matches" to show only them (the
// 'search' filter of filter.ts, shown as a chip with a × beside the box while it is set).
// The server finds and ranks (spacelens.views.search.find_items, GET /datasets/{name}/matches);
// this module only shows. Enter on an exact id still opens that item's kNN query (query.ts).
import './find.css';
import { enc, getFrame } from './api';
import { getFilter, onFilter, rowsMask, setFilter } from './filter';
import { clearQuery, runQuery, searchHooks, shownSpaces } from './query';
import { clearSelection, setSelection } from './selection';
import { els, state } from './state';
import { esc, $ } from './util';
import { maps } from './views';

/** One listed match: ``mark`` is the matched value (or the id) cut as [before, match, after]. */
export interface MatchHit { row: number; id: string; column: string | null; text: string | null; mark: [string, string, string]; }
export interface MatchesHeader {
  q: string; needle: string; column: string | null;
  n: number; n_dataset: number; n_held: number;   // matches; rows of the dataset; of them held by the shown spaces
  by_column: Record<string, number>; first: MatchHit[]; syntax: string;
}

const FIRST = 50;
const KEY = 'search';
let shown: { dataset: string; header: MatchesHeader; rows: Uint32Array } | null = null;
let seq = 0;

/** Find every match of ``q`` among the shown spaces' items: count them, list the first, select them all. */
export async function showMatches(q: string): Promise<void> {
  const ds = state.dataset;
  if (!ds || !q.trim()) return;
  const my = ++seq;
  els.queryInfo.classList.remove('said');
  els.queryInfo.textContent = 'searching…';
  let frame;
  try {
    frame = await getFrame<MatchesHeader>(`datasets/${enc(ds.name)}/matches`, { q, limit: FIRST, spaces: shownSpaces().join(','), either: 1 });
  } catch (e) {
    if (my === seq) { els.queryInfo.classList.add('said'); els.queryInfo.textContent = `The search failed: ${(e as Error).message}`; }
    return;
  }
  if (my !== seq || state.dataset?.name !== ds.name) return;
  clearQuery();              // the matches replace the query on screen (and its highlights)
  els.search.value = q;
  const rows = Uint32Array.from(frame.buffers.rows as Uint32Array);
  shown = { dataset: ds.name, header: frame.header, rows };
  render();
  if (rows.length) setSelection(rows, matchLabel(frame.header));
  else clearSelection();
}

/** Show only the matches on screen in both maps (the 'search' filter), or drop that filter. */
export function filterToMatches(on = true): void {
  if (!on || !shown) { setFilter(KEY, '', null); return; }
  const h = shown.header;
  setFilter(KEY, `matching “${h.q}”`, rowsMask(shown.rows), h.q);
}

/** The 'search' filter again from its saved text (an address that named it): find, then filter. */
export async function restoreSearchFilter(q: string): Promise<void> {
  await showMatches(q);
  if (shown?.header.q === q.trim()) filterToMatches();
}

/** Close the list (a new dataset: its rows are other rows); the filter stays until dropped. */
export function closeMatches(): void {
  seq++;
  if (shown && state.selectionLabel === matchLabel(shown.header)) clearSelection();
  shown = null;
  render();
}

/** The active search filter as a chip ("shown: matching “cat” ×"), or '' when none is set;
 * the × carries ``data-drop="search"`` (wire it with :func:`wireChip`). */
export function searchFilterChip(): string {
  const f = getFilter(KEY);
  if (!f) return '';
  return `<span class="filter-chip" title="${esc(`Only the items ${f.label} are shown in both maps`)}">shown: ${esc(f.label)}`
    + ` <button class="drop" data-drop="${KEY}" title="Drop this filter: show every item">×</button></span>`;
}

export function wireChip(root: HTMLElement): void {
  root.querySelectorAll<HTMLButtonElement>(`button[data-drop="${KEY}"]`).forEach((b) => { b.onclick = () => filterToMatches(false); });
}

// -- drawing ------------------------------------------------------------------------------
function matchLabel(h: MatchesHeader): string {
  return `${h.n.toLocaleString()} matching “${h.q}”`;
}

function panel(): HTMLElement {
  let p = document.querySelector<HTMLElement>('#matches');
  if (!p) {
    p = document.createElement('div');
    p.id = 'matches';
    p.hidden = true;
    $('#query-panel .query-head').after(p);
  }
  return p;
}

/** The chip beside the search box, kept in step with the filters. */
function renderChip(): void {
  let box = document.querySelector<HTMLElement>('#search-filter');
  if (!box) {
    box = document.createElement('span');
    box.id = 'search-filter';
    $('#query-panel .search').after(box);
  }
  box.innerHTML = searchFilterChip();
  box.hidden = !box.innerHTML;
  wireChip(box);
}

const markHtml = (m: [string, string, string]) => `${esc(m[0])}<mark>${esc(m[1])}</mark>${esc(m[2])}`;

function filterButton(h: MatchesHeader): string {
  const on = getFilter(KEY)?.saved === h.q;
  return on
    ? `<button class="small matches-filter" data-on="1" title="Show every item again">Show all items</button>`
    : `<button class="small matches-filter" title="Show only these ${h.n.toLocaleString()} items in both maps">Filter to matches</button>`;
}

function render(): void {
  const p = panel();
  renderChip();
  if (shown && state.dataset?.name !== shown.dataset) shown = null;
  $('#query-panel').classList.toggle('matching', !!shown);
  if (!shown) { p.hidden = true; p.innerHTML = ''; return; }
  const { header: h } = shown;
  const plural = h.n === 1 ? 'item matches' : 'items match';
  const of = h.n_held < h.n_dataset ? ` of the ${h.n_held.toLocaleString()} items the maps draw` : '';
  const cols = Object.entries(h.by_column);
  const where = cols.slice(0, 4).map(([c, n]) => `${esc(c)} ${n.toLocaleString()}`).join(', ') + (cols.length > 4 ? ', …' : '');
  if (!h.n) {
    p.hidden = true;
    els.queryInfo.classList.add('said');
    els.queryInfo.textContent = `No item matches “${h.q}”: search by an id, or by text in the dataset's columns.`;
    return;
  }
  // the head line: the count, and the filter one click away (the list is one scroll below)
  els.queryInfo.classList.remove('said');
  els.queryInfo.innerHTML = `<button class="to-tables" title="Scroll to the list of matches">list ↓</button>${filterButton(h)}`
    + ` <b>${h.n.toLocaleString()}</b> ${plural} “${esc(h.q)}” <span class="muted">(${where}) · selected in both maps</span>`;
  els.queryInfo.title = `${h.n.toLocaleString()} ${plural} “${h.q}” (in ${cols.map(([c, n]) => `${c}: ${n}`).join(', ')})`;
  els.queryInfo.querySelector<HTMLButtonElement>('.to-tables')!.onclick = () => p.scrollIntoView({ block: 'end' });
  const rows = h.first.map((m) => `<tr data-row="${m.row}"><td class="id" title="${esc(m.id)}">${m.column === null ? markHtml(m.mark) : esc(m.id)}</td>`
    + `<td class="col" title="${esc(m.column ?? 'id')}">${esc(m.column ?? 'id')}</td>`
    + `<td class="val" title="${esc(m.text ?? '')}">${m.column === null ? '' : markHtml(m.mark)}</td></tr>`).join('');
  const more = h.n > h.first.length ? `<p class="muted more">and ${(h.n - h.first.length).toLocaleString()} more, all selected in both maps.</p>` : '';
  p.innerHTML = `<div class="matches-head"><h4><b>${h.n.toLocaleString()}</b> ${plural} “${esc(h.q)}”${esc(of)} <span class="muted">(matched in ${where})</span></h4>`
    + `${filterButton(h)}<button class="small reselect" title="Select all the matches in both maps again">Select all</button>`
    + `<button class="small close" title="Close the list (the filter stays until dropped)">×</button></div>`
    + `<div class="matches-scroll"><table><thead><tr><th>id</th><th>matched in</th><th>value</th></tr></thead><tbody>${rows}</tbody></table></div>${more}`;
  p.hidden = false;
  document.querySelectorAll<HTMLButtonElement>('#query-panel .matches-filter').forEach((b) => {
    b.onclick = () => filterToMatches(b.dataset.on !== '1');
  });
  p.querySelector<HTMLButtonElement>('.reselect')!.onclick = () => { if (shown) setSelection(shown.rows, matchLabel(shown.header)); };
  p.querySelector<HTMLButtonElement>('.close')!.onclick = closeMatches;
  p.querySelectorAll<HTMLTableRowElement>('tbody tr').forEach((tr) => {
    const r = Number(tr.dataset.row);
    tr.onmouseenter = () => { maps.A.hoverRow(r); maps.B.hoverRow(r); };
    tr.onmouseleave = () => { maps.A.hoverRow(state.queryRow); maps.B.hoverRow(state.queryRow); };
    tr.onclick = () => {
      p.querySelectorAll('tr.picked').forEach((x) => x.classList.remove('picked'));
      tr.classList.add('picked');
      void runQuery(r);
    };
  });
}

searchHooks.matches = showMatches;
onFilter(() => { if (shown) render(); else renderChip(); });
