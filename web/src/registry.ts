// The registry tab: every dataset, experiment, space, comparison and evaluation with its figures.
import type { Registry } from './api';

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v: unknown): string => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString() : v.toFixed(3)) : v == null ? '–' : esc(v));

function table(id: string, title: string, head: string[], rows: string[][], attrs: string[] = []): string {
  const body = rows.length
    ? rows.map((r, i) => `<tr ${attrs[i] ?? ''}>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')
    : `<tr><td colspan="${head.length}" class="muted">none yet</td></tr>`;
  return `<section class="panel"><h3>${title} <span class="muted">${rows.length}</span></h3><table id="${id}" class="records"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body}</tbody></table></section>`;
}

export function renderRegistry(root: HTMLElement, reg: Registry, open: (a: string, b: string, k: number | null) => void): void {
  const exps = reg.experiments as Record<string, unknown>[];
  root.innerHTML = [
    table('reg-datasets', 'Datasets', ['name', 'items', 'id field', 'columns', 'spaces'],
      reg.datasets.map((d) => [esc(d.name), num(d.n_rows), esc(d.id_field),
        esc((d.columns ?? []).map((c) => c.name).join(', ')), esc(d.spaces.join(', '))])),
    table('reg-experiments', 'Experiments', ['name', 'model', 'trained on', 'params'],
      exps.map((e) => [esc(e.name), esc(e.model_name ?? '–'), esc(e.train_dataset ?? '–'), esc(JSON.stringify(e.params ?? {}))])),
    table('reg-spaces', 'Spaces', ['name', 'dataset', 'experiment', 'dim', 'items', 'maps'],
      reg.spaces.map((s) => [esc(s.name), esc(s.dataset), esc(s.experiment), num(s.dim), num(s.n_rows), esc(s.maps.join(', ') || '–')])),
    table('reg-comparisons', 'Comparisons (click to open)', ['space A', 'space B', 'dataset', 'k', 'mean Jaccard'],
      reg.comparisons.map((c) => [esc(c.a), esc(c.b), esc(c.dataset), num(c.k), num(c.mean)]),
      reg.comparisons.map((c) => `class="link" data-a="${esc(c.a)}" data-b="${esc(c.b)}" data-k="${c.k ?? ''}"`)),
    table('reg-evaluations', 'Evaluations', ['space', 'params', 'metrics'],
      reg.evaluations.map((e) => [esc(e.space),
        esc(Object.entries(e.params).filter(([, v]) => v !== null && typeof v !== 'object').map(([k, v]) => `${k}=${v}`).join(' ')),
        Object.entries(e.metrics).map(([k, v]) => `${esc(k)} <b>${v.toFixed(3)}</b>`).join(' · ')])),
    table('reg-maps', 'Maps', ['space', 'method', 'kNN preservation', 'trustworthiness'],
      reg.maps.map((m) => [esc(m.space), esc(m.method), num(m.faithfulness?.knn_preservation), num(m.faithfulness?.trustworthiness)])),
  ].join('');
  root.querySelectorAll<HTMLTableRowElement>('#reg-comparisons tr.link').forEach((tr) => {
    tr.onclick = () => open(tr.dataset.a!, tr.dataset.b!, tr.dataset.k ? Number(tr.dataset.k) : null);
  });
}
