// Colours of the drawn points. The server sends one byte a dataset row and a palette; here
// the palette is fitted to the points actually drawn: a gradient's colour map is stretched over
// the drawn values (2nd to 98th percentile), so a comparison whose Jaccard values all lie in
// 0–0.2 still runs through the whole colour map instead of painting every point one colour.
// The counts of the legend are counts of drawn items too.
import type { ColorHeader } from './api';
import { cssColor } from './util';

export const MISSING = 255;

export interface Scale {
  palette: string[];    // 256 colours: code -> colour as drawn
  counts: Uint32Array;  // drawn items per code
  drawn: number;        // items drawn in either map
  gradient: boolean;
  loCode: number; hiCode: number;    // the codes at the ends of the colour map
  minCode: number; maxCode: number;  // the smallest and largest drawn codes
}

/** Drawn items per colour code (an item drawn in both maps counts once). */
/** The dataset rows a map draws (a MapView, or a map not drawn yet). */
export interface Drawn { rows: ArrayLike<number>; n: number; }

export function drawnCounts(codes: Uint8Array, views: Drawn[]): { counts: Uint32Array; drawn: number } {
  const counts = new Uint32Array(256);
  const seen = new Uint8Array(codes.length);
  let drawn = 0;
  for (const v of views) {
    const rows = v.rows;
    for (let i = 0; i < v.n; i++) {
      const r = rows[i];
      if (seen[r]) continue;
      seen[r] = 1;
      counts[codes[r]]++;
      drawn++;
    }
  }
  return { counts, drawn };
}

function quantileCode(counts: Uint32Array, total: number, q: number): number {
  const target = q * (total - 1);
  let seen = 0;
  for (let c = 0; c < MISSING; c++) {
    seen += counts[c];
    if (seen > target) return c;
  }
  return MISSING - 1;
}

/** The palette and counts for the drawn items under a colouring. */
export function fitScale(header: ColorHeader, codes: Uint8Array, views: Drawn[]): Scale {
  const { counts, drawn } = drawnCounts(codes, views);
  const gradient = header.kind !== 'categorical';
  let minCode = 0, maxCode = MISSING - 1;
  let loCode = 0, hiCode = MISSING - 1;
  let palette = header.palette;
  if (gradient) {
    const valued = drawn - counts[MISSING];
    if (valued > 0) {
      minCode = counts.findIndex((n) => n > 0);
      for (let c = MISSING - 1; c >= 0; c--) if (counts[c] > 0) { maxCode = c; break; }
      loCode = quantileCode(counts, valued, 0.02);
      hiCode = quantileCode(counts, valued, 0.98);
      if (hiCode <= loCode) { loCode = minCode; hiCode = maxCode; }
      if (hiCode <= loCode) { hiCode = Math.min(loCode + 1, MISSING - 1); loCode = hiCode - 1; }
    }
    const ramp = header.palette.slice(0, MISSING);
    palette = new Array<string>(256);
    for (let c = 0; c < MISSING; c++) {
      const t = Math.min(1, Math.max(0, (c - loCode) / (hiCode - loCode)));
      palette[c] = ramp[Math.round(t * (ramp.length - 1))];
    }
    palette[MISSING] = header.palette[MISSING] ?? '#c8c8c8';
  }
  return { palette, counts, drawn, gradient, loCode, hiCode, minCode, maxCode };
}

/** The value a gradient's code stands for (codes 0..254 span header.min..header.max). */
export function codeValue(header: ColorHeader, code: number): number {
  const lo = header.min ?? 0, hi = header.max ?? 1;
  return lo + (code / 254) * (hi - lo);
}

/** The drawn colour of a value under a gradient colouring. */
export function valueColor(header: ColorHeader, scale: Scale, v: number): string {
  const lo = header.min ?? 0, hi = header.max ?? 1;
  const code = hi > lo ? Math.round(((v - lo) / (hi - lo)) * 254) : 127;
  return scale.palette[Math.min(254, Math.max(0, code))];
}

/** CSS gradient of the colour map between the scale's ends. */
export function rampCss(header: ColorHeader): string {
  const ramp = header.palette.slice(0, MISSING);
  const stops = Array.from({ length: 9 }, (_, i) => ramp[Math.round((i / 8) * (ramp.length - 1))]);
  return `linear-gradient(to right, ${stops.map(cssColor).join(',')})`;
}
