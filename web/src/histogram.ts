// The per-item Jaccard histogram of the two spaces: one bar per value Jaccard takes at the
// pair's k, in the colours of the agreement colouring (when the maps show it), counts on an
// axis, the mean, chance and seed-baseline marks; a click on a bar selects its items.
import { ApiError, getFrame, type ComparisonHeader } from './api';
import { binLabel, binValues, histogramHtml, rowsOfBin } from './render';
import { onFilter, shownMask } from './filter';
import { MISSING, valueColor } from './colorscale';
import { addMissing, PROGRESS_HTML, runJob } from './jobs';
import { renderFullOffer, samplePlan } from './scale';
import { writeUrl } from './pickers';
import { clearQuery } from './query';
import { setSelection } from './selection';
import { els, state } from './state';
import { esc } from './util';

const PLAIN_BAR = '#7c8db5';

function barColor(v: number): string {
  const c = state.colors;
  if (c?.header.kind === 'coincidence' && state.scale) return valueColor(c.header, state.scale, v);
  return PLAIN_BAR;
}

/** The k of the stored comparisons of the pair on screen other than ``k`` (for "stored at k = 20"). */
export function otherKs(k: number): number[] {
  const pair = new Set([state.a, state.b]);
  const ks = (state.registry?.comparisons ?? [])
    .filter((c) => c.a !== c.b && pair.has(c.a) && pair.has(c.b) && c.k && c.k !== k).map((c) => c.k as number);
  return Array.from(new Set(ks)).sort((x, y) => x - y);
}

/** Hooks set by main.ts: switch the page to another k (only ever on the user's click). */
export const histogramHooks = { useK: (_k: number): void => {} };

export function renderHistogram(err: Error | null): void {
  const box = els.histogram;
  const c = state.comparison;
  if (!c) {
    const spec = err instanceof ApiError ? err.missing : null;
    if (spec) addMissing(spec);
    const plan = samplePlan(err);
    if (spec && plan) { renderFullOffer(box, spec, plan); return; }   // too large to start unasked
    // another k is never substituted: the stored ones are offered, the asked one computed
    const others = spec ? otherKs(state.k) : [];
    const offer = others.length
      ? ` <span class="muted">Stored for this pair at ${others.map((k) => `<button class="link use-k" data-k="${k}">k = ${k}</button>`).join(', ')}.</span>` : '';
    box.innerHTML = `<p class="muted">${esc(err?.message ?? '')}</p>${spec ? `<button class="compute">Compute comparison at k = ${esc(spec.k ?? state.k)}</button>${offer}${PROGRESS_HTML}` : ''}`;
    const btn = box.querySelector<HTMLButtonElement>('.compute');
    if (btn && spec) btn.onclick = () => void runJob(spec, box);
    box.querySelectorAll<HTMLButtonElement>('.use-k').forEach((b) => { b.onclick = () => histogramHooks.useK(Number(b.dataset.k)); });
    return;
  }
  const base = c.header.baseline;
  box.innerHTML = histogramHtml(filtered(c), state.pickedBin, barColor)
    + (base?.missing ? `<div class="baseline-missing"><button class="compute">Compute seed baseline (A vs ${esc(base.space)}, k = ${esc(base.k)})</button>${PROGRESS_HTML}</div>` : '');
  box.querySelectorAll<SVGRectElement>('rect.hit').forEach((r) => {
    r.addEventListener('click', () => selectBin(Number(r.dataset.bin)));
  });
  const baseBtn = box.querySelector<HTMLButtonElement>('.baseline-missing .compute');
  if (baseBtn && base?.missing) baseBtn.onclick = () => void runJob(base.missing!, box.querySelector<HTMLElement>('.baseline-missing'));
}

/** The comparison's header for the shown items: with a filter, the counts and mean of the items it
 * keeps (the values of the bins: the same Jaccard values), and the mean of all items beside them. */
function filtered(c: NonNullable<typeof state.comparison>): Parameters<typeof histogramHtml>[0] {
  const mask = shownMask();
  if (!mask) return c.header;
  const h = c.header.histogram, values = binValues(h), bins = c.bins;
  const counts = new Array<number>(h.counts.length).fill(0);
  let n = 0, sum = 0;
  for (let r = 0; r < bins.length; r++) {
    const b = bins[r];
    if (b === MISSING || !mask[r]) continue;
    counts[b]++;
    n++;
    sum += values[b];
  }
  return { ...c.header, histogram: { ...h, counts }, n, mean: n ? sum / n : NaN, all: { mean: c.header.mean, n: c.header.n } };
}

export function selectBin(bin: number): void {
  const c = state.comparison;
  if (!c) return;
  const mask = shownMask();
  const rows = mask ? rowsOfBin(c.bins, bin).filter((r) => mask[r] === 1) : rowsOfBin(c.bins, bin);
  clearQuery();
  setSelection(rows, binLabel(c.header, bin) + (mask ? ' (shown items)' : ''));
  state.pickedBin = bin;
  writeUrl();
  els.histogram.querySelectorAll('rect.bar').forEach((b) => b.classList.toggle('picked', Number((b as SVGElement).dataset.bin) === bin));
}

/** The seed baseline to mark: ``state.baseline`` when it is a third space of the shown dataset. */
export function baselineOf(): string | undefined {
  const c = state.baseline;
  if (!c || c === state.a || c === state.b) return undefined;
  return (state.registry?.spaces ?? []).some((s) => s.name === c && s.dataset === state.dataset?.name) ? c : undefined;
}

/** Mark C (a reseeded run of A; '' for none) as the seed baseline: the comparison's frame is asked
 * again with it (stored results only) and the histogram redrawn with its mark. */
export async function setBaseline(name: string): Promise<void> {
  if (name === state.baseline) return;
  state.baseline = name;
  writeUrl();
  const c = state.comparison;
  if (!c) return;
  const gen = state.generation;
  try {
    const f = await getFrame<ComparisonHeader>('comparison', { a: state.a, b: state.b, k: state.k, baseline: baselineOf() });
    if (gen !== state.generation || state.comparison !== c) return;
    c.header = f.header;
  } catch {
    if (gen !== state.generation) return;
    delete c.header.baseline;
  }
  renderHistogram(null);
}

// the histogram counts the shown items: redrawn when the filters change
onFilter(() => { if (state.comparison) renderHistogram(null); });
