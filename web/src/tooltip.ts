// The tooltip of a hovered item: its id, images, agreement and metadata (fetched once, cached).
//
// ItemTooltip is the tooltip itself, given its element and where items come from; the page
// (showTooltip, hideTooltip, forgetItems below) uses one on #tooltip fed by the server, the
// notebook widget (widget.ts) one inside the widget fed by the kernel.
import { enc, getJSON, type Item } from './api';
import type { MapView } from './maps';
import { els, state } from './state';
import { valueCellHtml } from './previews';
import { esc, fmt } from './util';

export class ItemTooltip {
  private cache = new Map<string, Item>();
  private showing: number | null = null;

  /** `fetch(row)` gets an item and `key(row)` names it in the cache (the view it belongs to);
   * `place(tip, x, y)` puts the tip near the viewport point (x, y) (default: fixed, on the page). */
  constructor(
    readonly tip: () => HTMLElement,
    private fetch: (row: number) => Promise<Item>,
    private key: (row: number) => string,
    private place: (tip: HTMLElement, x: number, y: number) => void = placeFixed,
  ) {}

  forget(): void {
    this.cache.clear();
  }

  private async item(row: number): Promise<Item> {
    const key = this.key(row);
    let item = this.cache.get(key);
    if (!item) {
      item = await this.fetch(row);
      if (this.cache.size > 2000) this.cache.clear();
      this.cache.set(key, item);
    }
    return item;
  }

  show(row: number, view: MapView, point: number, ev: MouseEvent | null): void {
    this.showing = row;
    const tip = this.tip();
    let x = ev?.clientX;
    let y = ev?.clientY;
    if (x === undefined || y === undefined) {
      const p = view.plot?.getScreenPosition(point);
      const r = view.canvas.getBoundingClientRect();
      x = r.left + (p?.[0] ?? 0);
      y = r.top + (p?.[1] ?? 0);
    }
    this.place(tip, x, y);
    tip.hidden = false;
    tip.dataset.row = String(row);
    tip.innerHTML = `<b>row ${row}</b>`;
    this.item(row).then((item) => {
      if (this.showing !== row) return;
      tip.innerHTML = itemHtml(item);
      tip.dataset.id = item.id;
      this.place(tip, x!, y!);  // again, now that its size is known (an image, a long text)
    }).catch(() => { /* the row vanished: keep the short tooltip */ });
  }

  hide(): void {
    this.showing = null;
    const tip = this.tip();
    tip.hidden = true;
    delete tip.dataset.id;
  }
}

/** An item as the tooltip shows it: id, images, agreement, the first 14 metadata fields (long
 * text as a wrapped excerpt, the full text in its title). */
export function itemHtml(item: Item): string {
  const meta = Object.entries(item.metadata).slice(0, 14)
    .map(([k, v]) => `<tr><th>${esc(k)}</th>${valueCellHtml(v)}</tr>`).join('');
  const jac = item.jaccard !== undefined ? `<tr><th>Jaccard A/B</th><td>${esc(fmt(item.jaccard))}</td></tr>` : '';
  const imgs = item.images.map((im) => `<img src="${esc(im.url)}" alt="${esc(item.id)}" title="${esc(im.column)}" />`).join('');
  return `<div class="tip-id">${esc(item.id)}</div>${imgs}<table>${jac}${meta}</table>`;
}

/** Below right of the point, or on the other side where the window has no room for the tip. */
function placeFixed(tip: HTMLElement, x: number, y: number): void {
  const w = tip.offsetWidth || 320, h = tip.offsetHeight || 200;
  const left = x + 14 + w <= window.innerWidth ? x + 14 : x - 14 - w;
  const top = y + 14 + h <= window.innerHeight ? y + 14 : y - 14 - h;
  tip.style.left = `${Math.max(0, left)}px`;
  tip.style.top = `${Math.max(0, top)}px`;
}

// -- the page's tooltip ----------------------------------------------------------------------
let pageTip: ItemTooltip | null = null;

function page(): ItemTooltip {
  pageTip ??= new ItemTooltip(
    () => els.tooltip,
    (row) => getJSON<Item>(`datasets/${enc(state.dataset!.name)}/items/${row}`, { a: state.a, b: state.b, k: state.k }),
    (row) => `${state.dataset!.name}|${row}|${state.a}|${state.b}|${state.k}`,
  );
  return pageTip;
}

export function forgetItems(): void {
  page().forget();
}

export function showTooltip(row: number, view: MapView, point: number, ev: MouseEvent | null): void {
  page().show(row, view, point, ev);
}

export function hideTooltip(): void {
  page().hide();
}
