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

export async function runQuery(row: number): Promise<void> {
  if (!state.dataset) return;
  els.queryInfo.textContent = 'querying…';
  try {
    const res = await getJSON<QueryResult>('query', { space: state.a, vs: state.b !== state.a ? state.b : undefined, row, k: state.k });
    state.query = res;
    state.queryRow = row;
    els.search.value = res.query;  // the box names the item queried, however it was picked
    els.searchResults.hidden = true;
    renderQuery(res);
    highlightQuery(res, row);
  } catch (e) {
    els.queryInfo.textContent = (e as Error).message;
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
  $('#query-tables').hidden = false;
  $('#query-panel').classList.add('open');
  const fill = (table: HTMLTableElement, title: HTMLElement, space: string) => {
    const list = res.spaces[space] ?? [];
    title.innerHTML = `${esc(space)} <span class="muted">· ${list.length} neighbours</span>`;
    title.title = space;
    table.innerHTML = neighbourTableHtml(list, shared, state.dataset?.id_field, changes, changeBadge);
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
  els.search.value = '';
  els.searchResults.hidden = true;
  maps.A.hoverRow(null);
  maps.B.hoverRow(null);
}

export function clearAll(): void {
  clearQuery();
  clearSelection();
}

let searchTimer = 0;
export function onSearchInput(): void {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(async () => {
    const q = els.search.value.trim();
    const box = els.searchResults;
    if (!q || !state.dataset) { box.hidden = true; return; }
    const hits = await getJSON<SearchHit[]>(`datasets/${enc(state.dataset.name)}/search`, { q, limit: 12 }).catch(() => []);
    if (els.search.value.trim() !== q) return;  // typed on meanwhile
    box.innerHTML = hits.length ? hits.map((h) => `<li data-row="${h.row}"><b>${esc(h.id)}</b>${h.text ? ` <span class="muted">${esc(h.column)}: ${esc(h.text.slice(0, 80))}</span>` : ''}</li>`).join('') : '<li class="muted">no match</li>';
    box.hidden = false;
    box.querySelectorAll<HTMLLIElement>('li[data-row]').forEach((li) => {
      li.onclick = () => { box.hidden = true; els.search.value = li.querySelector('b')!.textContent ?? ''; void runQuery(Number(li.dataset.row)); };
    });
  }, 150);
}
