// The notebook widget (anywidget, see src/spacelens/notebook/): the analyzer's two linked maps,
// colour legend, agreement histogram and kNN tables in a notebook cell.
//
// Built from the page's own modules by the same Vite build (vite.widget.config.ts): the map
// panels and their link (maps.ts, linked.ts), colours (colorscale.ts), frames (frame.ts) and the
// panels' renderers (render.ts). Only the data source differs: the page asks its server over
// HTTP; the widget asks the kernel through the widget's model (custom messages that
// spacelens.notebook answers with the same frames the server sends), so it works wherever
// the notebook's kernel does (JupyterLab, Notebook 7, VS Code) without a web server.
//
// The selection is shared with Python through the synced trait `selected_rows` (dataset rows):
// a lasso here sets it (w.selection in the kernel), w.select(ids) there highlights the items here.
import './components.css';
import './widget.css';
import type { ColorHeader, ComparisonHeader, DataSource, Item, MapHeader, Params, QueryResult } from './api';
import { fitScale, valueColor, type Scale } from './colorscale';
import { decodeFrame, mapRows, type Frame } from './frame';
import { linkedMaps, mapPanelHtml, type LinkedMaps } from './linked';
import type { MapView } from './maps';
import { binLabel, histogramHtml, legendHtml, neighbourTableHtml, rowsOfBin } from './render';
import { ItemTooltip } from './tooltip';
import { esc, fmt, METHOD_LABEL } from './util';

/* eslint-disable @typescript-eslint/no-explicit-any */
interface Model {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event?: string | null, cb?: ((...args: any[]) => void) | null): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[]): void;
}

type Reply = { content: any; buffers: DataView[] };

/** A DataSource answered by the kernel: one custom message per request, matched by id. */
export function modelSource(model: Model): DataSource & { dispose(): void } {
  let next = 0;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  const onMessage = (msg: any, buffers: DataView[]) => {
    if (msg?.type !== 'reply') return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error));
    else p.resolve({ content: msg.content, buffers: buffers ?? [] });
  };
  model.on('msg:custom', onMessage);
  const ask = (path: string, params: Params = {}, want: 'json' | 'frame'): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      const clean: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') clean[k] = v;
      model.send({ type: 'get', id, path, params: clean, want });
    });
  return {
    json: async <T>(path: string, params?: Params) => (await ask(path, params, 'json')).content as T,
    frame: async <H>(path: string, params?: Params): Promise<Frame<H>> => {
      const dv = (await ask(path, params, 'frame')).buffers[0];
      // a copy that starts at offset 0, so the frame's 8-byte aligned buffers stay aligned
      return decodeFrame<H>(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength) as ArrayBuffer);
    },
    dispose: () => model.off('msg:custom', onMessage),
  };
}

const HTML = `
  <div class="slw-bar">
    <b class="slw-brand">spacelens</b>
    <label>Colour <select class="slw-color"></select></label>
    <label class="check" title="Drag to lasso-select (or hold shift)"><input type="checkbox" class="slw-lasso" /> lasso</label>
    <button class="slw-clear" disabled>Clear selection</button>
    <span class="slw-status muted"></span>
  </div>
  <div class="slw-body">
    <div class="slw-work">
      <div class="maps">${mapPanelHtml('A')}${mapPanelHtml('B')}</div>
      <div class="slw-query">
        <div class="slw-query-info muted">Click a point to list its nearest neighbours in both spaces.</div>
        <div class="tables" hidden>
          <div class="table-col"><h4 class="slw-ta"></h4><div class="table-scroll"><table class="slw-table-a"></table></div></div>
          <div class="table-col"><h4 class="slw-tb"></h4><div class="table-scroll"><table class="slw-table-b"></table></div></div>
        </div>
      </div>
    </div>
    <aside class="slw-side">
      <section class="panel"><h3>Colour</h3><div class="slw-legend"></div></section>
      <section class="panel"><h3>Selection</h3><div class="slw-selection" data-count="0">Nothing selected.</div></section>
      <section class="panel"><h3>Neighbourhood agreement <span class="muted">(per-item kNN Jaccard)</span></h3><div class="slw-hist"></div></section>
    </aside>
  </div>
  <div class="tooltip slw-tooltip" hidden></div>`;

const PLAIN_BAR = '#7c8db5';

/** One widget on the page: its own maps, state and source (several can live in one notebook). */
class Analyzer {
  readonly el: HTMLElement;
  readonly model: Model;
  readonly src: ReturnType<typeof modelSource>;
  readonly maps: LinkedMaps;
  readonly tooltip: ItemTooltip;
  colors: { header: ColorHeader; codes: Uint8Array } | null = null;
  scale: Scale | null = null;
  comparison: { header: ComparisonHeader; bins: Uint8Array } | null = null;
  selection = new Uint32Array(0);
  queryRow: number | null = null;
  pickedBin: number | null = null;
  generation = 0;

  constructor(model: Model, el: HTMLElement) {
    this.model = model;
    this.el = el;
    el.classList.add('slw');
    el.innerHTML = HTML;
    el.style.setProperty('--slw-height', `${model.get('height') ?? 420}px`);
    this.src = modelSource(model);
    // the page's tooltip, fed by the kernel and placed inside the widget (a notebook's output
    // area may be transformed or scrolled, so not position: fixed)
    this.tooltip = new ItemTooltip(
      () => this.$('.slw-tooltip'),
      (row) => this.src.json<Item>(`datasets/${encodeURIComponent(this.model.get('dataset'))}/items/${row}`,
        { a: this.a, b: this.b, k: this.model.get('k') }),
      (row) => `${this.model.get('dataset')}|${row}|${this.a}|${this.b}|${this.model.get('k')}`,
      (tip, x, y) => {
        const box = this.el.getBoundingClientRect();
        tip.style.left = `${Math.max(0, Math.min(x - box.left + 14, box.width - 300))}px`;
        tip.style.top = `${Math.max(0, Math.min(y - box.top + 14, box.height - 160))}px`;
      },
    );
    const [rootA, rootB] = Array.from(el.querySelectorAll<HTMLElement>('.map'));
    this.maps = linkedMaps(rootA, rootB, {
      over: (view, point, ev) => {
        const row = view.rows[point];
        this.maps.other(view).hoverRow(row);
        this.tooltip.show(row, view, point, ev);
      },
      out: (view) => {
        this.maps.other(view).hoverRow(this.queryRow);
        this.tooltip.hide();
      },
      select: (view, points) => {
        if (!points.length) { this.clear(); return; }
        const rows = Uint32Array.from(points, (p) => view.rows[p]);
        if (points.length === 1) { void this.query(rows[0]); return; }
        this.clearQuery();
        this.setSelection(rows, `${points.length} items lassoed in ${view.side === 'A' ? this.a : this.b}`, view);
      },
      deselect: () => this.clear(),
    });
    const lasso = this.$<HTMLInputElement>('.slw-lasso');
    lasso.onchange = () => { for (const v of this.views) v.setLasso(lasso.checked); };
    this.$<HTMLButtonElement>('.slw-clear').onclick = () => this.clear();
    const color = this.$<HTMLSelectElement>('.slw-color');
    color.onchange = () => { this.model.set('color', color.value); this.model.save_changes(); };
    model.on('change:selected_rows', this.onRowsFromPython);
    model.on('change:color', this.onColor);
    model.on('change:spaces change:method change:k', this.onReload);
  }

  get a(): string { return this.model.get('spaces')[0]; }
  get b(): string { return this.model.get('spaces')[1]; }
  get views(): MapView[] { return [this.maps.A, this.maps.B]; }
  $<T extends HTMLElement = HTMLElement>(sel: string): T { return this.el.querySelector(sel) as T; }
  status(msg: string): void { this.$('.slw-status').textContent = msg; }

  private onRowsFromPython = () => {
    const rows = Uint32Array.from(this.model.get('selected_rows') as number[]);
    if (sameRows(rows, this.selection)) return;  // our own change coming back
    this.clearQuery();
    this.setSelection(rows, `${rows.length} items selected from Python`, null, false);
  };
  private onColor = () => { void this.recolor(); };
  private onReload = () => { void this.load(); };

  async load(): Promise<void> {
    const gen = ++this.generation;
    const { a, b } = this;
    const method = this.model.get('method') as string;
    const k = this.model.get('k') as number;
    const dataset = this.model.get('dataset') as string;
    this.status('loading maps…');
    const columns = (this.model.get('columns') as string[]) ?? [];
    const color = this.$<HTMLSelectElement>('.slw-color');
    color.innerHTML = ['coincidence', ...columns].map((c) => `<option value="${esc(c)}">${c === 'coincidence' ? 'coincidence (kNN Jaccard)' : esc(c)}</option>`).join('');
    color.value = this.model.get('color');
    try {
      const [fa, fb, comp] = await Promise.all([
        this.src.frame<MapHeader>(`spaces/${encodeURIComponent(a)}/map`, { method }),
        this.src.frame<MapHeader>(`spaces/${encodeURIComponent(b)}/map`, { method }),
        this.src.frame<ComparisonHeader>('comparison', { a, b, k, dataset }),
      ]);
      if (gen !== this.generation) return;
      this.comparison = { header: comp.header, bins: comp.buffers.bins as Uint8Array };
      const loaded = [fa, fb].map((f) => ({ f, rows: mapRows(f.header.rows, f.header.n, f.buffers) }));
      await this.loadColors();
      if (gen !== this.generation) return;
      await Promise.all(this.views.map(async (view, i) => {
        const { f, rows } = loaded[i];
        const h = f.header;
        view.root.querySelector('.map-title')!.textContent = `${view.side}: ${h.space}`;
        await view.show(h.space, h.method, f.buffers.x as Float32Array, f.buffers.y as Float32Array, rows, h.n_dataset,
          this.colors?.codes ?? null, []);
        const fa_ = h.faithfulness ?? {};
        view.root.querySelector('.faith')!.textContent = `${METHOD_LABEL[h.method] ?? h.method} · kNN preservation ${fmt(fa_.knn_preservation)} · trustworthiness ${fmt(fa_.trustworthiness)}`;
      }));
      await this.recolor(false);
      for (const v of this.views) v.fit();
      this.renderHistogram();
      const rows = Uint32Array.from(this.model.get('selected_rows') as number[]);
      if (rows.length) this.setSelection(rows, `${rows.length} items selected from Python`, null, false);
      this.status(`${this.maps.A.n.toLocaleString()} + ${this.maps.B.n.toLocaleString()} points · k = ${k}`);
      this.el.dataset.ready = String(gen);
    } catch (e) {
      this.status(`error: ${(e as Error).message}`);
      this.el.dataset.error = (e as Error).message;
    }
  }

  private async loadColors(): Promise<void> {
    const by = this.model.get('color') as string;
    this.colors = null;
    if (!by) return;
    const f = await this.src.frame<ColorHeader>(`datasets/${encodeURIComponent(this.model.get('dataset'))}/colors`,
      { by, a: this.a, b: this.b, k: this.model.get('k') });
    this.colors = { header: f.header, codes: f.buffers.codes as Uint8Array };
  }

  /** Colours fitted to the drawn points of both maps, the legend, the histogram's bars. */
  async recolor(fetch = true): Promise<void> {
    const legend = this.$('.slw-legend');
    try {
      if (fetch) await this.loadColors();
    } catch (e) {
      legend.innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
      return;
    }
    const c = this.colors;
    this.$<HTMLSelectElement>('.slw-color').value = this.model.get('color');
    this.scale = c ? fitScale(c.header, c.codes, this.views) : null;
    await Promise.all(this.views.map((v) => v.recolor(c?.codes ?? null, this.scale?.palette ?? [])));
    legend.innerHTML = c && this.scale ? legendHtml(c.header, this.scale, { k: this.model.get('k'), a: this.a, b: this.b }).html
      : '<p class="muted">One colour.</p>';
    legend.dataset.by = c?.header.by ?? '';
    this.renderHistogram();
    for (const v of this.views) v.selectRows(this.selection);
  }

  private renderHistogram(): void {
    const c = this.comparison;
    const box = this.$('.slw-hist');
    if (!c) return;
    const col = this.colors;
    const barColor = (v: number) => (col?.header.kind === 'coincidence' && this.scale ? valueColor(col.header, this.scale, v) : PLAIN_BAR);
    box.innerHTML = histogramHtml(c.header, this.pickedBin, barColor);
    box.querySelectorAll<SVGRectElement>('rect.hit').forEach((r) => {
      r.addEventListener('click', () => {
        const bin = Number(r.dataset.bin);
        this.clearQuery();
        this.setSelection(rowsOfBin(c.bins, bin), binLabel(c.header, bin));
        this.pickedBin = bin;
        box.querySelectorAll('rect.bar').forEach((b) => b.classList.toggle('picked', Number((b as SVGElement).dataset.bin) === bin));
      });
    });
  }

  /** The same dataset rows selected in both maps, and sent to Python (unless they came from it). */
  setSelection(rows: Uint32Array, label: string, from: MapView | null = null, toPython = true, mapsToo = true): void {
    const sorted = Uint32Array.from(new Set(rows)).sort();
    this.selection = sorted;
    this.pickedBin = null;
    if (mapsToo) for (const v of this.views) if (v !== from) v.selectRows(sorted);
    const info = this.$('.slw-selection');
    info.textContent = sorted.length ? `${sorted.length.toLocaleString()} selected: ${label}` : 'Nothing selected.';
    info.dataset.count = String(sorted.length);
    this.$<HTMLButtonElement>('.slw-clear').disabled = sorted.length === 0;
    if (toPython && !sameRows(sorted, Uint32Array.from(this.model.get('selected_rows') as number[]))) {
      this.model.set('selected_rows', Array.from(sorted));
      this.model.save_changes();
    }
  }

  clear(): void {
    this.clearQuery();
    this.setSelection(new Uint32Array(0), '');
  }

  async query(row: number): Promise<void> {
    const info = this.$('.slw-query-info');
    info.textContent = 'querying…';
    try {
      const res = await this.src.json<QueryResult>('query', { space: this.a, vs: this.b, row, k: this.model.get('k') });
      this.queryRow = row;
      const shared = new Set(res.shared);
      info.innerHTML = `<b>${esc(res.query)}</b> · k = ${res.k} · <span class="shared-mark">★</span> ${shared.size} of ${res.k} neighbours shared`;
      const fill = (table: string, title: string, space: string) => {
        const list = res.spaces[space] ?? [];
        this.$(title).innerHTML = `${esc(space)} <span class="muted">· ${list.length} neighbours</span>`;
        const t = this.$<HTMLTableElement>(table);
        t.innerHTML = neighbourTableHtml(list, shared, 'id', undefined, undefined, res);
        t.querySelectorAll<HTMLTableRowElement>('tbody tr').forEach((tr) => {
          const r = Number(tr.dataset.row);
          tr.onmouseenter = () => { for (const v of this.views) v.hoverRow(r); };
          tr.onmouseleave = () => { for (const v of this.views) v.hoverRow(this.queryRow); };
          tr.onclick = () => void this.query(r);
        });
        return list.map((n) => n.row);
      };
      const nA = fill('.slw-table-a', '.slw-ta', this.a);
      const nB = fill('.slw-table-b', '.slw-tb', this.b);
      this.$('.tables').hidden = false;
      this.setSelection(Uint32Array.from([row, ...nA, ...nB]), `query ${res.query} and its neighbours`, null, true, false);
      this.maps.A.selectRows([row, ...nA]);
      this.maps.B.selectRows([row, ...nB]);
      for (const v of this.views) v.hoverRow(row);
    } catch (e) {
      info.textContent = (e as Error).message;
    }
  }

  clearQuery(): void {
    this.queryRow = null;
    this.$('.tables').hidden = true;
    this.$('.slw-query-info').textContent = 'Click a point to list its nearest neighbours in both spaces.';
    for (const v of this.views) v.hoverRow(null);
  }

  dispose(): void {
    this.model.off('change:selected_rows', this.onRowsFromPython);
    this.model.off('change:color', this.onColor);
    this.model.off('change:spaces change:method change:k', this.onReload);
    this.src.dispose();
    this.tooltip.hide();
    for (const v of this.views) v.plot?.destroy();
  }
}

function sameRows(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function render({ model, el }: { model: Model; el: HTMLElement }): () => void {
  const w = new Analyzer(model, el);
  (el as any).__slw = w;  // a handle for tests (read-only use)
  void w.load();
  return () => w.dispose();
}

export default { render };
