// The two map panels and what links them: the same item hovered in both (with a ring in the
// other map), one camera for both (zoom or pan either map and the other follows), and one
// fit that shows both maps whole. Selections and queries reach the maps through state.
import { type Area, MapView, type MapHandlers } from './maps';
import { $ } from './util';

/** What the page does when a point is hovered, clicked or lassoed (filled in by main.ts). */
export const pointEvents: Omit<MapHandlers, 'view'> = {
  over: () => {}, out: () => {}, select: () => {}, deselect: () => {},
};

const handlers: MapHandlers = {
  over: (v, p, ev) => pointEvents.over(v, p, ev),
  out: (v) => pointEvents.out(v),
  select: (v, pts) => pointEvents.select(v, pts),
  deselect: (v) => pointEvents.deselect(v),
  view(v, camera) {
    // setView moves the other camera without an event, so the two never echo each other
    other(v).setView(camera);
  },
};

export const maps = { A: new MapView($('#map-a'), handlers), B: new MapView($('#map-b'), handlers) };
export const other = (v: MapView): MapView => (v === maps.A ? maps.B : maps.A);

/** The union of both maps' extents: fitting either map to it gives both the same camera. */
function bothBounds(): Area | null {
  const boxes = [maps.A.bounds(), maps.B.bounds()].filter((b): b is Area => b !== null);
  if (!boxes.length) return null;
  const x0 = Math.min(...boxes.map((b) => b.x)), y0 = Math.min(...boxes.map((b) => b.y));
  const x1 = Math.max(...boxes.map((b) => b.x + b.width)), y1 = Math.max(...boxes.map((b) => b.y + b.height));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}
maps.A.fitArea = bothBounds;
maps.B.fitArea = bothBounds;
