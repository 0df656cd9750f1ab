// Pure renderers shared by the analyzer page and the notebook widget (widget.ts): the agreement
// histogram, the colour legend and the neighbour tables, as HTML strings from plain data. No
// page globals here, so the widget can import them without the page's DOM.
import type { ColorHeader, ComparisonHeader, Neighbour } from './api';
import { codeValue, MISSING, rampCss, type Scale } from './colorscale';
import { cssColor, esc, fmt } from './util';

/** The histogram of per-item Jaccard as SVG with its summary line (the page's and the widget's). */
export function histogramHtml(h: Pick<ComparisonHeader, 'histogram' | 'mean' | 'k' | 'n'>, pickedBin: number | null,
  color: (v: number) => string): string {
  const { edges, counts } = h.histogram;
  const W = 320, H = 140, pad = 24;
  const max = Math.max(1, ...counts);
  const bw = (W - 2 * pad) / counts.length;
  const xOf = (v: number) => pad + v * (W - 2 * pad);
  const bars = counts.map((n, i) => {
    const bh = (n / max) * (H - 2 * pad);
    return `<rect class="bar${pickedBin === i ? ' picked' : ''}" data-bin="${i}" data-count="${n}" x="${xOf(edges[i]) + 0.5}" y="${H - pad - bh}" width="${Math.max(bw - 1, 1)}" height="${Math.max(bh, n ? 1 : 0)}" fill="${esc(color((edges[i] + edges[i + 1]) / 2))}"><title>Jaccard ${edges[i].toFixed(2)}–${edges[i + 1].toFixed(2)}: ${n.toLocaleString()} items</title></rect>`;
  }).join('');
  const hits = counts.map((_, i) => `<rect class="hit" data-bin="${i}" x="${xOf(edges[i])}" y="${pad / 2}" width="${bw}" height="${H - pad * 1.5}" fill="transparent"/>`).join('');
  const mx = xOf(h.mean);
  const labelLeft = h.mean > 0.7;
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" class="hist">
    ${bars}${hits}
    <line x1="${mx}" x2="${mx}" y1="${pad / 2}" y2="${H - pad}" class="mean"/>
    <text x="${labelLeft ? mx - 3 : mx + 3}" y="${pad / 2 + 9}" class="mean-label" text-anchor="${labelLeft ? 'end' : 'start'}">mean ${h.mean.toFixed(3)}</text>
    <line x1="${pad}" x2="${W - pad}" y1="${H - pad}" y2="${H - pad}" class="axis"/>
    <text x="${pad}" y="${H - 8}" class="tick">0</text><text x="${W / 2}" y="${H - 8}" class="tick" text-anchor="middle">0.5</text>
    <text x="${W - pad}" y="${H - 8}" class="tick" text-anchor="end">1</text></svg>
    <div class="muted" id="hist-summary" data-mean="${esc(h.mean)}">k = ${h.k} · ${h.n.toLocaleString()} shared items · mean Jaccard <b>${h.mean.toFixed(3)}</b>. Click a bar to select its items.</div>`;
}

/** Dataset rows whose histogram bin is ``bin``. */
export function rowsOfBin(bins: Uint8Array, bin: number): Uint32Array {
  const rows: number[] = [];
  for (let r = 0; r < bins.length; r++) if (bins[r] === bin) rows.push(r);
  return Uint32Array.from(rows);
}


/** The colour panel's content for the drawn points: categories with their drawn counts, or a
 * colour bar with the values at its ends (``lo``/``hi``: the values at the bar's ends). */
export function legendHtml(h: ColorHeader, s: Scale, ctx: { k: number; a: string; b: string }): { html: string; lo?: number; hi?: number } {
  let html = '';
  if (h.kind === 'categorical') {
    const shown = (h.legend ?? []).filter((e) => s.counts[e.code] > 0);
    html = `<div class="muted">${esc(h.by)} · ${s.drawn.toLocaleString()} drawn items</div>`
      + (h.note ? `<div class="muted small legend-note">${esc(h.note)}</div>` : '')
      + `<ul class="swatches">${shown.map((e) => `<li title="${esc(e.label)}: ${s.counts[e.code].toLocaleString()} drawn items"><i style="background:${cssColor(e.color)}"></i>${esc(e.label)} <span class="muted">${s.counts[e.code].toLocaleString()}</span></li>`).join('')}</ul>`;
  } else {
    const lo = codeValue(h, s.loCode), hi = codeValue(h, s.hiCode);
    const clippedLo = s.loCode > s.minCode, clippedHi = s.hiCode < s.maxCode;
    const title = h.kind === 'coincidence'
      ? `kNN Jaccard at k=${ctx.k} <span class="muted">(${esc(ctx.a)} vs ${esc(ctx.b)})</span>`
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
    html = `<div class="ramp-title" title="${esc(h.kind === 'coincidence' ? `kNN Jaccard at k=${ctx.k}: ${ctx.a} vs ${ctx.b}` : h.by)}">${title}</div>
      <div class="ramp" style="background:${rampCss(h)}">${mean}</div>
      <div class="ramp-labels"><span class="lo">${clippedLo ? '≤ ' : ''}${lo.toFixed(digits)}</span>${h.mean !== undefined ? `<span>mean ${h.mean.toFixed(3)}</span>` : ''}<span class="hi">${clippedHi ? '≥ ' : ''}${hi.toFixed(digits)}</span></div>
      ${meaning}
      <div class="muted small">Colours span the drawn values${clippedLo || clippedHi ? ' (2nd–98th percentile)' : ''}: ${codeValue(h, s.minCode).toFixed(digits)} to ${codeValue(h, s.maxCode).toFixed(digits)} over ${(s.drawn - missing).toLocaleString()} items.</div>
      ${missing ? `<div class="muted small"><i class="dot" style="background:${cssColor(s.palette[MISSING])}"></i>${missing.toLocaleString()} ${why} (grey)</div>` : ''}`;
    return { html, lo, hi };
  }
  return { html };
}

/** One space's neighbours of the queried item: rank, id (★ when shared with the other space),
 * distance and up to four metadata columns; rows carry data-row for hover and click. */
export function neighbourTableHtml<C extends string>(list: Neighbour[], shared: Set<string>, idField?: string,
  changes?: Map<string, C>, badge?: (change: C | undefined) => string): string {
  const extra = Array.from(new Set(list.flatMap((n) => Object.keys(n))))
    .filter((k) => !['id', 'row', 'distance', 'rank', idField].includes(k)).slice(0, 4);
  const mark = (id: string) => (changes && badge ? badge(changes.get(id))
    : shared.has(id) ? '<span class="shared-mark">★</span> ' : '');
  return `<thead><tr><th>#</th><th>id</th><th>distance</th>${extra.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${list.map((n, i) => {
    const id = String(n.id);
    const change = changes?.get(id) ?? '';
    return `<tr data-row="${esc(n.row)}" data-id="${esc(n.id)}"${changes ? ` data-change="${change}"` : ''} class="${`${shared.has(id) ? 'shared ' : ''}${change}`.trim()}"><td>${i + 1}</td><td>${mark(id)}${esc(n.id)}</td><td>${fmt(n.distance, 4)}</td>${extra.map((k) => `<td title="${esc(fmt(n[k]))}">${esc(fmt(n[k]))}</td>`).join('')}</tr>`;
  }).join('')}</tbody>`;
}
