// The per-item Jaccard histogram of the two spaces: bars in the colours of the agreement
// colouring (when the maps show it), the mean, and a click on a bar selects its items.
import { ApiError } from './api';
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
  const { edges, counts } = c.header.histogram;
  const W = 320, H = 140, pad = 24;
  const max = Math.max(1, ...counts);
  const bw = (W - 2 * pad) / counts.length;
  const xOf = (v: number) => pad + v * (W - 2 * pad);
  const bars = counts.map((n, i) => {
    const h = (n / max) * (H - 2 * pad);
    return `<rect class="bar${state.pickedBin === i ? ' picked' : ''}" data-bin="${i}" data-count="${n}" x="${xOf(edges[i]) + 0.5}" y="${H - pad - h}" width="${Math.max(bw - 1, 1)}" height="${Math.max(h, n ? 1 : 0)}" fill="${barColor((edges[i] + edges[i + 1]) / 2)}"><title>Jaccard ${edges[i].toFixed(2)}–${edges[i + 1].toFixed(2)}: ${n.toLocaleString()} items</title></rect>`;
  }).join('');
  const hits = counts.map((_, i) => `<rect class="hit" data-bin="${i}" x="${xOf(edges[i])}" y="${pad / 2}" width="${bw}" height="${H - pad * 1.5}" fill="transparent"/>`).join('');
  const mx = xOf(c.header.mean);
  const labelLeft = c.header.mean > 0.7;
  box.innerHTML = `<svg viewBox="0 0 ${W} ${H}" width="100%" class="hist">
    ${bars}${hits}
    <line x1="${mx}" x2="${mx}" y1="${pad / 2}" y2="${H - pad}" class="mean"/>
    <text x="${labelLeft ? mx - 3 : mx + 3}" y="${pad / 2 + 9}" class="mean-label" text-anchor="${labelLeft ? 'end' : 'start'}">mean ${c.header.mean.toFixed(3)}</text>
    <line x1="${pad}" x2="${W - pad}" y1="${H - pad}" y2="${H - pad}" class="axis"/>
    <text x="${pad}" y="${H - 8}" class="tick">0</text><text x="${W / 2}" y="${H - 8}" class="tick" text-anchor="middle">0.5</text>
    <text x="${W - pad}" y="${H - 8}" class="tick" text-anchor="end">1</text></svg>
    <div class="muted" id="hist-summary" data-mean="${c.header.mean}">k = ${c.header.k} · ${c.header.n.toLocaleString()} shared items · mean Jaccard <b>${c.header.mean.toFixed(3)}</b>. Click a bar to select its items.</div>`;
  box.querySelectorAll<SVGRectElement>('rect.hit').forEach((r) => {
    r.addEventListener('click', () => selectBin(Number(r.dataset.bin)));
  });
}

export function selectBin(bin: number): void {
  const c = state.comparison;
  if (!c) return;
  const rows: number[] = [];
  for (let r = 0; r < c.bins.length; r++) if (c.bins[r] === bin) rows.push(r);
  const e = c.header.histogram.edges;
  clearQuery();
  setSelection(Uint32Array.from(rows), `Jaccard ${e[bin].toFixed(2)}–${e[bin + 1].toFixed(2)}`);
  state.pickedBin = bin;
  els.histogram.querySelectorAll('rect.bar').forEach((b) => b.classList.toggle('picked', Number((b as SVGElement).dataset.bin) === bin));
}

