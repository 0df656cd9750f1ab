// The kNN query: an item's k nearest neighbours in both spaces, side by side under the maps
// (each marked kept, lost or gained, see changes.ts), highlighted in the maps; and the search
// that finds an item.
import { enc, getJSON, type QueryResult, type SearchHit } from './api';
import { changeBadge, changesOf, changeSummary, clearChangeMarks, markChanges, syncGroups } from './changes';
import { clearSelection, setSelection } from './selection';
import { els, state } from './state';
import { neighbourTableHtml } from './render';
import { esc, $ } from './util';
import { maps } from './views';

const HINT = 'Click a point, or search by id or text, to list its nearest neighbours in both spaces.';

/** Enter on text that is not exactly one id, or "Show all matches" in the suggestions: the
 * matches view (find.ts) lists and highlights every match. */
export const searchHooks: { matches: ((q: string) => Promise<void>) | null } = { matches: null };

export async function runQuery(row: number): Promise<void> {
  if (!state.dataset) return;
  els.queryInfo.textContent = 'querying…';
  els.queryInfo.classList.remove('said');
  try {
    const res = await getJSON<QueryResult>('query', { space: state.a, vs: state.b !== state.a ? state.b : undefined, row, k: state.k });
    state.query = res;
    state.queryRow = row;
    els.search.value = res.query;  // the box names the item queried, however it was picked
    els.searchResults.hidden = true;
    renderQuery(res);
    highlightQuery(res, row);
  } catch (e) {
    els.queryInfo.classList.add('said');
    els.queryInfo.textContent = `This item's neighbours could not be listed: ${(e as Error).message}`;
  }
}

export function highlightQuery(res: QueryResult, row: number): void {
  const nA = (res.spaces[state.a] ?? []).map((n) => n.row);
  const nB = (res.spaces[state.b] ?? []).map((n) => n.row);
  const all = Uint32Array.from(new Set([row, ...nA, ...nB]));
  setSelection(all, `query ${res.query} and its neighbours`, null, false);
  maps.A.selectRows([row, ...nA]);
  maps.B.selectRows([row, ...nB]);
  maps.A.hoverRow(row);
  maps.B.hoverRow(row);
  markChanges(res);
}

/** Put the query's highlights (or the selection) back after the maps were redrawn. */
export function reapplySelection(): void {
  if (state.query && state.queryRow !== null) highlightQuery(state.query, state.queryRow);
  else if (state.selection.length) for (const v of [maps.A, maps.B]) v.selectRows(state.selection);
}

function renderQuery(res: QueryResult): void {
  const shared = new Set(res.shared);
  const changes = changesOf(res);
  const same = state.a === state.b;
  els.queryInfo.innerHTML = `<b>${esc(res.query)}</b> · k = ${res.k}${same ? '' : ` · ${changeSummary(res)}`}`;
  els.queryInfo.title = same ? '' : `lost: in ${state.a}'s list only; gained: in ${state.b}'s list only`;
  // the tables come below the head (the maps keep their size): one click, or a scroll, away
  const to = document.createElement('button');
  to.className = 'to-tables';
  to.textContent = 'tables ↓';
  to.title = 'Scroll to the neighbour tables';
  to.onclick = () => $('#query-tables').scrollIntoView({ block: 'end' });
  els.queryInfo.prepend(to);
  $('#query-tables').hidden = false;
  $('#query-panel').classList.add('open');
  const fill = (table: HTMLTableElement, title: HTMLElement, space: string) => {
    const list = res.spaces[space] ?? [];
    title.innerHTML = `${esc(space)} <span class="muted">· ${list.length} neighbours</span>`;
    title.title = space;
    table.innerHTML = neighbourTableHtml(list, shared, state.dataset?.id_field, changes, changeBadge, res);
    table.querySelectorAll<HTMLTableRowElement>('tbody tr').forEach((tr) => {
      const r = Number(tr.dataset.row);
      tr.onmouseenter = () => { maps.A.hoverRow(r); maps.B.hoverRow(r); };
      tr.onmouseleave = () => { maps.A.hoverRow(state.queryRow); maps.B.hoverRow(state.queryRow); };
      tr.onclick = () => void runQuery(r);
    });
  };
  fill(els.tableA, els.tableATitle, state.a);
  els.tableB.parentElement!.hidden = same;
  if (!same) fill(els.tableB, els.tableBTitle, state.b);
}

/** Forget the query: empty tables, no titles, no search text left over. */
export function clearQuery(): void {
  clearChangeMarks();
  syncGroups();
  state.query = null;
  state.queryRow = null;
  els.tableA.innerHTML = '';
  els.tableB.innerHTML = '';
  els.tableATitle.textContent = '';
  els.tableBTitle.textContent = '';
  $('#query-tables').hidden = true;
  $('#query-panel').classList.remove('open');
  els.queryInfo.textContent = HINT;
  els.queryInfo.classList.remove('said');
  els.queryInfo.title = '';
  els.search.value = '';
  els.searchResults.hidden = true;
  maps.A.hoverRow(null);
  maps.B.hoverRow(null);
}

export function clearAll(): void {
  clearQuery();
  clearSelection();
}

// -- the search box: suggestions of the shown spaces' items, visible wherever the box sits ---------
let searchTimer = 0;
let searchSeq = 0;

/** The spaces on screen: a suggestion must be an item each of them holds (the query asks both). */
export function shownSpaces(): string[] {
  return [...new Set([state.a, state.b].filter(Boolean))];
}

function spacesText(): string {
  const s = shownSpaces();
  return s.length > 1 ? `both shown spaces (${s.join(' and ')})` : `the shown space (${s[0] ?? ''})`;
}

async function searchHits(q: string, limit = 12, filtered = true): Promise<SearchHit[]> {
  if (!state.dataset) return [];
  return getJSON<SearchHit[]>(`datasets/${enc(state.dataset.name)}/search`,
    { q, limit, spaces: filtered ? shownSpaces().join(',') : undefined });
}

/** Open the list where it fits: below the box when there is room, else above it (the box sits at
 * the bottom of the window), never taller than the room on that side. */
export function placeResults(): void {
  const box = els.searchResults;
  if (box.hidden) return;
  const r = els.search.getBoundingClientRect();
  const below = window.innerHeight - r.bottom - 8, above = r.top - 8;
  const want = Math.min(300, box.scrollHeight + 2);
  const up = below < want && above > below;
  box.classList.toggle('up', up);
  box.style.maxHeight = `${Math.max(60, Math.min(300, up ? above : below))}px`;
}

function showHits(hits: SearchHit[], q: string): void {
  const box = els.searchResults;
  box.innerHTML = hits.length
    ? hits.map((h) => `<li data-row="${h.row}"><b>${esc(h.id)}</b>${h.text ? ` <span class="muted">${esc(h.column)}: ${esc(h.text.slice(0, 80))}</span>` : ''}</li>`).join('')
    : `<li class="muted none">No item of ${esc(spacesText())} matches “${esc(q)}”.</li>`;
  if (hits.length && searchHooks.matches) box.insertAdjacentHTML('beforeend', `<li class="all">Show all matches of “${esc(q)}” <span class="muted">(Enter)</span></li>`);
  box.hidden = false;
  box.querySelectorAll<HTMLLIElement>('li[data-row]').forEach((li) => {
    li.onclick = () => { box.hidden = true; els.search.value = li.querySelector('b')!.textContent ?? ''; void runQuery(Number(li.dataset.row)); };
  });
  const all = box.querySelector<HTMLLIElement>('li.all');
  if (all) all.onclick = () => { box.hidden = true; void searchHooks.matches?.(q); };
  placeResults();
}

/** Say in the page why Enter found nothing: no such item, or one the shown spaces do not hold. */
async function explainNoMatch(q: string): Promise<void> {
  els.searchResults.hidden = true;
  const anywhere = await searchHits(q, 1, false).catch(() => [] as SearchHit[]);
  const exact = anywhere.find((h) => h.id === q);
  const info = els.queryInfo;
  info.classList.add('said');
  info.textContent = exact
    ? `“${q}” is in ${state.dataset?.name ?? 'the dataset'} but not in ${spacesText()}.`
    : `No item matches “${q}”: search by an id, or by text in the dataset's columns.`;
  info.title = info.textContent;
}

export function onSearchInput(): void {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(async () => {
    const q = els.search.value.trim();
    const box = els.searchResults;
    if (!q || !state.dataset) { box.hidden = true; return; }
    const seq = ++searchSeq;
    const hits = await searchHits(q).catch(() => [] as SearchHit[]);
    if (seq !== searchSeq || els.search.value.trim() !== q) return;  // typed on (or pressed Enter) meanwhile
    showHits(hits, q);
  }, 150);
}

/** Enter: the item whose id is the text; else every match (the matches view); no match is
 * answered in words (never a raw error). Escape closes the list. */
export async function onSearchKey(ev: KeyboardEvent): Promise<void> {
  if (ev.key === 'Escape') { els.searchResults.hidden = true; return; }
  if (ev.key !== 'Enter') return;
  ev.preventDefault();
  clearTimeout(searchTimer);
  const q = els.search.value.trim();
  if (!q || !state.dataset) return;
  const seq = ++searchSeq;
  let hits: SearchHit[];
  try {
    hits = await searchHits(q);
  } catch (e) {
    els.queryInfo.textContent = `The search failed: ${(e as Error).message}`;
    return;
  }
  if (seq !== searchSeq) return;
  const exact = hits.find((h) => h.id === q);
  if (!exact && !hits.length) { await explainNoMatch(q); return; }
  els.searchResults.hidden = true;
  if (!exact && searchHooks.matches) await searchHooks.matches(q);
  else await runQuery((exact ?? hits[0]).row);
}
