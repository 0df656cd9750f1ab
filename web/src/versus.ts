// "Which retrieves better": the two shown spaces scored on the same queries by a label column
// (P@1, R-precision, MAP@R per query), each metric's difference B − A with its paired bootstrap
// 95% interval and randomization p-value, and the one-sentence verdict of `evaluate A --vs B`.
// Computed on request as a server job (POST /api/versus; R-precision needs each query's R
// neighbours, slow at large n), with the jobs' progress bar and Cancel button.
import { enc, getJSON, postJSON, type Job } from './api';
import { PROGRESS_HTML, showProgress } from './jobs';
import { state, status } from './state';
import { esc, $ } from './util';

interface PairedMetric { n: number; mean_a: number | null; mean_b: number | null; difference: number | null; ci95: [number | null, number | null]; p_value?: number | null; }
export interface Versus {
  space_a: string; space_b: string; label_field: string; n_queries: number;
  metrics: Record<string, PairedMetric>; verdict: string;
}

const ROWS: [string, string][] = [['precision_at_1', 'P@1'], ['r_precision', 'R-precision'], ['mean_average_precision_at_r', 'MAP@R']];

let shownKey = '';
let running: string | null = null;  // the key of the job being polled

function key(): string { return `${state.a}|${state.b}|${$<HTMLSelectElement>('#versus-label').value}`; }

const num = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(3) : '–');
const signed = (v: number | null | undefined) => (typeof v === 'number' ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}` : '–');
const pText = (p: number | null | undefined) => (typeof p !== 'number' ? '–' : p < 0.001 ? '< 0.001' : p.toFixed(3));

/** The label picker's columns (categorical) and default: the colour column when categorical. */
function fillLabels(): void {
  const sel = $<HTMLSelectElement>('#versus-label');
  const cats = (state.dataset?.columns ?? []).filter((c) => c.kind === 'categorical' && !c.is_id).map((c) => c.name);
  const names = cats.join('|');
  if (sel.dataset.names !== names) {
    sel.dataset.names = names;
    sel.innerHTML = cats.map((c) => `<option value="${esc(c)}">${esc(c)}</option>`).join('');
    sel.dataset.chosen = '';
  }
  if (!sel.dataset.chosen) {  // follow the colouring until the user picks a column here
    const want = cats.includes(state.color) ? state.color : cats[0] ?? '';
    sel.value = want;
  }
}

/** Keep the panel in step with the page (called as it redraws): labels, button, stale result. */
export function syncVersus(): void {
  fillLabels();
  const sel = $<HTMLSelectElement>('#versus-label');
  const btn = $<HTMLButtonElement>('#compare-retrieval');
  const same = !state.a || !state.b || state.a === state.b;
  btn.disabled = same || !sel.value || running !== null;
  if (key() === shownKey || running === key()) return;
  shownKey = '';
  const box = $('#versus');
  box.innerHTML = same ? '<p class="muted">Pick two different spaces.</p>'
    : !sel.value ? '<p class="muted">This dataset has no categorical column to use as labels.</p>'
      : `<p class="muted">Retrieval of A (${esc(state.a)}) and B (${esc(state.b)}) on the same queries, labels from <b>${esc(sel.value)}</b>: paired differences B − A with 95% intervals.</p>`;
}

export async function compareRetrieval(): Promise<void> {
  const k = key();
  const label = $<HTMLSelectElement>('#versus-label').value;
  const box = $('#versus');
  const btn = $<HTMLButtonElement>('#compare-retrieval');
  running = k;
  btn.disabled = true;
  box.innerHTML = PROGRESS_HTML;
  const prog = box.querySelector<HTMLElement>('.progress')!;
  prog.hidden = false;
  try {
    let job = await postJSON<Job & { result?: Versus }>('versus', { a: state.a, b: state.b, label_field: label, dataset: state.dataset?.name });
    const cancel = prog.querySelector<HTMLButtonElement>('.cancel')!;
    cancel.onclick = async () => {
      cancel.disabled = true;
      cancel.textContent = 'Cancelling…';
      job = await postJSON<Job>(`jobs/${enc(job.id)}/cancel`, {});
    };
    while (job.status === 'queued' || job.status === 'running') {
      showProgress(prog, job);
      await new Promise((r) => setTimeout(r, 400));
      job = await getJSON<Job & { result?: Versus }>(`jobs/${enc(job.id)}`);
    }
    showProgress(prog, job);
    if (job.status === 'cancelled') { box.innerHTML = '<p class="muted">Cancelled.</p>'; status('cancelled'); return; }
    if (job.status === 'failed' || !job.result) throw new Error(job.error ?? 'the comparison failed');
    status(`retrieval compared in ${job.elapsed_s.toFixed(1)} s`);
    if (k !== key()) return;  // the pair or labels changed meanwhile: syncVersus shows the new state
    shownKey = k;
    renderVersus(job.result);
  } catch (e) {
    box.innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
  } finally {
    running = null;
    syncVersus();
  }
}

export function renderVersus(res: Versus): void {
  const rows = ROWS.map(([m, name]) => {
    const x = res.metrics[m];
    if (!x) return '';
    const [lo, hi] = x.ci95;
    const clear = typeof lo === 'number' && typeof hi === 'number' && (lo > 0 || hi < 0);
    const who = !clear ? '' : (x.difference ?? 0) > 0 ? ' b-ahead' : ' a-ahead';
    return `<tbody data-metric="${m}"><tr><th>${name}</th><td data-f="a">${num(x.mean_a)}</td><td data-f="b">${num(x.mean_b)}</td>
      <td data-f="difference" class="diff${who}">${signed(x.difference)}</td></tr>
      <tr class="ci-row"><td colspan="4">95% CI <span data-f="ci95">${signed(lo)} to ${signed(hi)}</span> · p <span data-f="p">${pText(x.p_value)}</span></td></tr></tbody>`;
  }).join('');
  $('#versus').innerHTML = `<table class="versus"><thead><tr><th></th><th title="${esc(res.space_a)}">A</th><th title="${esc(res.space_b)}">B</th><th>B − A</th></tr></thead>${rows}</table>
    <p class="verdict">${esc(res.verdict)}</p>
    <p class="muted">${res.n_queries.toLocaleString()} shared queries labelled by ${esc(res.label_field)}; interval: paired bootstrap, p: sign-flip randomization.</p>`;
}
