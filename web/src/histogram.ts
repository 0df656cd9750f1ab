// The per-item Jaccard histogram of the two spaces: bars in the colours of the agreement
// colouring (when the maps show it), the mean, and a click on a bar selects its items.
import { ApiError } from './api';
import { histogramHtml, rowsOfBin } from './render';
import { valueColor } from './colorscale';
import { addMissing, PROGRESS_HTML, runJob } from './jobs';
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

export function renderHistogram(err: Error | null): void {
  const box = els.histogram;
  const c = state.comparison;
  if (!c) {
    const spec = err instanceof ApiError ? err.missing : null;
    if (spec) addMissing(spec);
    box.innerHTML = `<p class="muted">${esc(err?.message ?? '')}</p>${spec ? `<button class="compute">Compute comparison</button>${PROGRESS_HTML}` : ''}`;
    const btn = box.querySelector<HTMLButtonElement>('.compute');
    if (btn && spec) btn.onclick = () => void runJob(spec, box);
    return;
  }
  box.innerHTML = histogramHtml(c.header, state.pickedBin, barColor);
  box.querySelectorAll<SVGRectElement>('rect.hit').forEach((r) => {
    r.addEventListener('click', () => selectBin(Number(r.dataset.bin)));
  });
}

export function selectBin(bin: number): void {
  const c = state.comparison;
  if (!c) return;
  const rows = rowsOfBin(c.bins, bin);
  const e = c.header.histogram.edges;
  clearQuery();
  setSelection(rows, `Jaccard ${e[bin].toFixed(2)}–${e[bin + 1].toFixed(2)}`);
  state.pickedBin = bin;
  els.histogram.querySelectorAll('rect.bar').forEach((b) => b.classList.toggle('picked', Number((b as SVGElement).dataset.bin) === bin));
}

