// Pure renderers shared by the analyzer page and the notebook widget (widget.ts): the agreement
// histogram, the colour legend and the neighbour tables, as HTML strings from plain data. No
// page globals here, so the widget can import them without the page's DOM.
import type { ColorHeader, ComparisonHeader, Histogram, Neighbour, QueryResult } from './api';
import { codeValue, MISSING, rampCss, type Scale } from './colorscale';
import { excerpt, LONG_TEXT, thumbCellHtml } from './previews';
import { cssColor, esc, fmt, spanDigits } from './util';

/** The Jaccard value each histogram bin stands for (the value itself for one bin per value, the
 * middle of the bin for equal-width bins). */
export function binValues(h: Histogram): number[] {
  return h.values ?? h.counts.map((_, i) => (h.edges[i] + h.edges[i + 1]) / 2);
}

/** What a histogram bar holds, in words: "5 of 10 neighbours shared (Jaccard 0.333)". */
export function binLabel(h: Pick<ComparisonHeader, 'histogram' | 'k'>, bin: number): string {
  const hist = h.histogram;
  if (hist.kind === 'shared' && hist.shared && hist.values) {
    return `${hist.shared[bin]} of ${h.k} neighbours shared (Jaccard ${hist.values[bin].toFixed(3)})`;
  }
  return `Jaccard ${hist.edges[bin].toFixed(2)}–${hist.edges[bin + 1].toFixed(2)}`;
}

/** Round tick steps for a count axis (1, 2, 5 × 10^n) giving at most ~4 ticks above 0. */
export function countTicks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const n = Math.ceil(max / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Math.round(i * step * 1e9) / 1e9);
}

function compact(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

type HistInput = Pick<ComparisonHeader, 'histogram' | 'mean' | 'k' | 'n'> & Partial<Pick<ComparisonHeader, 'a' | 'b' | 'info' | 'baseline'>>
  & { /** Filtered: the histogram counts only the shown items; the mean of all items and their number. */ all?: { mean: number; n: number } };

/** The histogram of per-item Jaccard as SVG with its summary line (the page's and the widget's):
 * one bar per value Jaccard takes at k, counts on the y axis, the mean, the chance level
 * (``info.chance``) and the seed baseline (``baseline.mean``: A vs a reseeded run of A) marked. */
export function histogramHtml(h: HistInput, pickedBin: number | null, color: (v: number) => string): string {
  const hist = h.histogram;
  const { edges, counts } = hist;
  const values = binValues(hist);
  const W = 340, H = 168;
  const left = 38, right = 10, top = 40, bottom = 22;
  // the x scale leaves room for half a bar at 0 and at 1, clear of the count labels
  const inset = 10, plotW = W - left - right - 2 * inset, base = H - bottom;
  const ticks = countTicks(Math.max(0, ...counts));
  const yMax = ticks[ticks.length - 1] || 1;
  const yOf = (n: number) => base - (n / yMax) * (base - top);
  const xOf = (v: number) => left + inset + Math.min(1, Math.max(0, v)) * plotW;
  // one bar per value: centred on it, as wide as the closest two values allow
  let gap = 1;
  for (let i = 1; i < values.length; i++) gap = Math.min(gap, values[i] - values[i - 1]);
  const bw = hist.kind === 'shared' ? Math.max(1.5, Math.min(2 * inset - 2, gap * plotW * 0.8)) : Math.max(plotW / counts.length - 1, 1);
  const barX = (i: number) => (hist.kind === 'shared' ? xOf(values[i]) - bw / 2 : xOf(edges[i]) + 0.5);
  const bars = counts.map((n, i) => {
    const y = yOf(n);
    return `<rect class="bar${pickedBin === i ? ' picked' : ''}" data-bin="${i}" data-count="${n}" data-value="${values[i]}" x="${barX(i).toFixed(2)}" y="${y.toFixed(2)}" width="${bw.toFixed(2)}" height="${Math.max(base - y, n ? 1 : 0).toFixed(2)}" fill="${esc(color(values[i]))}"><title>${esc(binLabel(h, i))}: ${n.toLocaleString()} items</title></rect>`;
  }).join('');
  const hitX = (i: number) => (i === 0 ? left : i === counts.length ? W - right : xOf(edges[i]));
  const hits = counts.map((_, i) => `<rect class="hit" data-bin="${i}" x="${hitX(i).toFixed(2)}" y="${top}" width="${Math.max(1, hitX(i + 1) - hitX(i)).toFixed(2)}" height="${base - top}" fill="transparent"/>`).join('');
  const yAxis = ticks.map((t) => `<line x1="${left - 3}" x2="${W - right}" y1="${yOf(t)}" y2="${yOf(t)}" class="${t ? 'grid' : 'axis'}"/><text x="${left - 5}" y="${yOf(t) + 3}" class="tick ytick" data-count="${t}" text-anchor="end">${compact(t)}</text>`).join('');
  // the marks: mean, chance, seed baseline; each label on its own row above the bars
  const chance = typeof h.info?.chance === 'number' && Number.isFinite(h.info.chance) ? h.info.chance : null;
  const baseMean = h.baseline && typeof h.baseline.mean === 'number' ? h.baseline.mean : null;
  const marks: { cls: string; v: number; text: string; title: string }[] = [
    { cls: 'mean', v: h.mean, text: `mean ${h.mean.toFixed(3)}`, title: `mean Jaccard of the ${h.n.toLocaleString()} shared items at k = ${h.k}` },
  ];
  if (h.all) marks.push({ cls: 'all-mean', v: h.all.mean, text: `all items ${h.all.mean.toFixed(3)}`, title: `mean Jaccard of all ${h.all.n.toLocaleString()} shared items, filters aside` });
  if (chance !== null) marks.push({ cls: 'chance', v: chance, text: `chance ${chance.toFixed(3)}`, title: `expected mean Jaccard of two spaces that share nothing but chance, at k = ${h.k}` });
  if (baseMean !== null) marks.push({ cls: 'baseline', v: baseMean, text: `seed baseline ${baseMean.toFixed(3)}`, title: `A vs ${h.baseline!.space} (a reseeded run of A) at k = ${h.k}: what seeds alone change` });
  const markSvg = marks.map((m, i) => {
    const x = xOf(m.v), y = 10 + i * 11, right_ = m.v > 0.6;
    return `<g class="mark ${m.cls}" data-value="${m.v}"><title>${esc(m.title)}</title><line x1="${x}" x2="${x}" y1="${y + 2}" y2="${base}" class="${m.cls}"/>`
      + `<text x="${right_ ? x - 3 : x + 3}" y="${y + 6}" class="${m.cls}-label" text-anchor="${right_ ? 'end' : 'start'}">${esc(m.text)}</text></g>`;
  }).join('');
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((v) => `<text x="${xOf(v)}" y="${H - 8}" class="tick" text-anchor="middle">${v}</text>`).join('');
  const bars_ = hist.kind === 'shared'
    ? `A bar per number s of the ${h.k} neighbours shared (Jaccard s / (${2 * h.k} − s))`
    : `${counts.length} equal-width bins of Jaccard`;
  let baseText = '';
  if (baseMean !== null) baseText = ` · seed baseline (A vs ${esc(h.baseline!.space)}) <b>${baseMean.toFixed(3)}</b>`;
  else if (h.baseline) baseText = ` · seed baseline (A vs ${esc(h.baseline.space)}) not computed at k = ${h.k} yet`;
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" class="hist" role="img" aria-label="Histogram of per-item Jaccard at k = ${h.k}">
    ${yAxis}${bars}${hits}${markSvg}
    <text x="${left - 5}" y="${top - 12}" class="tick" text-anchor="end">items</text>
    ${xTicks}</svg>
    <div class="muted" id="hist-summary" data-mean="${esc(h.mean)}" data-k="${esc(h.k)}" data-n="${esc(h.n)}" data-chance="${esc(chance ?? '')}" data-baseline="${esc(baseMean ?? '')}">k = <b>${h.k}</b> · ${h.all ? `<b>${h.n.toLocaleString()}</b> shown of ${h.all.n.toLocaleString()} shared items (filtered; all items: mean ${h.all.mean.toFixed(3)})` : `${h.n.toLocaleString()} shared items`} · mean Jaccard <b>${Number.isFinite(h.mean) ? h.mean.toFixed(3) : '–'}</b>${chance !== null ? ` · chance ${chance.toFixed(3)}` : ''}${baseText}. ${bars_}: click one to select its items.</div>`;
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
    const digits = h.kind === 'coincidence' ? 2 : spanDigits(span);
    const mean = h.mean !== undefined && hi > lo
      ? `<i class="ramp-mean" style="left:${Math.min(100, Math.max(0, ((h.mean - lo) / (hi - lo)) * 100))}%" title="mean ${fmt(h.mean)}"></i>` : '';
    const missing = s.counts[MISSING];
    // the numbers at the bar's ends and the text's are the same strings; the full range is stated apart
    const loText = `${clippedLo ? '≤ ' : ''}${lo.toFixed(digits)}`, hiText = `${clippedHi ? '≥ ' : ''}${hi.toFixed(digits)}`;
    const minText = codeValue(h, s.minCode).toFixed(digits), maxText = codeValue(h, s.maxCode).toFixed(digits);
    const valued = (s.drawn - missing).toLocaleString();
    const why = h.kind === 'coincidence' ? 'drawn in one map only, so without a Jaccard value' : 'without a value';
    html = `<div class="ramp-title" title="${esc(h.kind === 'coincidence' ? `kNN Jaccard at k=${ctx.k}: ${ctx.a} vs ${ctx.b}` : h.by)}">${title}</div>
      <div class="ramp" style="background:${rampCss(h)}">${mean}</div>
      <div class="ramp-labels"><span class="lo">${loText}</span>${h.mean !== undefined ? `<span>mean ${h.mean.toFixed(3)}</span>` : ''}<span class="hi">${hiText}</span></div>
      ${meaning}
      <div class="muted small ramp-range">${clippedLo || clippedHi
    ? `Colours run from <span class="range-lo">${loText}</span> to <span class="range-hi">${hiText}</span> (2nd–98th percentile of the drawn values); all ${valued} drawn values lie in <span class="range-min">${minText}</span> to <span class="range-max">${maxText}</span>.`
    : `Colours run from <span class="range-lo">${loText}</span> to <span class="range-hi">${hiText}</span>: the whole range of the ${valued} drawn values.`}</div>
      ${missing ? `<div class="muted small"><i class="dot" style="background:${cssColor(s.palette[MISSING])}"></i>${missing.toLocaleString()} ${why} (grey)</div>` : ''}`;
    return { html, lo, hi };
  }
  return { html };
}

/** One space's neighbours of the queried item: rank, a thumbnail when the query answer's ``images``
 * (dataset row -> image URL) has any, in place of its ``image_column``, id (★ when shared with the other space),
 * distance and up to four metadata columns (long text cut to an excerpt; full text in the
 * title); rows carry data-row for hover and click. */
export function neighbourTableHtml<C extends string>(list: Neighbour[], shared: Set<string>, idField?: string,
  changes?: Map<string, C>, badge?: (change: C | undefined) => string,
  previews?: Pick<QueryResult, 'images' | 'image_column'>): string {
  const images = previews?.images;
  const thumbs = images && list.some((n) => images[String(n.row)]);
  const extra = Array.from(new Set(list.flatMap((n) => Object.keys(n))))
    .filter((k) => !['id', 'row', 'distance', 'rank', idField, thumbs ? previews?.image_column : undefined].includes(k))
    .slice(0, 4);
  const mark = (id: string) => (changes && badge ? badge(changes.get(id))
    : shared.has(id) ? '<span class="shared-mark">★</span> ' : '');
  return `<thead><tr><th>#</th>${thumbs ? '<th class="thumb" title="image"></th>' : ''}<th>id</th><th>distance</th>${extra.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${list.map((n, i) => {
    const id = String(n.id);
    const change = changes?.get(id) ?? '';
    const cell = (v: unknown) => {
      const text = fmt(v);
      return `<td title="${esc(text)}">${esc(text.length > LONG_TEXT ? excerpt(text, 80) : text)}</td>`;
    };
    return `<tr data-row="${esc(n.row)}" data-id="${esc(n.id)}"${changes ? ` data-change="${change}"` : ''} class="${`${shared.has(id) ? 'shared ' : ''}${change}`.trim()}"><td>${i + 1}</td>${thumbs ? thumbCellHtml(images?.[String(n.row)], id) : ''}<td>${mark(id)}${esc(n.id)}</td><td>${fmt(n.distance, 4)}</td>${extra.map((k) => cell(n[k])).join('')}</tr>`;
  }).join('')}</tbody>`;
}
