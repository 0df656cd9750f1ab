// Talking to the spacelens server: JSON for records, binary frames for point data.
import { decodeFrame, type Frame } from './frame';

export class ApiError extends Error {
  status: number;
  missing: JobSpec | null;
  constructor(status: number, detail: string, missing: JobSpec | null) {
    super(detail);
    this.status = status;
    this.missing = missing;
  }
}

/** A job the page can start; ``full``: a comparison in full (both kNN graphs) where the budget would sample it. */
export interface JobSpec { kind: 'projection' | 'comparison' | 'change_groups'; top?: number; space?: string; method?: string; align_to?: string; a?: string; b?: string; k?: number; full?: boolean; }

export interface Job {
  id: string; kind: string; params: Record<string, unknown>; status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  stage: string; done: number; total: number | null; fraction: number | null; error: string | null; elapsed_s: number;
  percent?: number | null;   // 0-100, when the server knows it
  eta_s?: number | null;     // seconds left, when the server can estimate them
  cancellable?: boolean;     // POST /api/jobs/{id}/cancel stops it
}

export interface Column {
  name: string; dtype: string; kind: 'categorical' | 'numeric' | 'text' | 'image'; is_id: boolean;
  /** can be labels (spacelens.labels): strings, integers, booleans; evaluated: a stored evaluation used it */
  label?: boolean; label_reason?: string | null; evaluated?: boolean; class_name?: boolean;
}
export interface Dataset { name: string; n_rows: number; id_field: string; spaces: string[]; columns: Column[]; }
export interface Space { name: string; dataset: string; experiment: string; dim: number; n_rows: number; maps: string[]; step?: number | null; split?: string | null; run?: string | null;
  pruned_at?: string | null;   // its vectors were removed (spacelens prune): listed, never offered in a picker
}
export interface Evaluation { id: number; space: string; name: string | null; params: Record<string, unknown>; metrics: Record<string, number>; created_at: string; info?: Record<string, unknown>; }
export interface Comparison { id: number; a: string; b: string; dataset: string; k: number | null; mean: number | null; info: Record<string, unknown>; created_at?: string; seed_pair?: boolean; }
export interface MapRecord { id?: number; space: string; method: string; align_to?: string | null; params?: Record<string, unknown>; faithfulness: Record<string, number>; }
export interface Registry {
  datasets: Dataset[]; experiments: Record<string, unknown>[]; spaces: Space[]; comparisons: Comparison[];
  evaluations: Evaluation[]; maps: MapRecord[];
}

export interface MapHeader {
  space: string; method: string; n: number; n_dataset: number; rows: 'all' | 'mask' | 'list';
  faithfulness: Record<string, number | null>;
}
export interface LegendEntry { code: number; label: string; color: string; count: number; }
export interface ColorHeader {
  by: string; kind: 'categorical' | 'numeric' | 'coincidence'; palette: string[]; note?: string; n_classes?: number;
  legend?: LegendEntry[]; min?: number; max?: number; stops?: string[]; mean?: number; missing?: number;
}
/** The agreement histogram: one bin per value Jaccard takes at k (``kind: 'shared'``: s / (2k - s) for s
 * shared neighbours, ``edges`` the midpoints between them), or equal-width bins (``kind: 'bins'``). */
export interface Histogram { kind?: 'shared' | 'bins'; edges: number[]; counts: number[]; values?: number[]; shared?: number[]; }
/** A vs C (C a reseeded run of A) at the same k: what seeds alone change. ``mean`` null: not stored
 * yet, ``missing`` the job that computes it. */
export interface BaselineMark { space: string; k: number; mean: number | null; missing?: JobSpec; }
export interface ComparisonHeader {
  a: string; b: string; k: number; mean: number; n: number; histogram: Histogram;
  info?: { chance?: number | null; [key: string]: unknown };
  baseline?: BaselineMark;
}
export interface Item { row: number; id: string; metadata: Record<string, unknown>; images: { column: string; url: string }[]; jaccard?: number | null; }
export interface Neighbour { id: string; row: number; distance: number; [key: string]: unknown; }
/** ``images``: dataset row -> the neighbour's image URL (http(s)/data: as they are, files through the image
 * route); ``image_column``: the column those thumbnails show (the tables leave its paths out). */
export interface QueryResult {
  query: string; spaces: Record<string, Neighbour[]>; shared: string[]; k: number;
  images?: Record<string, string>; image_column?: string | null;
}
export interface SearchHit { row: number; id: string; column: string | null; text: string | null; }

export type Params = Record<string, string | number | undefined>;

/** Where records (JSON) and point data (binary frames) come from: the spacelens server over HTTP
 * (the page), or the notebook kernel through the widget's model (widget.ts). Both answer the
 * same paths (``spaces/NAME/map``, ``datasets/NAME/colors``, ``comparison``, ``query``) with the
 * same frames, so the drawing code is the same for both. */
export interface DataSource {
  json<T>(path: string, params?: Params): Promise<T>;
  frame<H>(path: string, params?: Params): Promise<Frame<H>>;
}

/** Bytes of point data received, for the page's own accounting (in the status bar's tooltip). */
export const traffic = { frames: 0, bytes: 0, payload: 0 };
/** The same for the Filter panel's charts (one byte a row a chart, loaded when the panel shows). */
export const chartTraffic = { frames: 0, bytes: 0, payload: 0 };

async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  let detail = `${res.status} ${res.statusText}`;
  let missing = null;
  try {
    const body = await res.json();
    detail = body.detail ?? detail;
    missing = body.missing ?? null;
  } catch { /* not JSON */ }
  throw new ApiError(res.status, detail, missing);
}

export async function getJSON<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const res = await check(await fetch(url(path, params)));
  return res.json() as Promise<T>;
}

/** A binary frame; ``account``: 'charts' for the Filter panel's per-column values, counted apart
 * from what drawing the maps costs (``traffic``). */
export async function getFrame<H>(path: string, params: Record<string, string | number | undefined> = {},
  account: 'maps' | 'charts' = 'maps'): Promise<Frame<H>> {
  const res = await check(await fetch(url(path, params)));
  const frame = decodeFrame<H>(await res.arrayBuffer());
  const t = account === 'maps' ? traffic : chartTraffic;
  t.frames += 1;
  t.bytes += frame.bytes;
  for (const b of Object.values(frame.buffers)) t.payload += b.byteLength;
  return frame;
}

export async function postJSON<T>(path: string, body: unknown): Promise<T> {
  const res = await check(await fetch(url(path), {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  }));
  return res.json() as Promise<T>;
}

export async function postRows(path: string, rows: Uint32Array, params: Record<string, string | number | undefined> = {},
  signal?: AbortSignal): Promise<Blob> {
  const res = await check(await fetch(url(path, params), {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: rows.slice().buffer as ArrayBuffer, signal,
  }));
  return res.blob();
}

export function url(path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `api/${path}${s ? `?${s}` : ''}`;
}

export const enc = encodeURIComponent;

/** The page's source: the server that served it. */
export const httpSource: DataSource = { json: getJSON, frame: getFrame };

// The versus endpoint (POST /api/versus, a job whose `result` is spacelens.evaluate_versus).
/** One metric's paired comparison of two scorings of the same queries (b − a). */
export interface PairedMetric {
  n: number; mean_a: number | null; mean_b: number | null; difference: number | null;
  ci95: [number | null, number | null]; p_value?: number | null; b_better?: number; a_better?: number; ties?: number;
}
/** One class: its queries' mean score in A and in B, and B − A. */
export interface PerClassRow { label: string | number; n: number; a: number | null; b: number | null; difference: number | null; }
/** Classes where each space is ahead on a metric. */
export interface ClassWins { a: number; b: number; ties: number; classes: number; }
/** The baseline C (a reseeded run of A): C − A per metric, and whether B − A goes beyond it. */
export interface VersusBaseline { space: string; n_queries: number; metrics: Record<string, PairedMetric>; beyond: Record<string, boolean>; }
export interface Versus {
  space_a: string; space_b: string; label_field: string; n_queries: number;
  metrics: Record<string, PairedMetric>;
  per_class: Record<string, PerClassRow[]>;  // per metric, largest loss for B first
  wins: Record<string, ClassWins>;
  baseline?: VersusBaseline;
  verdict: string;
}
/** POST /api/versus/class: the dataset rows of one class of the label column. */
export interface ClassRows { dataset: string; label_field: string; value: string | number; n: number; rows: number[]; }
