// Cluster regions of a map's points in view, the pure part of the cluster labels (clusterlabels.ts):
// points binned on a screen-space grid, the dense cells joined into regions of one key category
// (the dominant one, or the over-represented one), each region's label category, and a greedy
// placement of label boxes. No DOM here: the functions are checked against hand-worked examples
// (tests/test_browser_clusterlabels.py) and timed at a million points.

/** Grid cell (CSS px) of the screen-space density. */
export const CELL = 10;
/** Category slots: codes 0..31 each its own slot; missing (255) and any larger code share the last. */
export const SLOTS = 33;
export const HIDDEN = 255;   // a point's slot when it is filtered out
export const REST = SLOTS - 1;   // the slot of missing values and codes past 31

export interface Grid {
  w: number; h: number; cell: number;
  counts: Float32Array;   // SLOTS planes of w*h cells: points of each slot per cell
  total: Float32Array;    // w*h: points per cell
  present: number[];      // the slots with points in view
  n: number;              // points in view (binned: about one in ``stride``)
  stride: number;         // about one point in ``stride`` was binned
}

/** A category slot for each category code (the page's colour codes: 0..254, 255 missing). */
export const slotOf = (code: number): number => (code < REST ? code : REST);

/** Bin the points in view: screen = affine(x, y) = [a*x + b*y + c, d*x + e*y + f]. With ``stride``
 * > 1 about one point in ``stride`` is binned (a uniform sample: shares and shapes hold, at a
 * fraction of the cost when a million points are in view). */
export function binPoints(x: ArrayLike<number>, y: ArrayLike<number>, slot: ArrayLike<number>, affine: number[],
  width: number, height: number, cell = CELL, stride = 1): Grid {
  const w = Math.max(1, Math.ceil(width / cell)), h = Math.max(1, Math.ceil(height / cell));
  const wh = w * h;
  const tally = new Int32Array(SLOTS * wh);
  const [a, b, c, d, e, f] = affine;
  const inv = 1 / cell;
  const step = Math.max(1, Math.floor(stride));
  // a sample without a period (every 4th point of rows laid out class by class in turn would see
  // only some classes): jumps of 1 .. 2*step-1, the same each time, so the labels hold still
  const jumps = new Int32Array(4096).fill(1);
  if (step > 1) {
    let r = 12345;
    for (let j = 0; j < jumps.length; j++) { r = (Math.imul(r, 1103515245) + 12345) >>> 0; jumps[j] = 1 + ((r >>> 8) % (2 * step - 1)); }
  }
  for (let i = 0, j = 0, len = x.length; i < len; i += jumps[j++ & 4095]) {
    const s = slot[i];
    if (s === HIDDEN) continue;
    const xi = x[i], yi = y[i];
    const sx = a * xi + b * yi + c;
    if (!(sx >= 0 && sx < width)) continue;
    const sy = d * xi + e * yi + f;
    if (!(sy >= 0 && sy < height)) continue;
    tally[s * wh + ((sy * inv) | 0) * w + ((sx * inv) | 0)]++;
  }
  const counts = new Float32Array(tally), total = new Float32Array(wh), present: number[] = [];
  let n = 0;
  for (let s = 0; s < SLOTS; s++) {
    let m = 0;
    for (let k = 0, o = s * wh; k < wh; k++) { const v = counts[o + k]; if (v) { total[k] += v; m += v; } }
    if (m) present.push(s);
    n += m;
  }
  return { w, h, cell, counts, total, present, n, stride: step };
}

/** Two passes of a 3x3 box blur (a 5x5 binomial-like kernel), zero outside the grid. */
export function blur(src: Float32Array, w: number, h: number, offset = 0, out = new Float32Array(w * h)): Float32Array {
  const tmp = new Float32Array(w * h);
  out.set(src.subarray(offset, offset + w * h));
  for (let pass = 0; pass < 2; pass++) {
    for (let yy = 0; yy < h; yy++) {
      const r = yy * w;
      for (let xx = 0; xx < w; xx++) {
        const k = r + xx;
        tmp[k] = (out[k] + (xx > 0 ? out[k - 1] : 0) + (xx < w - 1 ? out[k + 1] : 0)) / 3;
      }
    }
    for (let yy = 0; yy < h; yy++) {
      const r = yy * w;
      for (let xx = 0; xx < w; xx++) {
        const k = r + xx;
        out[k] = (tmp[k] + (yy > 0 ? tmp[k - w] : 0) + (yy < h - 1 ? tmp[k + w] : 0)) / 3;
      }
    }
  }
  return out;
}

export interface RegionOptions {
  /** 'dominant': label with the category holding >= minShare of the region's points; 'lift': with
   * the labelable category of highest lift (share / overall share) holding >= minSupport of them. */
  mode: 'dominant' | 'lift';
  /** Per slot: 1 when it can be a label (not "other", not missing). */
  labelable: ArrayLike<number>;
  /** Per slot: its share of all shown points of the map (lift mode). */
  overall?: ArrayLike<number>;
  minShare?: number;      // dominant: 0.5
  minSupport?: number;    // lift: 0.3
  minLift?: number;       // lift: 1.5
  minPoints?: number;     // default max(8, 0.3% of the points in view)
  /** A cell is dense when its smoothed count reaches this share of the 95th percentile (0.05). */
  density?: number;
}

export interface Region {
  slot: number;      // the category it is labelled with
  n: number;         // points in the region
  count: number;     // of them in the category
  share: number;     // count / n
  lift: number;      // share / overall share (1 in dominant mode without overall)
  x: number; y: number;  // where its label goes (screen px): the centre of its cell with points nearest its centre
  cells: number;
}

/** A grid with cells ``f`` times as wide (sparse views: a zoomed-in cluster has few points a cell). */
export function coarsen(g: Grid, f: number): Grid {
  if (f <= 1) return g;
  const w = Math.ceil(g.w / f), h = Math.ceil(g.h / f), wh = w * h, fwh = g.w * g.h;
  const counts = new Float32Array(SLOTS * wh), total = new Float32Array(wh);
  for (let k = 0; k < fwh; k++) {
    if (!g.total[k]) continue;
    const K = Math.floor(Math.floor(k / g.w) / f) * w + Math.floor((k % g.w) / f);
    total[K] += g.total[k];
    for (const s of g.present) counts[s * wh + K] += g.counts[s * fwh + k];
  }
  return { w, h, cell: g.cell * f, counts, total, present: g.present, n: g.n, stride: g.stride };
}

/** How much coarser than the binning grid the regions are found: until the occupied cells hold
 * two points each on average (at most 8 times, 80 px). */
export function coarseness(g: Grid): number {
  let f = 1;
  while (f < 8) {
    const c = coarsen(g, f);
    let occ = 0;
    for (let k = 0; k < c.w * c.h; k++) if (c.total[k]) occ++;
    if (!occ || g.n / occ >= 2) break;
    f *= 2;
  }
  return f;
}

/** The labelled dense regions of a grid, largest first. Regions are found on a grid coarsened
 * where the points in view are sparse; a label goes to the centre of the binning grid's cell
 * with points nearest the region's centre, so it sits on points. */
export function findLabelRegions(fine: Grid, o: RegionOptions): Region[] {
  if (!fine.n) return [];
  const f = coarseness(fine);
  const g = coarsen(fine, f);
  const { w, h } = g;
  const wh = w * h;
  const minShare = o.minShare ?? 0.5, minSupport = o.minSupport ?? 0.3, minLift = o.minLift ?? 1.5;
  const st = g.stride;
  const minPoints = o.minPoints ?? Math.max(8, Math.ceil(0.003 * g.n * st));
  const overall = o.overall;
  // smoothed density and per-slot counts (only the slots present)
  const dens = blur(g.total, w, h);
  const present = g.present;
  const smooth = present.map((s) => blur(g.counts, w, h, s * wh));
  // dense: the 95th percentile of the occupied cells' density, times o.density
  const occ: number[] = [];
  for (let k = 0; k < wh; k++) if (dens[k] > 0) occ.push(dens[k]);
  occ.sort((p, q) => p - q);
  const p95 = occ[Math.min(occ.length - 1, Math.floor(0.95 * occ.length))] ?? 0;
  const t = Math.max(0.1, (o.density ?? 0.05) * p95);
  // each dense cell's key: its dominant slot, or its labelable slot of highest lift with enough support
  const key = new Int16Array(wh).fill(-1);
  for (let k = 0; k < wh; k++) {
    const tot = dens[k];
    if (tot < t) continue;
    let best = -1, bestV = -1;
    for (let j = 0; j < present.length; j++) {
      const v = smooth[j][k];
      if (o.mode === 'dominant') {
        if (v > bestV) { bestV = v; best = present[j]; }
      } else {
        const s = present[j];
        if (!o.labelable[s] || v < minSupport * tot) continue;
        const lift = v / Math.max(overall?.[s] ?? 1, 1e-12);
        if (lift > bestV) { bestV = lift; best = s; }
      }
    }
    key[k] = best;
  }
  // regions: 4-connected dense cells of one key
  const region = new Int32Array(wh).fill(-1);
  const stack = new Int32Array(wh);
  let nr = 0;
  for (let k0 = 0; k0 < wh; k0++) {
    if (key[k0] < 0 || region[k0] >= 0) continue;
    const kk = key[k0];
    let top = 0;
    stack[top++] = k0;
    region[k0] = nr;
    while (top) {
      const k = stack[--top];
      const xx = k % w;
      if (xx > 0 && region[k - 1] < 0 && key[k - 1] === kk) { region[k - 1] = nr; stack[top++] = k - 1; }
      if (xx < w - 1 && region[k + 1] < 0 && key[k + 1] === kk) { region[k + 1] = nr; stack[top++] = k + 1; }
      if (k >= w && region[k - w] < 0 && key[k - w] === kk) { region[k - w] = nr; stack[top++] = k - w; }
      if (k + w < wh && region[k + w] < 0 && key[k + w] === kk) { region[k + w] = nr; stack[top++] = k + w; }
    }
    nr++;
  }
  // per region: points per slot, cells, centre (px, weighted by points)
  const cnt = new Float64Array(nr * SLOTS), n = new Float64Array(nr), cells = new Int32Array(nr);
  const cx = new Float64Array(nr), cy = new Float64Array(nr);
  for (let k = 0; k < wh; k++) {
    const r = region[k];
    if (r < 0) continue;
    cells[r]++;
    const tot = g.total[k];
    if (!tot) continue;
    n[r] += tot;
    for (const s of present) cnt[r * SLOTS + s] += g.counts[s * wh + k];
  }
  const fw = fine.w, fwh = fine.w * fine.h, fc = fine.cell;
  const regionOfFine = (k: number): number => region[Math.floor(Math.floor(k / fw) / f) * w + Math.floor((k % fw) / f)];
  for (let k = 0; k < fwh; k++) {
    const tot = fine.total[k];
    if (!tot) continue;
    const r = regionOfFine(k);
    if (r < 0) continue;
    cx[r] += tot * ((k % fw) + 0.5) * fc;
    cy[r] += tot * (Math.floor(k / fw) + 0.5) * fc;
  }
  const out: (Region & { id: number })[] = [];
  for (let r = 0; r < nr; r++) {
    if (n[r] * st < minPoints) continue;
    let slot = -1, count = 0;
    if (o.mode === 'dominant') {
      for (const s of present) if (cnt[r * SLOTS + s] > count) { count = cnt[r * SLOTS + s]; slot = s; }
      if (!o.labelable[slot] || count < minShare * n[r]) continue;
    } else {
      let bestLift = 0;
      for (const s of present) {
        const c = cnt[r * SLOTS + s];
        if (!o.labelable[s] || c < minSupport * n[r]) continue;
        const lift = c / n[r] / Math.max(overall?.[s] ?? 1, 1e-12);
        if (lift > bestLift) { bestLift = lift; slot = s; count = c; }
      }
      if (slot < 0 || bestLift < minLift) continue;
    }
    const share = count / n[r];
    const lift = overall ? share / Math.max(overall[slot] ?? 1, 1e-12) : 1;
    out.push({ id: r, slot, n: n[r] * st, count: count * st, share, lift, x: 0, y: 0, cells: cells[r] });
  }
  // the label's place: the binning grid's cell with points (of the region) nearest its centre
  const bestD = new Float64Array(nr).fill(Infinity), bestK = new Int32Array(nr).fill(-1);
  const labelled = new Uint8Array(nr);
  for (const r of out) { labelled[r.id] = 1; cx[r.id] /= n[r.id]; cy[r.id] /= n[r.id]; }
  for (let k = 0; k < fwh; k++) {
    if (!fine.total[k]) continue;
    const r = regionOfFine(k);
    if (r < 0 || !labelled[r]) continue;
    const dx = ((k % fw) + 0.5) * fc - cx[r], dy = (Math.floor(k / fw) + 0.5) * fc - cy[r];
    const dd = dx * dx + dy * dy;
    if (dd < bestD[r]) { bestD[r] = dd; bestK[r] = k; }
  }
  for (const r of out) {
    const k = bestK[r.id];
    r.x = ((k % fw) + 0.5) * fc;
    r.y = (Math.floor(k / fw) + 0.5) * fc;
  }
  out.sort((p, q) => q.n - p.n);
  return out.map(({ id: _id, ...r }) => r);
}

export interface LabelBox { x: number; y: number; w: number; h: number; key?: number | string; }

/** Greedy placement in the given order (largest region first): a label is kept when its box,
 * centred on (x, y) and moved inside the width x height area, overlaps no kept box (with ``pad``
 * px between) and no kept label of the same ``key`` is within ``near`` px. Returns the kept
 * indices and where each kept box's centre went. */
export function placeLabels(boxes: LabelBox[], width: number, height: number, pad = 2, near = 150,
  max = 40): { kept: number[]; at: [number, number][] } {
  const kept: number[] = [], at: [number, number][] = [], rects: number[][] = [];
  for (let i = 0; i < boxes.length && kept.length < max; i++) {
    const b = boxes[i];
    if (b.w > width || b.h > height) continue;
    const x0 = Math.min(Math.max(b.x - b.w / 2, 0), width - b.w);
    const y0 = Math.min(Math.max(b.y - b.h / 2, 0), height - b.h);
    const r = [x0 - pad, y0 - pad, x0 + b.w + pad, y0 + b.h + pad];
    if (rects.some((q) => r[0] < q[2] && q[0] < r[2] && r[1] < q[3] && q[1] < r[3])) continue;
    if (b.key !== undefined && kept.some((j, m) => boxes[j].key === b.key
      && Math.hypot(at[m][0] - b.x, at[m][1] - b.y) < near)) continue;
    kept.push(i);
    at.push([x0 + b.w / 2, y0 + b.h / 2]);
    rects.push(r);
  }
  return { kept, at };
}
