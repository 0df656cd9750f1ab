// Missing maps and comparisons, computed as server jobs: a button starts one, a progress bar
// shows its stage, percent and time left while the page polls it, and Cancel stops it (when
// the server says the job can be cancelled).
import { ApiError, enc, getJSON, postJSON, type Job, type JobSpec } from './api';
import type { MapView } from './maps';
import { els, state, status } from './state';
import { duration, esc, METHOD_LABEL, sleep } from './util';

/** What the page does once a job has finished (reload the registry, redraw): set by main.ts. */
export const jobHooks = { done: async (): Promise<void> => {} };

export const PROGRESS_HTML = '<div class="progress" hidden><div class="track"><div class="bar"></div></div><div class="progress-row"><span class="stage"></span><button class="cancel" hidden>Cancel</button></div></div>';

/** The same comparison (a/b in either order, k), full or not. */
const sameComparison = (x: JobSpec, y: JobSpec) => x.kind === 'comparison' && y.kind === 'comparison'
  && x.k === y.k && new Set([x.a, x.b, y.a, y.b]).size === 2 && x.a !== x.b && (x.a === y.a || x.a === y.b);

export function addMissing(spec: JobSpec): void {
  const key = JSON.stringify(spec);
  // one entry per comparison: the full one (a click's) where the budget would sample it
  const same = state.missing.find((m) => sameComparison(m, spec));
  if (same) {
    if (spec.full && !same.full) state.missing[state.missing.indexOf(same)] = spec;
  } else if (!state.missing.some((m) => JSON.stringify(m) === key)) state.missing.push(spec);
  updateMissingButton();
}

export function updateMissingButton(): void {
  els.computeMissing.hidden = state.missing.length === 0;
  els.computeMissing.textContent = `Compute missing (${state.missing.length})`;
}

/** A map pane that has no map yet: say so, with a button that computes it. */
export function showMissing(view: MapView, e: Error, spec: JobSpec): void {
  if (e instanceof ApiError && e.missing) {
    addMissing(e.missing);
    const ov = view.showOverlay(`<p>${esc(e.message)}</p><button class="compute">Compute ${esc(METHOD_LABEL[spec.method ?? ''] ?? '')} map</button>${PROGRESS_HTML}`);
    ov.querySelector<HTMLButtonElement>('.compute')!.onclick = () => void runJob(e.missing!, ov);
  } else {
    view.showOverlay(`<p class="error">${esc(e.message)}</p>`);
  }
}

const activeJobs = new Map<string, Promise<void>>();
/** Jobs this page is waiting for (0: nothing will redraw the page on its own). */
export function jobsRunning(): number { return activeJobs.size; }

/** Run ``spec`` as a job, its progress and Cancel in ``box``; ``done`` once it has finished
 * (by default the page's: reload the registry and redraw). */
export async function runJob(spec: JobSpec, box: HTMLElement | null, done: () => Promise<void> = jobHooks.done): Promise<void> {
  const key = JSON.stringify(spec);
  if (activeJobs.has(key)) return activeJobs.get(key);
  let cancelled = false;
  const p = (async () => {
    const button = box?.querySelector<HTMLButtonElement>('.compute');
    if (button) button.disabled = true;
    const prog = box?.querySelector<HTMLElement>('.progress');
    if (prog) prog.hidden = false;
    let job = await postJSON<Job>('jobs', spec);
    const cancel = prog?.querySelector<HTMLButtonElement>('.cancel');
    if (cancel) {
      cancel.onclick = async () => {
        cancel.disabled = true;
        cancel.textContent = 'Cancelling…';
        try {
          job = await postJSON<Job>(`jobs/${enc(job.id)}/cancel`, {});
        } catch (e) {
          cancel.disabled = false;
          cancel.textContent = 'Cancel';
          status(`could not cancel: ${(e as Error).message}`);
        }
      };
    }
    while (job.status === 'queued' || job.status === 'running') {
      showProgress(prog, job);
      await sleep(400);
      job = await getJSON<Job>(`jobs/${enc(job.id)}`);
    }
    showProgress(prog, job);
    if (job.status === 'cancelled') { cancelled = true; return; }
    if (job.status === 'failed') throw new Error(job.error ?? 'the job failed');
  })();
  activeJobs.set(key, p);
  try {
    await p;
    if (cancelled) {
      status('cancelled');
      const button = box?.querySelector<HTMLButtonElement>('.compute');
      if (button) button.disabled = false;
      const prog = box?.querySelector<HTMLElement>('.progress');
      if (prog) prog.hidden = true;
      return;
    }
    state.missing = state.missing.filter((m) => JSON.stringify(m) !== key);
    await done();
  } catch (e) {
    if (box) box.insertAdjacentHTML('beforeend', `<p class="error">${esc((e as Error).message)}</p>`);
    status(`failed: ${(e as Error).message}`);
  } finally {
    activeJobs.delete(key);
  }
}

/** Percent done (0-100) as the server reports it: `percent`, or the older `fraction`. */
export function jobPercent(job: Job): number | null {
  if (typeof job.percent === 'number' && Number.isFinite(job.percent)) return Math.max(0, Math.min(100, job.percent));
  if (typeof job.fraction === 'number' && Number.isFinite(job.fraction)) return Math.max(0, Math.min(100, job.fraction * 100));
  return null;
}

/** "stage · 42% · about 1 min 5 s left · 12 s" for a job. */
export function jobText(job: Job): string {
  const pct = jobPercent(job);
  const parts = [job.status === 'cancelled' ? 'cancelled' : job.stage];
  if (pct !== null && job.status !== 'done') parts.push(`${Math.round(pct)}%`);
  if (typeof job.eta_s === 'number' && Number.isFinite(job.eta_s) && (job.status === 'running' || job.status === 'queued')) {
    parts.push(`about ${duration(job.eta_s)} left`);
  }
  parts.push(`${duration(job.elapsed_s ?? 0)} so far`);
  return parts.join(' · ');
}

export function showProgress(prog: HTMLElement | null | undefined, job: Job): void {
  const text = jobText(job);
  const pct = jobPercent(job);
  status(`computing: ${text}`);
  if (!prog) return;
  prog.dataset.status = job.status;
  const bar = prog.querySelector<HTMLElement>('.bar')!;
  bar.style.width = pct === null ? '100%' : `${Math.round(pct)}%`;
  bar.classList.toggle('indeterminate', pct === null);
  prog.querySelector('.stage')!.textContent = text;
  const cancel = prog.querySelector<HTMLButtonElement>('.cancel');
  if (cancel) cancel.hidden = !(job.cancellable === true && (job.status === 'queued' || job.status === 'running'));
}

/** A job whose result travels back with it (versus, change groups, the answer): posted to ``path``,
 * polled until it ends, its progress shown in ``prog`` (whose Cancel button cancels it) or passed
 * to ``onUpdate``. Returns the finished job; ``result`` is set when it is done. */
export async function jobResult<T>(path: string, body: unknown, prog: HTMLElement | null,
  onUpdate?: (job: Job) => void): Promise<Job & { result?: T }> {
  let job = await postJSON<Job & { result?: T }>(path, body);
  const cancel = prog?.querySelector<HTMLButtonElement>('.cancel');
  if (cancel) {
    cancel.onclick = async () => {
      cancel.disabled = true;
      cancel.textContent = 'Cancelling…';
      job = await postJSON<Job & { result?: T }>(`jobs/${enc(job.id)}/cancel`, {});
    };
  }
  while (job.status === 'queued' || job.status === 'running') {
    if (prog) showProgress(prog, job);
    onUpdate?.(job);
    await new Promise((r) => setTimeout(r, prog ? 400 : 300));
    job = await getJSON<Job & { result?: T }>(`jobs/${enc(job.id)}`);
  }
  if (prog) showProgress(prog, job);
  return job;
}
