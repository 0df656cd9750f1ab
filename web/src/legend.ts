// The colour panel: what each colour means for the drawn points. Categories with their counts
// among the drawn items; a gradient as a colour bar with the values at its ends.
import { codeValue, MISSING, rampCss } from './colorscale';
import { els, state } from './state';
import { esc, fmt } from './util';

export function renderLegend(err: Error | null): void {
  const c = state.colors;
  const s = state.scale;
  const box = els.legend;
  delete box.dataset.lo;
  delete box.dataset.hi;
  if (err) { box.innerHTML = `<p class="error">${esc(err.message)}</p>`; delete box.dataset.by; return; }
  if (!c || !s) { box.innerHTML = '<p class="muted">One colour. Pick a column or "coincidence" under Colour.</p>'; delete box.dataset.by; return; }
  const h = c.header;
  if (h.kind === 'categorical') {
    const shown = (h.legend ?? []).filter((e) => s.counts[e.code] > 0);
    box.innerHTML = `<div class="muted">${esc(h.by)} · ${s.drawn.toLocaleString()} drawn items</div>`
      + `<ul class="swatches">${shown.map((e) => `<li title="${esc(e.label)}: ${s.counts[e.code].toLocaleString()} drawn items"><i style="background:${e.color}"></i>${esc(e.label)} <span class="muted">${s.counts[e.code].toLocaleString()}</span></li>`).join('')}</ul>`;
  } else {
    const lo = codeValue(h, s.loCode), hi = codeValue(h, s.hiCode);
    const clippedLo = s.loCode > s.minCode, clippedHi = s.hiCode < s.maxCode;
    const title = h.kind === 'coincidence'
      ? `kNN Jaccard at k=${state.k} <span class="muted">(${esc(state.a)} vs ${esc(state.b)})</span>`
      : esc(h.by);
    const meaning = h.kind === 'coincidence'
      ? '<div class="ramp-meaning"><span>fewer shared neighbours</span><span>more shared neighbours</span></div>' : '';
    // as many decimals as the range needs: 16 to 41 ink pixels, 0.12 to 0.82 Jaccard
    const span = Math.abs(codeValue(h, s.maxCode) - codeValue(h, s.minCode));
    const digits = h.kind === 'coincidence' ? 2 : span >= 20 ? 0 : span >= 2 ? 1 : span >= 0.2 ? 2 : 3;
    const mean = h.mean !== undefined && hi > lo
      ? `<i class="ramp-mean" style="left:${Math.min(100, Math.max(0, ((h.mean - lo) / (hi - lo)) * 100))}%" title="mean ${fmt(h.mean)}"></i>` : '';
    const missing = s.counts[MISSING];
    const why = h.kind === 'coincidence' ? 'drawn in one map only, so without a Jaccard value' : 'without a value';
    box.innerHTML = `<div class="ramp-title" title="${esc(h.kind === 'coincidence' ? `kNN Jaccard at k=${state.k}: ${state.a} vs ${state.b}` : h.by)}">${title}</div>
      <div class="ramp" style="background:${rampCss(h)}">${mean}</div>
      <div class="ramp-labels"><span class="lo">${clippedLo ? '≤ ' : ''}${lo.toFixed(digits)}</span>${h.mean !== undefined ? `<span>mean ${h.mean.toFixed(3)}</span>` : ''}<span class="hi">${clippedHi ? '≥ ' : ''}${hi.toFixed(digits)}</span></div>
      ${meaning}
      <div class="muted small">Colours span the drawn values${clippedLo || clippedHi ? ' (2nd–98th percentile)' : ''}: ${codeValue(h, s.minCode).toFixed(digits)} to ${codeValue(h, s.maxCode).toFixed(digits)} over ${(s.drawn - missing).toLocaleString()} items.</div>
      ${missing ? `<div class="muted small"><i class="dot" style="background:${s.palette[MISSING]}"></i>${missing.toLocaleString()} ${why} (grey)</div>` : ''}`;
    box.dataset.lo = String(lo);
    box.dataset.hi = String(hi);
  }
  box.dataset.by = h.by;
}
