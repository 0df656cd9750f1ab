// The answer strip, above the maps, on open and with no click: for the pair on screen, up to three
// short sentences (spacelens.answer, the same as the CLI's first lines and the report's first
// section): which space retrieves better (when the dataset has an evaluated label column), how
// alike the neighbourhoods are against chance and the seed baseline (a reseeded run of A, found
// automatically), and where they differ most, each class or group one click from selecting its items.
// Computed as a job (stored comparisons are reused), so a long one shows progress and never blocks.
import { figuresForAnswer, figuresPaused } from './figures';
import { jobResult } from './jobs';
import { about, type Plan } from './scale';
import { setSelection } from './selection';
import { state } from './state';
import { esc, $ } from './util';

interface Group { label?: string | number; rows: number[]; n_items?: number; n?: number }
interface Sentence { key: 'retrieval' | 'agreement' | 'where'; text: string; classes?: Group[]; items?: Group | null; label_field?: string }
export interface Answer {
  sentences: Sentence[]; aliases: Record<string, string>; baseline: string | null; label_field: string | null;
  k: number; retrieval_skipped?: string;
  /** The first line of an answer resting on samples (spacelens.budget), and each sampled result's plan. */
  sampled?: string; budget?: Plan[];
}

/** Called when an answer arrives (main.ts redraws when the answer stored a comparison the page lacked). */
export const answerHooks: { done: (ans: Answer) => void | Promise<void> } = { done: () => {} };

let shownKey = '';
let pending = '';
let shown: Answer | null = null;

const key = () => `${state.a}|${state.b}|${state.k}`;

/** Ask for the answer of the pair on screen (once per pair and k, unless ``again``: what it rests
 * on was computed meanwhile), and show it when it comes. */
export async function renderAnswer(again = false): Promise<void> {
  const box = $('#answer');
  if (!state.a || !state.b || state.a === state.b) { box.hidden = true; shownKey = ''; return; }
  const k = key();
  // asked again: the sampled answer stays on show, its first line saying it is being redone
  const keep = again && k === shownKey && shown !== null && box.querySelector('.sampled-note .short') !== null;
  if (again && k === shownKey) shownKey = '';
  if (k === shownKey || k === pending) return;
  pending = k;
  box.hidden = false;
  box.dataset.state = 'working';
  if (!keep) {
    figuresPaused();   // the shown items' line comes back with the new answer
    box.classList.remove('open');
    box.classList.remove('sampled');
    box.innerHTML = `<p class="muted">Working out which of A and B is better and where they differ (k = ${state.k})…</p>`;
  }
  const progressLine = () => (keep ? box.querySelector('.sampled-note .short') : box.querySelector('p'));
  if (keep) progressLine()!.textContent = 'Sampled answer: working it out again from the stored comparison…';
  try {
    const job = await jobResult<Answer>('jobs', { kind: 'answer', a: state.a, b: state.b, k: state.k, dataset: state.dataset?.name },
      null, (j) => { const line = progressLine(); if (line && j.stage && pending === k) line.textContent = `${j.stage}…`; });
    if (pending !== k) return;
    if (job.status !== 'done' || !job.result) throw new Error(job.error ?? `the answer was ${job.status}`);
    shown = job.result;
    shownKey = k;
    draw(box, shown);
    await answerHooks.done(shown);
    box.dataset.state = 'done';   // what the answer stored is on the page too
  } catch (e) {
    if (pending !== k) return;
    box.dataset.state = 'error';
    box.innerHTML = `<p class="error">${esc((e as Error).message)}</p>`;
  } finally {
    if (pending === k) pending = '';
  }
}

function draw(box: HTMLElement, ans: Answer): void {
  box.dataset.state = 'drawn';
  box.innerHTML = '';
  box.classList.toggle('sampled', Boolean(ans.sampled));
  if (ans.sampled) box.append(sampledLine(ans));
  for (const s of ans.sentences) {
    const p = document.createElement('p');
    p.className = `sentence ${s.key}`;
    p.dataset.key = s.key;
    const text = document.createElement('span');
    text.textContent = s.text;
    p.append(text);
    const groups: { name: string; rows: number[] }[] = [];
    if (s.key === 'where' && s.classes) {
      for (const c of s.classes) groups.push({ name: `${s.label_field ?? ans.label_field ?? 'class'} ${c.label}`, rows: c.rows });
    } else if (s.key === 'where' && s.items) {
      groups.push({ name: `these ${s.items.rows.length.toLocaleString()} items`, rows: s.items.rows });
    }
    for (const g of groups) {
      if (!g.rows.length) continue;
      const btn = document.createElement('button');
      btn.className = 'select-group';
      btn.textContent = `select ${g.name}`;
      btn.title = `Select the ${g.rows.length.toLocaleString()} items in both maps`;
      btn.onclick = () => setSelection(Uint32Array.from(g.rows), `${g.name} (from the answer)`);
      p.append(' ', btn);
    }
    box.append(p);
  }
  if (ans.retrieval_skipped) {
    const p = document.createElement('p');
    p.className = 'muted small';
    const span = document.createElement('span');
    span.textContent = ans.retrieval_skipped;
    p.append(span);
    box.append(p);
  }
  const more = document.createElement('button');
  more.className = 'details';
  const label = () => { more.textContent = box.classList.contains('open') ? 'less' : 'details'; };
  more.onclick = () => { box.classList.toggle('open'); label(); };
  label();
  (box.querySelector('p:last-of-type') ?? box).append(more);   // at the end of the last line, never over a button
  for (const span of box.querySelectorAll<HTMLElement>('p > span')) span.title ||= span.textContent ?? '';
  // with a filter on, a line for the shown items follows (figures.ts)
  figuresForAnswer({ a: state.a, b: state.b, k: state.k, label_field: ans.label_field, baseline: ans.baseline });
}

/** First, what a sampled answer rests on and what the full one would cost, in one short line (the
 * server's whole line in its title, and in full under "details"); the sentences follow. */
function sampledLine(ans: Answer): HTMLElement {
  const p = document.createElement('p');
  p.className = 'sampled-note';
  const plans = ans.budget ?? [];
  const what = plans.map((b) => `${(b.sample ?? 0).toLocaleString()} random ${b.verb === 'comparison' ? 'items' : 'queries'} of ${b.n_items.toLocaleString()}`);
  const seconds = plans.reduce((s, b) => s + b.full_seconds, 0);
  const span = document.createElement('span');
  span.className = 'short';
  span.textContent = plans.length
    ? `Sampled answer: ${what.join(' and ')}, with 95% intervals; in full it would take about ${about(seconds)} here.`
    : ans.sampled ?? '';
  const full = document.createElement('span');
  full.className = 'long';
  full.textContent = ans.sampled ?? '';
  span.title = ans.sampled ?? '';
  p.append(span, full);
  return p;
}

/** The answer on show (for tests). */
export function shownAnswer(): Answer | null { return shown; }
