// The selection (lasso, histogram bar, query): the same dataset rows picked in both maps, and
// their export as CSV.
import { enc, postRows } from './api';
import type { MapView } from './maps';
import { writeUrl } from './address';
import { els, state } from './state';
import { maps } from './views';

export function setSelection(rows: Uint32Array, label: string, from: MapView | null = null, mapsToo = true): void {
  const sorted = Uint32Array.from(new Set(rows)).sort();
  state.selection = sorted;
  state.selectionLabel = label;
  state.pickedBin = null;
  if (mapsToo) for (const v of [maps.A, maps.B]) if (v !== from) v.selectRows(sorted);
  renderSelection();
  writeUrl();
}

export function clearSelection(): void {
  state.selection = new Uint32Array(0);
  state.selectionLabel = '';
  state.pickedBin = null;
  for (const v of [maps.A, maps.B]) v.selectRows([]);
  els.histogram.querySelectorAll('rect.bar.picked').forEach((b) => b.classList.remove('picked'));
  // nothing picked any more: the "changed together" group loses its highlight too
  document.querySelectorAll('#groups li.picked').forEach((li) => li.classList.remove('picked'));
  renderSelection();
  writeUrl();
}

export function renderSelection(): void {
  const n = state.selection.length;
  els.selectionInfo.textContent = n ? `${n.toLocaleString()} selected: ${state.selectionLabel}` : 'Nothing selected. Click a point, shift-drag a lasso, or click a histogram bar.';
  els.selectionInfo.dataset.count = String(n);
  els.exportBtn.disabled = n === 0;
  els.clearBtn.disabled = n === 0;
}

export async function exportSelection(): Promise<void> {
  const ds = state.dataset;
  if (!ds || !state.selection.length) return;
  const blob = await postRows(`datasets/${enc(ds.name)}/export`, state.selection,
    { a: state.a !== state.b ? state.a : undefined, b: state.a !== state.b ? state.b : undefined, k: state.k });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${ds.name}-selection.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
