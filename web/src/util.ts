// Small helpers shared by the page's modules: DOM lookup, HTML escaping, number formatting.

export const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => document.querySelector(sel) as T;

/** Text made safe for HTML content and quoted attribute values (``title="${esc(x)}"``): every text
 * from a dataset, a name or a server message goes through this (or textContent) on its way in. */
export const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A colour for a style attribute: a hex colour as the server's palettes hold, else grey (so
 * nothing else can end up inside ``style="..."``). */
export const cssColor = (c: unknown): string => (typeof c === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(c) ? c : '#999999');

export const fmt = (v: unknown, digits = 3): string =>
  (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : v === null || v === undefined ? '–' : String(v));

export const METHOD_LABEL: Record<string, string> = { pca: 'PCA', umap: 'UMAP', 'pca-umap': 'PCA→UMAP' };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Seconds as "42 s", "3 min 5 s" or "1 h 2 min". */
export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** Decimals that tell the ends of a range ``span`` wide apart: 16 to 41, 0.12 to 0.82, 0.013 to 0.094. */
export function spanDigits(span: number): number {
  return span >= 20 ? 0 : span >= 2 ? 1 : span >= 0.2 ? 2 : 3;
}
