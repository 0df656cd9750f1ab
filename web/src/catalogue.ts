// The one catalogue of figures (spacelens.catalogue, served at GET /api/catalogue): every label,
// definition and order the page shows for a metric or measure comes from it, as on the CLI, in
// the report and in notebooks. Loaded once before the panels render; until then (or if the
// request fails) a figure shows under its own name.
import { getJSON } from './api';

export interface Figure {
  name: string; short: string; label: string; definition: string; family: 'metric' | 'measure';
  higher_is_better: boolean | null; range: [number, number]; chance: string | null; paired: boolean;
  doc: string; note: string;
}
export interface Catalogue { metrics: Figure[]; measures: Figure[]; primary_metric: string; versus_metrics: string[] }

let loaded: Catalogue | null = null;
const byName = new Map<string, Figure>();

export async function loadCatalogue(): Promise<Catalogue | null> {
  if (loaded) return loaded;
  try {
    loaded = await getJSON<Catalogue>('catalogue');
  } catch {
    return null;
  }
  for (const f of [...loaded.metrics, ...loaded.measures]) byName.set(f.name, f);
  return loaded;
}

/** The table header of a figure (its own name when the catalogue does not know it). */
export function short(name: string): string { return byName.get(name)?.short ?? name; }
/** One line saying what the figure is, for a title attribute. */
export function definition(name: string): string {
  const f = byName.get(name);
  return f ? `${f.label}: ${f.definition}${f.note ? ` (${f.note})` : ''}` : name;
}
/** Metric names in the catalogue's reading order; names it does not know go last. */
export function metricOrder(names: string[]): string[] {
  const order = (loaded?.metrics ?? []).map((f) => f.name);
  const rank = (n: string) => (order.includes(n) ? order.indexOf(n) : order.length);
  return [...names].sort((a, b) => rank(a) - rank(b));
}
/** The metrics a versus comparison reports, in the order its table shows them (primary last). */
export function versusRows(): [string, string][] {
  const names = loaded?.versus_metrics ?? ['mean_average_precision_at_r', 'r_precision', 'precision_at_1'];
  return names.slice().reverse().map((m) => [m, short(m)]);
}
