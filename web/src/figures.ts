// The answer strip's line for the shown items: while a filter hides some items (a brushed chart,
// the search's "filter to matches"), one sentence under the answer gives its figures for the
// items still shown (spacelens.answer_subset, POST /api/figures): which space retrieves better on
// those queries (MAP@R, B − A with its 95% interval) and how alike their neighbourhoods are (mean
// kNN Jaccard with its interval, all items' beside it), then what the filter keeps. Asked 250 ms
// after the filters last changed; only the latest request's answer is drawn; gone with the filter.
import './figures.css';
import { postRows } from './api';
import { activeFilters, onFilter, shownMask } from './filter';
import { state } from './state';

/** What the line needs of the answer on show: the pair, its k, label column and seed baseline. */
export interface AnswerContext { a: string; b: string; k: number; label_field: string | null; baseline: string | null }

/** spacelens.answer_subset.subset_figures (the fields the page reads; the rest travels too). */
export interface Figures {
  n_rows: number; n_items: number; sentence: string; k: number;
  agreement: { mean: number | null; ci95: [number, number] | null; sampled: boolean; source: string; n: number;
    all_items: { mean: number; ci95: [number, number] | null } };
  retrieval: { mean_a: number | null; mean_b: number | null; difference: number | null; ci95: [number, number] | null;
    n_queries: number; winner: 'A' | 'B' | null; reference: string; sample: { n: number; population: number } | null } | null;
}

const DEBOUNCE_MS = 250;
let context: AnswerContext | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
let seq = 0;                                       // the latest request; older answers are dropped
let inflight: AbortController | null = null;      // its connection: closed when a newer one starts, so the server stops
let last: { key: string; figures: Figures } | null = null;

/** The shown rows of the mask, and a key naming them (FNV-1a over the rows) with the answer's settings. */
function shownRows(mask: Uint8Array, ctx: AnswerContext): { rows: Uint32Array; key: string } {
  let n = 0;
  for (let r = 0; r < mask.length; r++) n += mask[r];
  const rows = new Uint32Array(n);
  let h = 0x811c9dc5;
  for (let r = 0, i = 0; r < mask.length; r++) {
    if (!mask[r]) continue;
    rows[i++] = r;
    h = Math.imul(h ^ r, 0x01000193) >>> 0;
  }
  return { rows, key: [ctx.a, ctx.b, ctx.k, ctx.label_field ?? '', ctx.baseline ?? '', n, h].join('|') };
}

function line(create: boolean): HTMLElement | null {
  const box = document.querySelector<HTMLElement>('#answer');
  if (!box) return null;
  let p = box.querySelector<HTMLElement>('p.shown-figures');
  if (!p && create) {
    p = document.createElement('p');
    p.className = 'shown-figures';
    const text = document.createElement('span');
    text.className = 'text';
    const which = document.createElement('span');
    which.className = 'filters';
    p.append(text, which);
    box.append(p);
  }
  return p;
}

/** "details" stays at the end of the strip's last visible line: this line's while it is on show. */
function moveDetails(to: HTMLElement | null): void {
  const more = document.querySelector<HTMLElement>('#answer .details');
  if (more && to && more.parentElement !== to) to.append(more);
}

function drop(): void {
  const box = document.querySelector<HTMLElement>('#answer');
  box?.classList.remove('filtered');
  const p = line(false);
  if (!p) return;
  const others = [...(box?.querySelectorAll<HTMLElement>(':scope > p') ?? [])].filter((x) => x !== p);
  moveDetails(others[others.length - 1] ?? null);   // back to the last sentence, as answer.ts put it
  p.remove();
}

function show(stateName: 'working' | 'done' | 'error', text: string, nShown: number): void {
  const p = line(true)!;
  const labels = activeFilters().map((f) => f.label).join('; ');
  p.dataset.state = stateName;
  p.dataset.rows = String(nShown);
  const [span, which] = [p.querySelector<HTMLElement>('.text')!, p.querySelector<HTMLElement>('.filters')!];
  span.textContent = text;
  span.title = text;
  which.textContent = `(filtered: ${labels})`;
  which.title = `filtered: ${labels}`;
  document.querySelector('#answer')?.classList.add('filtered');
  moveDetails(p);
}

/** Ask for (or redraw) the figures of the items the filters show, for the answer on screen. */
async function update(): Promise<void> {
  const mask = shownMask();
  const ctx = context;
  if (!mask || !ctx || ctx.a !== state.a || ctx.b !== state.b) { seq++; drop(); return; }
  const { rows, key } = shownRows(mask, ctx);
  if (last?.key === key) { show('done', last.figures.sentence, rows.length); return; }
  const my = ++seq;
  cancelInflight();
  const ctl = new AbortController();
  inflight = ctl;
  show('working', `Working out the figures for the ${rows.length.toLocaleString()} shown items…`, rows.length);
  try {
    const params = { a: ctx.a, b: ctx.b, k: ctx.k, label_field: ctx.label_field ?? undefined, baseline: ctx.baseline ?? undefined };
    const figures = JSON.parse(await (await postRows('figures', rows, params, ctl.signal)).text()) as Figures;
    if (my !== seq) return;
    last = { key, figures };
    show('done', figures.sentence, rows.length);
  } catch (e) {
    if (my !== seq) return;
    show('error', `No figures for the shown items: ${(e as Error).message}`, rows.length);
  }
}

/** Close the connection of a request whose answer is no longer wanted: the server stops working
 * it out at its next step (``subset_figures``'s ``cancelled``). */
function cancelInflight(): void {
  inflight?.abort();
  inflight = null;
}

/** The answer was drawn (its HTML replaced): the line follows it, for its pair and settings. */
export function figuresForAnswer(ctx: AnswerContext): void {
  context = ctx;
  clearTimeout(timer);
  void update();
}

/** The answer is being worked out again (another pair or k): no line until it is drawn. */
export function figuresPaused(): void {
  context = null;
  clearTimeout(timer);
  seq++;
  cancelInflight();
  drop();
}

onFilter(() => {
  clearTimeout(timer);
  if (!shownMask()) { seq++; cancelInflight(); drop(); return; }   // the filter dropped: at once
  timer = setTimeout(() => { void update(); }, DEBOUNCE_MS);
});

/** The figures on show (for tests). */
export function shownFigures(): Figures | null { return last?.figures ?? null; }
