// The evaluation panel: the stored metrics of each shown space, one column per evaluation.
// Labels and definitions come from the catalogue. With two spaces, each row marks the better
// of the two evaluations with the same settings (per the catalogue's higher_is_better): green
// here means "better" and nothing else.
import './readable.css';
import { enc, getJSON, type Evaluation } from './api';
import { definition, loadCatalogue, metricOrder, short } from './catalogue';
import { els, state } from './state';
import { esc } from './util';

/** Evaluations with equal settings (label column, distance, k, split, engine, clustering) are comparable. */
export function settingsKey(e: Evaluation): string {
  const p = e.params ?? {};
  const keys = Object.keys(p).sort();
  return JSON.stringify([keys.map((k) => [k, p[k]]), e.info?.k ?? null]);
}

/** Which side wins a metric: 'a', 'b', or null (a tie, a missing value, or a figure with no better direction). */
export function winner(va: unknown, vb: unknown, higherIsBetter: boolean | null | undefined): 'a' | 'b' | null {
  if (typeof va !== 'number' || typeof vb !== 'number' || !Number.isFinite(va) || !Number.isFinite(vb)) return null;
  if (higherIsBetter == null || va === vb) return null;
  return (va > vb) === higherIsBetter ? 'a' : 'b';
}

export async function renderEvaluations(gen: number): Promise<void> {
  const cat = await loadCatalogue();
  const higher = new Map<string, boolean | null>((cat?.metrics ?? []).map((f) => [f.name, f.higher_is_better]));
  const spaces = state.a === state.b ? [state.a] : [state.a, state.b];
  const evals = await Promise.all(spaces.map(async (s) => {
    const rec = await getJSON<{ evaluations: Evaluation[] }>(`spaces/${enc(s)}`).catch(() => ({ evaluations: [] as Evaluation[] }));
    return rec.evaluations;
  }));
  const two = spaces.length === 2;
  const tag = (i: number) => (two ? (i === 0 ? 'A' : 'B') : '');
  let marked = 0;
  const parts = spaces.map((s, i) => {
    const evs = evals[i];
    const head4 = `<h4 title="${esc(s)}">${tag(i) ? `<span class="side-tag">${tag(i)}</span> ` : ''}${esc(s)}</h4>`;
    if (!evs.length) return `${head4}<p class="muted">No evaluation stored (spacelens evaluate ${esc(s)} --label-field …).</p>`;
    const others = two ? evals[1 - i] : [];
    const peer = (e: Evaluation) => others.find((o) => settingsKey(o) === settingsKey(e)) ?? null;
    const names = metricOrder(Array.from(new Set(evs.flatMap((e) => Object.keys(e.metrics)))));
    const label = (e: Evaluation) => {
      const p = e.params as Record<string, unknown>;
      return p.label_field ? `${p.label_field} · ${p.metric ?? ''}${p.split ? ' · split' : ''}` : (e.name ?? `#${e.id}`);
    };
    const head = `<tr><th></th>${evs.map((e) => `<th title="${esc(label(e))}">${esc(label(e))}</th>`).join('')}</tr>`;
    const num = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '–');
    const cell = (e: Evaluation, m: string) => {
      const o = peer(e);
      const w = o ? winner(e.metrics[m], o.metrics[m], higher.get(m)) : null;
      if (w !== 'a') return `<td>${num(e.metrics[m])}</td>`;
      marked += 1;
      const dir = higher.get(m) ? 'higher' : 'lower';
      const why = `better than ${tag(1 - i)} (${num(o!.metrics[m])}, same settings): ${dir} is better`;
      return `<td class="win" data-win="1" title="${esc(why)}"><span class="win-mark" aria-label="better">▲</span>${num(e.metrics[m])}</td>`;
    };
    const body = names.map((m) => `<tr><th title="${esc(definition(m))}" data-metric="${esc(m)}">${esc(short(m))}</th>${evs.map((e) => cell(e, m)).join('')}</tr>`).join('');
    return `${head4}<div class="scroll-x"><table class="metrics" data-space="${esc(s)}">${head}${body}</table></div>`;
  });
  const comparable = two && evals[0].some((e) => evals[1].some((o) => settingsKey(o) === settingsKey(e)));
  const note = !two ? '' : comparable
    ? `<p class="eval-key small muted"><span class="win-mark">▲</span> the better of A and B on that row (same settings); hover a label for its definition.</p>`
    : (evals[0].length && evals[1].length ? `<p class="eval-key small muted">A and B were evaluated with different settings: no row is comparable, so none is marked.</p>` : '');
  if (gen === state.generation) {
    els.evaluation.innerHTML = note + parts.join('');
    els.evaluation.dataset.marked = String(marked);
  }
}
