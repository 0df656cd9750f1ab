// Which map the page shows first: the most faithful one the pair has (mean kNN preservation), and,
// when a pair has only PCA and its spaces are small enough for UMAP to take seconds, UMAP computed in
// the background and shown when both are ready, unless the user picked a map. A PCA map often keeps
// a third of each item's neighbours: clusters that are clean in the space look mixed on it.
import { runJob } from './jobs';
import { els, state, status } from './state';

export const CHEAP_UMAP_ITEMS = 20_000;   // digits' 1,797 items: ~3 s; 20,000: well under a minute
const METHODS = ['umap', 'pca-umap', 'pca'];
let offered = '';

function preservation(space: string, method: string): number | null {
  const m = state.registry?.maps.find((x) => x.space === space && x.method === method && !x.align_to);
  const v = m?.faithfulness?.knn_preservation;
  return typeof v === 'number' ? v : null;
}

/** The map method both shown spaces have that keeps most neighbours (UMAP before PCA when unknown). */
export function mostFaithfulMethod(): string {
  const spaces = state.registry?.spaces ?? [];
  const have = (name: string) => new Set(spaces.find((s) => s.name === name)?.maps ?? []);
  const ma = have(state.a);
  const mb = have(state.b);
  const both = METHODS.filter((m) => ma.has(m) && mb.has(m));
  if (both.length) {
    const score = (m: string) => {
      const v = [preservation(state.a, m), preservation(state.b, m)].filter((x): x is number => x !== null);
      return v.length ? v.reduce((s, x) => s + x, 0) / v.length : -1 + (METHODS.length - METHODS.indexOf(m)) / 10;
    };
    return both.slice().sort((x, y) => score(y) - score(x))[0];
  }
  for (const m of METHODS) if (ma.has(m) || mb.has(m)) return m;
  return 'pca';
}

/** Show the most faithful map, unless the user (or the address) chose one; ``force``: choose anew
 * (another dataset, a comparison opened from the registry). */
export function followFaithfulMap(force = false): void {
  if (!force && state.methodChosen) return;
  state.method = mostFaithfulMethod();
  els.method.value = state.method;
}

/** Start UMAP for the shown spaces that lack it when that is cheap (once per pair); the jobs'
 * done hook redraws on the most faithful map. */
export function offerFaithfulMap(): void {
  if (state.methodChosen || !state.a || !state.b) return;
  const key = `${state.a}|${state.b}`;
  if (offered === key) return;
  offered = key;
  const spaces = state.registry?.spaces ?? [];
  const missing = Array.from(new Set([state.a, state.b])).filter((s) => {
    const sp = spaces.find((x) => x.name === s);
    return sp !== undefined && !sp.maps.includes('umap') && sp.n_rows <= CHEAP_UMAP_ITEMS;
  });
  if (!missing.length) return;
  status(`computing UMAP maps in the background (${missing.length === 1 ? missing[0] : 'both spaces'}): `
    + 'they usually keep more of each item\'s neighbours than PCA');
  for (const space of missing) void runJob({ kind: 'projection', space, method: 'umap' }, null);
}
