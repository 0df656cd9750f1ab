// One map panel: a regl-scatterplot canvas plus the dataset rows of its points, so two
// panels can be linked through dataset rows (row r is the same item in every space).
import createScatterplot, { createRenderer } from 'regl-scatterplot';
import { densityChanged, inDrawOrder, POINT_OPACITY } from './density';
import { spatialIndex } from './spatial';

type Plot = ReturnType<typeof createScatterplot>;
type Renderer = ReturnType<typeof createRenderer>;

let sharedRenderer: Renderer | null = null;
// Whether the user has zoomed or panned since the maps were drawn (the two maps share one
// camera): a resize then keeps their view instead of fitting the maps again.
let userMoved = false;

/** Point size (CSS px) for ``n`` points shown: small enough that a million do not merge into one
 * blot, large enough that a few hundred can be seen and hovered. */
export function pointSizeFor(n: number): number {
  return n > 500_000 ? 1.5 : n > 100_000 ? 2 : n > 10_000 ? 3 : 5;
}

export interface MapHandlers {
  over(view: MapView, point: number, ev: MouseEvent | null): void;
  out(view: MapView): void;
  select(view: MapView, points: number[]): void;
  deselect(view: MapView): void;
  /** The camera moved (zoom, pan, fit): the other map follows. */
  view(view: MapView, camera: number[]): void;
}

/** An area of the map's [-1, 1] coordinates. */
export interface Area { x: number; y: number; width: number; height: number; }

export class MapView {
  readonly side: 'A' | 'B';
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly overlay: HTMLElement;
  readonly marker: HTMLElement;   // the ring that shows the linked item (hover in the other map, query)
  plot: Plot | null = null;
  space = '';
  method = '';
  n = 0;
  rows: Uint32Array<ArrayBufferLike> = new Uint32Array(0);  // point -> dataset row
  pos = new Int32Array(0);        // dataset row -> point (-1: not in this space)
  x: Float32Array<ArrayBufferLike> = new Float32Array(0);
  y: Float32Array<ArrayBufferLike> = new Float32Array(0);
  drawnAt = 0;                    // performance.now() when the last draw reached the screen
  phases: [string, number][] = []; // when each step of the last draw finished (for benchmarks)
  private spatialIndex: ArrayBuffer | null = null;
  private lastMouse: MouseEvent | null = null;
  private handlers: MapHandlers;
  private silent = false;
  private lassoEndedAt = -Infinity;
  private lassoPoints: number[] = [];
  private markedRow: number | null = null;
  private box: Area | null = null;
  /** Which dataset rows are shown (1) when a filter hides the others (null: all); see filter.ts. */
  visible: Uint8Array | null = null;
  shownN = 0;                     // points shown now (all n without a filter)
  private countBasis = 0;         // points shown when regl-scatterplot last counted those in view
  /** The area a fit shows; set by the page to the union of both maps so their cameras agree. */
  fitArea: (() => Area | null) | null = null;

  constructor(root: HTMLElement, handlers: MapHandlers) {
    this.root = root;
    this.side = root.dataset.side as 'A' | 'B';
    this.canvas = root.querySelector('canvas')!;
    this.overlay = root.querySelector('.overlay')!;
    this.marker = root.querySelector('.marker')!;
    this.handlers = handlers;
    this.canvas.addEventListener('mousemove', (ev) => { this.lastMouse = ev; });
    this.canvas.addEventListener('wheel', () => { userMoved = true; }, { passive: true });
    this.canvas.addEventListener('mousedown', () => { userMoved = true; });
    new ResizeObserver(() => this.resize()).observe(this.canvas.parentElement!);
  }

  private ensurePlot(): Plot {
    if (this.plot) return this.plot;
    sharedRenderer ??= createRenderer();
    const { width, height } = this.canvas.parentElement!.getBoundingClientRect();
    const plot = createScatterplot({
      renderer: sharedRenderer,
      canvas: this.canvas,
      width: Math.max(width, 10),
      height: Math.max(height, 10),
      pointSize: 3,
      pointColorActive: '#000000',
      pointColorHover: '#ff00aa',
      pointSizeSelected: 2,
      pointOutlineWidth: 1,
      reticleColor: [0.1, 0.1, 0.15, 0.35],  // the default (white) vanishes on the white background
      opacityInactiveScale: 0.4,  // with a selection, the rest fades
      backgroundColor: '#ffffff',
      lassoColor: '#333333',
      deselectOnDblClick: true,
      deselectOnEscape: true,
    } as never);
    plot.subscribe('pointOver', (i: number) => this.handlers.over(this, i, this.lastMouse));
    plot.subscribe('pointOut', () => this.handlers.out(this));
    // A lasso that ends near its start also fires a click, which regl-scatterplot turns into a
    // one-point selection replacing the lasso's: undo that and keep the lasso's points.
    plot.subscribe('lassoEnd', () => { this.lassoEndedAt = performance.now(); });
    plot.subscribe('select', ({ points }: { points: number[] }) => {
      if (this.silent) return;
      if (points.length === 1 && this.lassoPoints.length > 1 && performance.now() - this.lassoEndedAt < 600) {
        this.silent = true;
        try { plot.select(this.lassoPoints, { preventEvent: true }); } finally { this.silent = false; }
        return;
      }
      this.lassoPoints = points.length > 1 ? points : [];
      this.handlers.select(this, points);
    });
    plot.subscribe('deselect', () => { if (!this.silent) this.handlers.deselect(this); });
    plot.subscribe('view', ({ view }: { view: ArrayLike<number> }) => {
      this.countBasis = this.shownN;   // a moved camera counts the shown points in view again
      this.placeMarker();
      this.handlers.view(this, Array.from(view));
    });
    this.plot = plot;
    return plot;
  }

  private resize(): void {
    if (!this.plot) return;
    const { width, height } = this.canvas.parentElement!.getBoundingClientRect();
    if (width > 0 && height > 0) void this.plot.set({ width, height }).then(() => { if (!userMoved) this.fit(); else this.placeMarker(); });
  }

  /** The bounding box of the drawn points, or with ``shownOnly`` of those ``visible`` keeps (null:
   * none). The whole map's box is kept until the points change. */
  bounds(shownOnly = false): Area | null {
    if (!this.n) return null;
    const keep = shownOnly ? this.visible : null;
    if (!keep && this.box) return this.box;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < this.n; i++) {
      if (keep && !keep[this.rows[i]]) continue;
      const x = this.x[i], y = this.y[i];
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    if (!Number.isFinite(x0)) return null;
    const box = { x: x0, y: y0, width: Math.max(x1 - x0, 1e-3), height: Math.max(y1 - y0, 1e-3) };
    if (!keep) this.box = box;
    return box;
  }

  /** Zoom so the whole map (both maps, when linked) fits the canvas, whatever its aspect ratio. */
  fit(): void {
    if (!this.plot || !this.n) return;
    const a = this.fitArea?.() ?? this.bounds();
    if (a) this.zoomTo(a, 0.04);
  }

  /** Move the camera to show ``a`` with a margin of ``pad`` of its size on each side. */
  zoomTo(a: Area, pad: number): void {
    // The camera moves at once; the promise only resolves on the next drawn frame, so no await.
    void this.plot?.zoomToArea({ x: a.x - pad * a.width, y: a.y - pad * a.height, width: (1 + 2 * pad) * a.width,
      height: (1 + 2 * pad) * a.height }, { transition: false });
  }

  /** Screen position (CSS px) of data point (x, y) = [ax*x + bx*y + cx, ay*x + by*y + cy]:
   * regl-scatterplot's getScreenPosition (clip = projection . view . model) as one affine map, for
   * the overlays that place many points at once (density contours, cluster labels); null before
   * the plot exists. */
  screenTransform(): number[] | null {
    const plot = this.plot;
    if (!plot) return null;
    const v = plot.get('cameraView') as ArrayLike<number>;
    const dar = plot.get('aspectRatio') as number;
    const w = Number(plot.get('width')) || this.canvas.clientWidth;
    const h = Number(plot.get('height')) || this.canvas.clientHeight;
    const asp = w / h;
    return [w / 2 * v[0] * dar / asp, w / 2 * v[4] / asp, w / 2 * (v[12] / asp + 1),
      -h / 2 * v[1] * dar, -h / 2 * v[5], h / 2 * (1 - v[13])];
  }

  /** Follow another map's camera, without announcing it (no feedback loop between two maps). */
  setView(view: number[]): void {
    if (!this.plot || !this.n) return;
    const now = this.plot.get('cameraView') as ArrayLike<number>;
    let same = now.length === view.length;
    for (let i = 0; same && i < view.length; i++) same = Math.abs(now[i] - view[i]) < 1e-9;
    // An unchanged view would leave regl-scatterplot's "don't announce" flag set until the
    // next real change, silencing the user's next zoom: only move when there is a move.
    if (same) return;
    this.plot.view(view, { preventEvent: true });
    this.placeMarker();
  }

  /** Draw a map: coordinates in [-1, 1], the dataset rows of its points, colour codes per dataset row. */
  async show(space: string, method: string, x: Float32Array, y: Float32Array, rows: Uint32Array, nDataset: number,
    codes: Uint8Array | null, palette: string[]): Promise<void> {
    this.ensurePlot();
    this.space = space;
    this.method = method;
    this.n = x.length;
    // points in a fixed shuffled order, not row order, which favours the last rows' colour
    ({ x: this.x, y: this.y, rows: this.rows } = inDrawOrder(x, y, rows, nDataset));
    this.pos = new Int32Array(nDataset).fill(-1);
    for (let i = 0; i < this.rows.length; i++) this.pos[this.rows[i]] = i;
    this.spatialIndex = null;
    this.box = null;
    this.root.dataset.drawn = '0';
    this.mark(null);
    userMoved = false;
    await this.draw(codes, palette, true);
  }

  /** Re-colour the drawn points (reuses the spatial index: no re-indexing of a million points). */
  async recolor(codes: Uint8Array | null, palette: string[]): Promise<void> {
    if (!this.plot || !this.n) return;
    await this.draw(codes, palette);
  }

  private async draw(codes: Uint8Array | null, palette: string[], fresh = false): Promise<void> {
    const plot = this.plot!;
    const n = this.n;
    this.phases = [['start', performance.now()]];
    const value = new Float32Array(n);
    if (codes) for (let i = 0; i < n; i++) value[i] = codes[this.rows[i]];
    const look: Record<string, unknown> = { colorBy: 'valueA', pointColor: palette.length ? palette : ['#4e79a7'] };
    const shown = this.shownPoints();
    if (fresh) {
      // Old points would be re-rendered by every setting change below (a second each at a
      // million points in software WebGL): drop them first.
      if (plot.get('isPointsDrawn')) await plot.clearPoints();
      look.pointSize = pointSizeFor(shown ? shown.length : n);
      Object.assign(look, POINT_OPACITY);
      this.spatialIndex = null;
    }
    await plot.set(look as never);
    if (fresh) this.fit();
    if (!this.spatialIndex) {
      this.spatialIndex = await buildSpatialIndex(this.x, this.y);
      this.phases.push(['index', performance.now()]);
    }
    const options: Record<string, unknown> = { zDataType: 'categorical', spatialIndex: this.spatialIndex };
    if (shown) options.filter = shown;   // a redraw keeps the filter (it would reset it)
    await plot.draw({ x: this.x, y: this.y, valueA: value }, options);
    this.countBasis = n;     // a draw counts every point as in view
    if (shown) this.recountIfStale(shown.length);
    this.spatialIndex = plot.get('spatialIndex') ?? null;
    this.phases.push(['draw', performance.now()]);
    await afterPaint();
    this.phases.push(['paint', performance.now()]);
    this.drawnAt = performance.now();
    this.root.dataset.drawn = '1';
    this.root.dataset.points = String(n);
    this.shownN = shown ? shown.length : n;
    this.root.dataset.shown = String(this.shownN);
    densityChanged(this);
  }

  /** The points whose dataset rows ``visible`` keeps (null: no filter). */
  shownPoints(): number[] | null {
    const m = this.visible;
    if (!m) return null;
    const rows = this.rows, pts: number[] = [];
    for (let p = 0; p < rows.length; p++) if (m[rows[p]]) pts.push(p);
    return pts;
  }

  /** regl-scatterplot sets its density opacity from the points in view, counted again only when
   * the camera moves (and reset to every point by a draw): a filter keeping 1% of a million would
   * be drawn as faint as all of them. Setting the same view counts the shown points again, on the
   * next frame, before it paints (``countBasis``: how many were shown when it last counted). */
  private recountIfStale(shown: number): void {
    // a recount costs up to a repaint at a million points: only when the opacity would be off by
    // more than 2x (a 56% filter is drawn a little fainter than it could be; a 1% one is not lost)
    const r = shown / Math.max(1, this.countBasis);
    if (r >= 0.5 && r <= 2) return;
    this.countBasis = shown;
    void this.plot!.set({ cameraView: this.plot!.get('cameraView') } as never);
  }

  /** Show only the items of the dataset rows ``visible`` keeps (null: every item). */
  setVisible(visible: Uint8Array | null): void {
    this.visible = visible;
    if (!this.plot || !this.n) return;
    const pts = this.shownPoints();
    if (pts) void this.plot.filter(pts, { preventEvent: true } as never);
    else void this.plot.unfilter({ preventEvent: true } as never);
    // the points as large as their shown number asks: 119 points of a million at 1.5 px are dust
    const shown = pts ? pts.length : this.n;
    if (pointSizeFor(shown) !== pointSizeFor(this.shownN)) void this.plot.set({ pointSize: pointSizeFor(shown) } as never);
    this.recountIfStale(shown);
    this.shownN = shown;
    this.root.dataset.shown = String(this.shownN);
    densityChanged(this);
  }

  clear(): void {
    if (this.plot) void this.plot.clear();
    this.mark(null);
    this.box = null;
    this.n = 0;
    this.rows = new Uint32Array(0);
    this.root.dataset.drawn = '0';
    densityChanged(this);
  }

  /** Points of this map holding the given dataset rows (rows it does not hold are skipped). */
  pointsOf(rows: ArrayLike<number>): number[] {
    const out: number[] = [];
    for (let i = 0; i < rows.length; i++) {
      const p = this.pos[rows[i]];
      if (p !== undefined && p >= 0) out.push(p);
    }
    return out;
  }

  /** Hover the item of a dataset row (or none), with a ring around it that is easy to find. */
  hoverRow(row: number | null): void {
    if (!this.plot || !this.n) { this.mark(null); return; }
    const p = row === null ? -1 : (this.pos[row] ?? -1);
    this.plot.hover(p, { preventEvent: true, showReticleOnce: p >= 0 });
    this.mark(p >= 0 ? row : null);
  }

  private mark(row: number | null): void {
    this.markedRow = row;
    this.placeMarker();
  }

  private placeMarker(): void {
    const p = this.markedRow === null || !this.plot ? -1 : (this.pos[this.markedRow] ?? -1);
    const xy = p >= 0 ? this.plot!.getScreenPosition(p) : undefined;
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    const inside = xy && xy[0] >= 0 && xy[1] >= 0 && xy[0] <= w && xy[1] <= h;
    this.marker.hidden = !inside;
    if (inside) this.marker.style.transform = `translate(${xy![0]}px, ${xy![1]}px)`;
    this.root.dataset.marked = inside ? String(this.markedRow) : '';
  }

  selectRows(rows: ArrayLike<number>): void {
    if (!this.plot || !this.n) return;
    const pts = this.pointsOf(rows);
    if (!pts.length && !this.selectedCount()) return;  // nothing to undo: spare a redraw
    this.silent = true;
    try {
      if (pts.length) this.plot.select(pts, { preventEvent: true });
      else this.plot.deselect({ preventEvent: true });
    } finally {
      this.silent = false;
    }
  }

  selectedCount(): number {
    return this.plot ? (this.plot.get('selectedPoints') as number[]).length : 0;
  }

  setLasso(on: boolean): void {
    if (this.plot) void this.plot.set({ mouseMode: on ? 'lasso' : 'panZoom' } as never);
  }

  showOverlay(html: string | null): HTMLElement {
    this.overlay.hidden = html === null;
    this.overlay.innerHTML = html ?? '';
    return this.overlay;
  }
}

/** The KDBush index of the points, built in a worker from copies of the coordinate arrays; in
 * place when no worker can start (the notebook widget's bundle is loaded from a blob URL). */
export function buildSpatialIndex(x: ArrayLike<number>, y: ArrayLike<number>): Promise<ArrayBuffer> {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./spatial.worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return Promise.resolve(spatialIndex(x, y));
  }
  return new Promise((resolve) => {
    const xs = Float32Array.from(x);
    const ys = Float32Array.from(y);
    worker.onmessage = (e: MessageEvent<ArrayBuffer>) => { worker.terminate(); resolve(e.data); };
    worker.onerror = (e) => { e.preventDefault(); worker.terminate(); resolve(spatialIndex(x, y)); };
    worker.postMessage({ x: xs, y: ys }, [xs.buffer, ys.buffer]);
  });
}

/** The smallest area holding every one of ``boxes`` (null when there are none). */
export function unionArea(boxes: (Area | null)[]): Area | null {
  const bs = boxes.filter((b): b is Area => b !== null);
  if (!bs.length) return null;
  const x0 = Math.min(...bs.map((b) => b.x)), y0 = Math.min(...bs.map((b) => b.y));
  const x1 = Math.max(...bs.map((b) => b.x + b.width)), y1 = Math.max(...bs.map((b) => b.y + b.height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Resolves after the browser has painted the current frame (two animation frames). */
export function afterPaint(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
}
