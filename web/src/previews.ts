// Item previews: an item's image as a thumbnail (neighbour tables), and long text as a readable
// excerpt (tooltip, tables). Image addresses come from the server (or the notebook kernel), one
// rule for both (spacelens.views.images): http(s) and data: URLs as they are, files through the
// image route; the page never builds a file address itself.
import './previews.css';
import { esc, fmt } from './util';

/** Text longer than this is shown as an excerpt (the full text in the title). */
export const LONG_TEXT = 120;
/** About how many characters an excerpt keeps (cut at a word, ellipsis after). */
export const EXCERPT = 200;

/** The first ~``max`` characters of ``text`` ending at a word, with an ellipsis when cut. */
export function excerpt(text: string, max = EXCERPT): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (t.length <= max) return t;
  const cut = t.slice(0, max + 1);
  const space = cut.lastIndexOf(' ');
  // a word longer than half the excerpt (a URL, a hash) is cut where it is
  const end = space > max / 2 ? space : max;
  return `${t.slice(0, end).replace(/[\s,;:.\-–—]+$/, '')}…`;
}

/** A metadata value as the tooltip's cell: long text as a wrapped excerpt, full text in the title. */
export function valueCellHtml(v: unknown): string {
  const s = fmt(v);
  if (typeof v === 'string' && v.length > LONG_TEXT) {
    return `<td class="long-text" title="${esc(v)}">${esc(excerpt(v))}</td>`;
  }
  return `<td>${esc(s)}</td>`;
}

/** A thumbnail cell of a neighbour table: its image (lazy, small), alt text the item's id. */
export function thumbCellHtml(url: string | undefined, id: string): string {
  return url
    ? `<td class="thumb"><img src="${esc(url)}" alt="${esc(id)}" title="${esc(id)}" loading="lazy" decoding="async" width="30" height="30" /></td>`
    : '<td class="thumb"></td>';
}

/** Once an image of the tooltip or a table loads, draw it crisp when it is drawn larger than its
 * pixels (an 8x8 digit), smooth otherwise (a photo). Load events do not bubble: caught on the way down. */
function markUpscaled(ev: Event): void {
  const img = ev.target;
  if (!(img instanceof HTMLImageElement) || !img.closest('.tooltip, .slw-tooltip, .tables')) return;
  img.classList.toggle('upscaled', img.naturalWidth > 0 && img.naturalWidth < img.clientWidth);
}
if (typeof document !== 'undefined') document.addEventListener('load', markUpscaled, true);
