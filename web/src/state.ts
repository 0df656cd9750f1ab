// What the page shows now (the two spaces, map method, colouring, k, selection, query) and
// handles on the page's fixed elements. Every other module reads and writes this one state.
import type { ColorHeader, ComparisonHeader, Dataset, JobSpec, QueryResult, Registry } from './api';
import type { Scale } from './colorscale';
import { $ } from './util';

export interface State {
  registry: Registry | null;
  dataset: Dataset | null;
  a: string; b: string; method: string; color: string; k: number; align: boolean;
  baseline: string;  // C, a reseeded run of A: its A-vs-C mean at k is marked on the histogram ('' none)
  colors: { header: ColorHeader; codes: Uint8Array } | null;
  scale: Scale | null;  // the colouring fitted to the drawn points
  comparison: { header: ComparisonHeader; bins: Uint8Array } | null;
  selection: Uint32Array;
  selectionLabel: string;
  pickedBin: number | null;  // the histogram bar whose items are selected
  query: QueryResult | null;
  queryRow: number | null;
  missing: JobSpec[];
  generation: number;
  loading: boolean;
  timings: Record<string, number>;
  colorChosen: boolean;
  methodChosen: boolean;  // the user (or the address) picked the map: never switched for them
}

export const state: State = {
  registry: null, dataset: null, a: '', b: '', method: 'pca', color: '', k: 10, align: false, baseline: '',
  colors: null, scale: null, comparison: null, selection: new Uint32Array(0), selectionLabel: '', pickedBin: null, query: null, queryRow: null,
  missing: [], generation: 0, loading: false, timings: {}, colorChosen: false, methodChosen: false,
};

export const els = {
  dataset: $<HTMLSelectElement>('#dataset'), a: $<HTMLSelectElement>('#space-a'), b: $<HTMLSelectElement>('#space-b'),
  method: $<HTMLSelectElement>('#method'), color: $<HTMLSelectElement>('#color'), k: $<HTMLInputElement>('#k'),
  lasso: $<HTMLInputElement>('#lasso'), align: $<HTMLInputElement>('#align'), computeMissing: $<HTMLButtonElement>('#compute-missing'),
  status: $('#status'), tooltip: $('#tooltip'), legend: $('#legend'), histogram: $('#histogram'),
  selectionInfo: $('#selection-info'), exportBtn: $<HTMLButtonElement>('#export'),
  clearBtn: $<HTMLButtonElement>('#clear-selection'), evaluation: $('#evaluation'),
  search: $<HTMLInputElement>('#search'), searchResults: $('#search-results'), queryInfo: $('#query-info'),
  tableA: $<HTMLTableElement>('#table-a'), tableB: $<HTMLTableElement>('#table-b'),
  tableATitle: $('#table-a-title'), tableBTitle: $('#table-b-title'),
};

export function status(msg: string, title = ''): void {
  els.status.textContent = msg;
  els.status.title = title;
}
