// The controls bar: the registry behind the pickers, which dataset and spaces are shown, the
// colouring and map method, the page address that remembers them, and what the page opens on
// when the address says nothing: the pair of spaces compared last.
import './readable.css';
import { enc, getJSON, type Comparison, type Dataset, type Registry, type Space } from './api';
import { forgetFacets } from './facets';
import { resetFilters } from './filter';
import { els, state } from './state';
import { forgetItems } from './tooltip';
import { esc } from './util';

export async function loadRegistry(): Promise<Registry> {
  state.registry = await getJSON<Registry>('registry');
  return state.registry;
}

/** The spaces of dataset ``ds`` the page can show: those whose vectors were pruned cannot be
 * compared or mapped again, so the pickers leave them out (the Registry tab lists them). */
export function spacesOf(ds: string): Space[] {
  return (state.registry?.spaces ?? []).filter((s) => s.dataset === ds && !s.pruned_at);
}

export interface Option { value: string; label: string; title?: string; group?: string; full?: string }

const relabelled = new WeakSet<HTMLSelectElement>();

/** Fill a picker. Items with a ``group`` go under one <optgroup> each (in the order the groups
 * first appear), shown by their short ``label``; the chosen one shows its ``full`` name instead,
 * since a closed picker shows no group. Every option's full name is in its title. */
export function options(sel: HTMLSelectElement, items: Option[], value: string): void {
  const opt = (o: Option) => `<option value="${esc(o.value)}" title="${esc(o.title ?? o.full ?? o.label)}" data-short="${esc(o.label)}" data-full="${esc(o.full ?? o.label)}">${esc(o.label)}</option>`;
  const blocks: (Option | Option[])[] = [];   // ungrouped options and groups, in first-seen order
  const groups = new Map<string, Option[]>();
  for (const o of items) {
    if (o.group === undefined) { blocks.push(o); continue; }
    let g = groups.get(o.group);
    if (!g) { g = []; groups.set(o.group, g); blocks.push(g); }
    g.push(o);
  }
  sel.innerHTML = blocks.map((b) => (Array.isArray(b)
    ? `<optgroup label="${esc(b[0].group)}">${b.map(opt).join('')}</optgroup>` : opt(b))).join('');
  if (items.some((o) => o.value === value)) sel.value = value;
  showChosen(sel);
  if (!relabelled.has(sel)) { relabelled.add(sel); sel.addEventListener('change', () => showChosen(sel)); }
}

/** The chosen option shows its full name (the closed picker), the others their short label. */
function showChosen(sel: HTMLSelectElement): void {
  for (const o of Array.from(sel.options)) {
    const text = o.selected ? o.dataset.full : o.dataset.short;
    if (text !== undefined && o.textContent !== text) o.textContent = text;
  }
  sel.title = sel.selectedOptions[0]?.title ?? '';
}

/** What tells a space apart inside its experiment's group: its name after the experiment's,
 * "epoch_20.val" read as "epoch 20 · val"; the whole name when it does not start with it. */
export function spaceTail(name: string, experiment: string): string {
  if (!experiment || name === experiment || !name.startsWith(experiment)) return name;
  const rest = name.slice(experiment.length).replace(/^[._\-/:\s]+/, '');
  if (!rest) return name;
  return rest.split('.').filter(Boolean).map((p) => p.replace(/_/g, ' ')).join(' · ');
}

/** The space pickers' options: grouped by experiment (in registry order), epochs in step
 * order (2 before 10), each shown by what tells it apart, its full name in the title. */
export function spaceOptions(spaces: Space[]): Option[] {
  const order = new Map<string, number>();
  for (const s of spaces) if (!order.has(s.experiment)) order.set(s.experiment, order.size);
  const step = (s: Space) => (typeof s.step === 'number' ? s.step : -Infinity);
  const sorted = [...spaces].sort((x, y) => order.get(x.experiment)! - order.get(y.experiment)!
    || step(x) - step(y) || String(x.split ?? '').localeCompare(String(y.split ?? '')) || x.name.localeCompare(y.name));
  const several = order.size > 1 || spaces.some((s) => s.name !== s.experiment);
  return sorted.map((s) => ({
    value: s.name, full: s.name, label: several ? spaceTail(s.name, s.experiment) : s.name,
    group: several ? s.experiment : undefined,
    title: `${s.name}: experiment ${s.experiment}${typeof s.step === 'number' ? `, step ${s.step}` : ''}${s.split ? `, ${s.split} split` : ''}, ${s.dim} dimensions, ${s.n_rows.toLocaleString()} items`,
  }));
}

/** The most recently stored comparison of two different spaces (of one dataset, if given). */
export function latestComparison(dataset?: string): Comparison | null {
  const pairs = (state.registry?.comparisons ?? []).filter((c) => c.a !== c.b && (!dataset || c.dataset === dataset));
  // a seed baseline (two runs of one recipe) is computed beside the pair asked about: open on that pair
  const asked = pairs.filter((c) => !c.seed_pair);
  const all = asked.length ? asked : pairs;
  let best: Comparison | null = null;
  for (const c of all) if (!best || c.id > best.id) best = c;
  return best;
}

export function compared(a: string, b: string): Comparison | null {
  const pair = new Set([a, b]);
  const hits = (state.registry?.comparisons ?? []).filter((c) => c.a !== c.b && pair.has(c.a) && pair.has(c.b));
  return hits.length ? hits.reduce((x, y) => (y.id > x.id ? y : x)) : null;
}

/** Pick the dataset ``name``; with two spaces not of it, open on its last compared pair, and on that
 * comparison's k only when ``keepK`` is false (the page's first open without a k asked for): once
 * the page shows a k, only the user changes it. */
export async function chooseDataset(name: string, keepK = false): Promise<void> {
  const before = state.dataset?.name;
  state.dataset = name ? await getJSON<Dataset>(`datasets/${enc(name)}`) : null;
  if (before !== undefined && before !== name) {   // another dataset's rows: its filters and charts go
    resetFilters();
    forgetFacets();
  }
  forgetItems();
  const spaces = state.dataset ? spacesOf(state.dataset.name) : [];
  const names = spaceOptions(spaces);
  const known = (n: string) => spaces.some((s) => s.name === n);
  if (!known(state.a) || !known(state.b)) {
    const last = state.dataset ? latestComparison(state.dataset.name) : null;
    if (last && known(last.a) && known(last.b)) {
      state.a = last.a;
      state.b = last.b;
      if (last.k && !keepK) state.k = last.k;
    } else {
      if (!known(state.a)) state.a = spaces[0]?.name ?? '';
      if (!known(state.b)) state.b = spaces.find((s) => s.name !== state.a)?.name ?? state.a;
    }
  }
  els.k.value = String(state.k);
  options(els.a, names, state.a);
  options(els.b, names, state.b);
  fillColors();
}

export function fillColors(): void {
  const cols = (state.dataset?.columns ?? []).filter((c) => c.kind === 'categorical' || c.kind === 'numeric');
  const items = [{ value: '', label: '(one colour)' }, { value: 'coincidence', label: 'coincidence (kNN Jaccard)' },
    ...cols.map((c) => ({ value: c.name, label: `${c.name} (${c.kind === 'numeric' ? 'gradient' : 'categories'})` }))];
  if (!state.colorChosen || !items.some((o) => o.value === state.color)) {
    // an evaluated label column first (a label column everywhere), then the first categorical one
    const firstCat = cols.find((c) => c.evaluated && c.kind === 'categorical' && !c.is_id)
      ?? cols.find((c) => c.kind === 'categorical' && !c.is_id);
    state.color = firstCat ? firstCat.name : compared(state.a, state.b) ? 'coincidence' : '';
  }
  options(els.color, items, state.color);
}

// the page address lives in address.ts (saved views); re-exported for the modules that write it
export { writeUrl } from './address';
