// A pair too large to compare in full unasked (spacelens.budget): above 100,000 items, when the kNN
// graphs a full comparison needs would take longer than the budget (60 s), the answer strip answers
// from a sample, and the per-item agreement (colours, histogram) waits for a click. The page asks
// the comparison's plan (GET comparison/plan: an estimate from the registry's records) before it
// offers or starts anything; where the budget would sample it, the missing comparison becomes a
// ``full`` job, started only by the "Compute in the background" button (or "Compute missing"), with
// progress, time left and Cancel, and when it is stored the maps take its colours and the
// histogram fills in.
import { ApiError, getJSON, type JobSpec } from './api';
import { PROGRESS_HTML, runJob } from './jobs';
import { els, state } from './state';
import { esc } from './util';

/** spacelens.budget.Plan.to_dict(), plus whether the comparison is stored already. */
export interface Plan {
  verb: string; sampled: boolean; sample: number | null; n_items: number; full_seconds: number; budget: number;
  parts: Record<string, number>; reason: string; headline: string | null; stored?: boolean;
}

/** What main.ts does once the full comparison is stored (the registry, the histogram, the colours). */
export const scaleHooks = { done: async (): Promise<void> => {} };

const plans = new WeakMap<Error, Plan>();

/** "42 s", "52 min", "3.1 h" (as spacelens.neighbors.cost.format_seconds says it). */
export function about(s: number): string {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A comparison the server says is missing: ask its plan, and where the budget would sample it
 * mark the missing job ``full`` (a comparison within the budget would store nothing). */
export async function withPlan<T>(err: T): Promise<T> {
  const spec = err instanceof ApiError ? err.missing : null;
  if (!(err instanceof ApiError) || !spec || spec.kind !== 'comparison') return err;
  try {
    const plan = await getJSON<Plan>('comparison/plan', { a: spec.a, b: spec.b, k: spec.k, dataset: state.dataset?.name });
    if (plan.sampled) {
      plans.set(err, plan);
      err.missing = { ...spec, full: true };
    }
  } catch { /* no plan: the usual Compute button */ }
  return err;
}

/** The plan of a missing comparison the budget would sample (null: none, or within the budget). */
export function samplePlan(err: Error | null): Plan | null {
  return err ? plans.get(err) ?? null : null;
}

/** "both kNN graphs", or the one not stored yet. */
function graphsNeeded(plan: Plan): string {
  const left = Object.entries(plan.parts).filter(([, s]) => s > 0).map(([what]) => what);
  return left.length === 1 ? `the ${left[0]}` : 'both kNN graphs';
}

/** In the histogram panel, instead of the Compute button: what per-item agreement costs here and a
 * button that computes it in the background. */
export function renderFullOffer(box: HTMLElement, spec: JobSpec, plan: Plan): void {
  box.innerHTML = `<p class="scale-offer" data-seconds="${Math.round(plan.full_seconds)}">Per-item agreement needs `
    + `${esc(graphsNeeded(plan))}: about ${esc(about(plan.full_seconds))} here. `
    + `<button class="compute" title="${esc(plan.reason)}. Computed in the background: the page stays usable, and Cancel stops it">Compute in the background</button></p>`
    + PROGRESS_HTML
    + `<p class="muted small">${plan.n_items.toLocaleString()} items: until then the agreement above is the mean of `
    + `${(plan.sample ?? 0).toLocaleString()} sampled items, with its 95% interval, and the maps keep their colouring.</p>`;
  box.querySelector<HTMLButtonElement>('.compute')!.onclick = () => void computeFull(spec, box);
}

/** The full comparison as a job; once stored, the maps are coloured by agreement. */
export function computeFull(spec: JobSpec, box: HTMLElement): Promise<void> {
  return runJob(spec, box, async () => {
    state.color = 'coincidence';
    state.colorChosen = true;
    els.color.value = 'coincidence';
    await scaleHooks.done();   // reloads the comparison: the histogram, and the maps in its colours
  });
}
