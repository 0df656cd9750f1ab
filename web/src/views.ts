// The page's two map panels (#map-a, #map-b), linked by linked.ts: the same item hovered in
// both (with a ring in the other map), one camera for both, one fit that shows both maps whole.
// Selections and queries reach the maps through state.
import { linkedMaps, type PointEvents } from './linked';
import type { MapView } from './maps';
import { $ } from './util';

/** What the page does when a point is hovered, clicked or lassoed (filled in by main.ts). */
export const pointEvents: PointEvents = {
  over: () => {}, out: () => {}, select: () => {}, deselect: () => {},
};

const pair = linkedMaps($('#map-a'), $('#map-b'), pointEvents);
export const maps = { A: pair.A, B: pair.B };
export const other = (v: MapView): MapView => pair.other(v);
