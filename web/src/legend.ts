// The colour panel: what each colour means for the drawn points. Categories with their counts
// among the drawn items; a gradient as a colour bar with the values at its ends.
import { legendHtml } from './render';
import { els, state } from './state';
import { esc } from './util';

export function renderLegend(err: Error | null): void {
  const c = state.colors;
  const s = state.scale;
  const box = els.legend;
  delete box.dataset.lo;
  delete box.dataset.hi;
  if (err) { box.innerHTML = `<p class="error">${esc(err.message)}</p>`; delete box.dataset.by; return; }
  if (!c || !s) { box.innerHTML = '<p class="muted">One colour. Pick a column or "coincidence" under Colour.</p>'; delete box.dataset.by; return; }
  const out = legendHtml(c.header, s, { k: state.k, a: state.a, b: state.b });
  box.innerHTML = out.html;
  if (out.lo !== undefined) { box.dataset.lo = String(out.lo); box.dataset.hi = String(out.hi); }
  box.dataset.by = c.header.by;
}
