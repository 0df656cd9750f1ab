// The registry tab: every dataset, experiment, space, comparison, evaluation and map with its
// figures. Long values wrap or are cut with the whole value in a tooltip; params read as
// key = value chips, not raw JSON.
import type { Registry } from './api';
import { esc } from './util';

const num = (v: unknown): string => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString() : v.toFixed(3)) : v == null ? '–' : esc(v));
const METHOD: Record<string, string> = { pca: 'PCA', umap: 'UMAP', 'pca-umap': 'PCA→UMAP' };

function table(id: string, title: string, head: string[], rows: string[][], attrs: string[] = []): string {
  const body = rows.length
    ? rows.map((r, i) => `<tr ${attrs[i] ?? ''}>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')
    : `<tr><td colspan="${head.length}" class="muted">none yet</td></tr>`;
  return `<section class="panel"><h3>${title} <span class="muted">${rows.length}</span></h3><div class="scroll-x"><table id="${id}" class="records"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table></div></section>`;
}

/** A value for a chip: numbers and short strings as they are, lists and objects in short. */
function short(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (Array.isArray(v)) return v.length <= 4 ? `[${v.map(short).join(', ')}]` : `[${v.slice(0, 3).map(short).join(', ')}, … ${v.length}]`;
  if (typeof v === 'object') { const n = Object.keys(v as object).length; return `{${n} ${n === 1 ? 'key' : 'keys'}}`; }
  return String(v);
}

/** Params as key = value chips; nested objects flattened one level (optimizer.lr = 0.001). */
export function chips(params: Record<string, unknown> | null | undefined, limit = 12): string {
  const flat: [string, unknown][] = [];
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v as object)) flat.push([`${k}.${k2}`, v2]);
    else flat.push([k, v]);
  }
  if (!flat.length) return '<span class="muted">–</span>';
  const shown = flat.slice(0, limit).map(([k, v]) => {
    const full = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    return `<span class="chip" title="${esc(`${k} = ${full}`)}"><span class="chip-k">${esc(k)}</span> ${esc(short(v))}</span>`;
  }).join('');
  const more = flat.length > limit ? `<span class="chip muted" title="${esc(flat.slice(limit).map(([k, v]) => `${k} = ${short(v)}`).join('\n'))}">+${flat.length - limit} more</span>` : '';
  return `<div class="chips">${shown}${more}</div>`;
}

/** A long text cut to one line, the whole of it in the tooltip. */
const cut = (s: string): string => `<span class="cut" title="${esc(s)}">${esc(s)}</span>`;

export function renderRegistry(root: HTMLElement, reg: Registry, open: (a: string, b: string, k: number | null) => void): void {
  const exps = reg.experiments as Record<string, unknown>[];
  root.innerHTML = [
    table('reg-datasets', 'Datasets', ['name', 'items', 'id field', 'columns', 'spaces'],
      reg.datasets.map((d) => [esc(d.name), num(d.n_rows), esc(d.id_field),
        cut((d.columns ?? []).map((c) => c.name).join(', ')), cut(d.spaces.join(', '))])),
    table('reg-experiments', 'Experiments', ['name', 'model', 'trained on', 'params'],
      exps.map((e) => [esc(e.name), esc(e.model_name ?? '–'), esc(e.train_dataset ?? '–'), chips(e.params as Record<string, unknown>)])),
    table('reg-spaces', 'Spaces', ['name', 'dataset', 'experiment', 'dim', 'items', 'maps'],
      reg.spaces.map((s) => [esc(s.name), esc(s.dataset), esc(s.experiment), num(s.dim), num(s.n_rows), esc(s.maps.map((m) => METHOD[m] ?? m).join(', ') || '–')])),
    table('reg-comparisons', 'Comparisons (click to open)', ['space A', 'space B', 'dataset', 'k', 'mean Jaccard'],
      reg.comparisons.map((c) => [esc(c.a), esc(c.b), esc(c.dataset), num(c.k), num(c.mean)]),
      reg.comparisons.map((c) => `class="link" data-a="${esc(c.a)}" data-b="${esc(c.b)}" data-k="${c.k ?? ''}"`)),
    table('reg-evaluations', 'Evaluations', ['space', 'settings', 'metrics'],
      reg.evaluations.map((e) => [esc(e.space),
        chips(Object.fromEntries(Object.entries(e.params).filter(([, v]) => v !== null && typeof v !== 'object'))),
        `<div class="chips">${Object.entries(e.metrics).map(([k, v]) => `<span class="chip"><span class="chip-k">${esc(k)}</span> <b>${v.toFixed(3)}</b></span>`).join('')}</div>`])),
    table('reg-maps', 'Maps', ['space', 'map', 'kNN preservation', 'trustworthiness'],
      reg.maps.map((m) => [esc(m.space),
        `${esc(METHOD[m.method] ?? m.method)}${m.align_to ? ` <span class="tag" title="rotated, reflected and scaled onto the map of ${esc(m.align_to)}">aligned to ${esc(m.align_to)}</span>` : ''}`,
        num(m.faithfulness?.knn_preservation), num(m.faithfulness?.trustworthiness)]),
      reg.maps.map((m) => `data-method="${esc(m.method)}" data-aligned="${m.align_to ? '1' : '0'}"`)),
  ].join('');
  root.querySelectorAll<HTMLTableRowElement>('#reg-comparisons tr.link').forEach((tr) => {
    tr.onclick = () => open(tr.dataset.a!, tr.dataset.b!, tr.dataset.k ? Number(tr.dataset.k) : null);
  });
}
