// The evaluation panel: the stored metrics of each shown space, one column per evaluation.
import { enc, getJSON, type Evaluation } from './api';
import { definition, loadCatalogue, metricOrder, short } from './catalogue';
import { els, state } from './state';
import { esc } from './util';

export async function renderEvaluations(gen: number): Promise<void> {
  await loadCatalogue();
  const spaces = state.a === state.b ? [state.a] : [state.a, state.b];
  const parts = await Promise.all(spaces.map(async (s) => {
    const rec = await getJSON<{ evaluations: Evaluation[] }>(`spaces/${enc(s)}`).catch(() => ({ evaluations: [] as Evaluation[] }));
    const evs = rec.evaluations;
    if (!evs.length) return `<h4 title="${esc(s)}">${esc(s)}</h4><p class="muted">No evaluation stored (spacelens evaluate ${esc(s)} --label-field …).</p>`;
    const names = metricOrder(Array.from(new Set(evs.flatMap((e) => Object.keys(e.metrics)))));
    const label = (e: Evaluation) => {
      const p = e.params as Record<string, unknown>;
      return p.label_field ? `${p.label_field} · ${p.metric ?? ''}${p.split ? ' · split' : ''}` : (e.name ?? `#${e.id}`);
    };
    const head = `<tr><th></th>${evs.map((e) => `<th title="${esc(label(e))}">${esc(label(e))}</th>`).join('')}</tr>`;
    const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '–');
    const body = names.map((m) => `<tr><th title="${esc(definition(m))}" data-metric="${esc(m)}">${esc(short(m))}</th>${evs.map((e) => `<td>${num(e.metrics[m])}</td>`).join('')}</tr>`).join('');
    return `<h4 title="${esc(s)}">${esc(s)}</h4><div class="scroll-x"><table class="metrics" data-space="${esc(s)}">${head}${body}</table></div>`;
  }));
  if (gen === state.generation) els.evaluation.innerHTML = parts.join('');
}
