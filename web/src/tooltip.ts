// The tooltip of a hovered item: its id, images, agreement and metadata (fetched once, cached).
import { enc, getJSON, type Item } from './api';
import type { MapView } from './maps';
import { els, state } from './state';
import { esc, fmt } from './util';

const itemCache = new Map<string, Item>();
let tooltipFor: number | null = null;

export function forgetItems(): void {
  itemCache.clear();
}

async function fetchItem(row: number): Promise<Item> {
  const ds = state.dataset!.name;
  const key = `${ds}|${row}|${state.a}|${state.b}|${state.k}`;
  let item = itemCache.get(key);
  if (!item) {
    item = await getJSON<Item>(`datasets/${enc(ds)}/items/${row}`, { a: state.a, b: state.b, k: state.k });
    if (itemCache.size > 2000) itemCache.clear();
    itemCache.set(key, item);
  }
  return item;
}

export function showTooltip(row: number, view: MapView, point: number, ev: MouseEvent | null): void {
  tooltipFor = row;
  const tip = els.tooltip;
  let x = ev?.clientX;
  let y = ev?.clientY;
  if (x === undefined || y === undefined) {
    const p = view.plot?.getScreenPosition(point);
    const r = view.canvas.getBoundingClientRect();
    x = r.left + (p?.[0] ?? 0);
    y = r.top + (p?.[1] ?? 0);
  }
  tip.style.left = `${Math.min(x + 14, window.innerWidth - 320)}px`;
  tip.style.top = `${Math.min(y + 14, window.innerHeight - 200)}px`;
  tip.hidden = false;
  tip.dataset.row = String(row);
  tip.innerHTML = `<b>row ${row}</b>`;
  fetchItem(row).then((item) => {
    if (tooltipFor !== row) return;
    const meta = Object.entries(item.metadata).slice(0, 14)
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(fmt(v))}</td></tr>`).join('');
    const jac = item.jaccard !== undefined ? `<tr><th>Jaccard A/B</th><td>${esc(fmt(item.jaccard))}</td></tr>` : '';
    const imgs = item.images.map((im) => `<img src="${esc(im.url)}" alt="${esc(im.column)}" />`).join('');
    tip.innerHTML = `<div class="tip-id">${esc(item.id)}</div>${imgs}<table>${jac}${meta}</table>`;
    tip.dataset.id = item.id;
  }).catch(() => { /* the row vanished: keep the short tooltip */ });
}

export function hideTooltip(): void {
  tooltipFor = null;
  els.tooltip.hidden = true;
  delete els.tooltip.dataset.id;
}
