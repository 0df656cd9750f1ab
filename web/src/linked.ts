// Two linked map panels: the same item hovered in both, one camera for both (zoom or pan either
// map and the other follows), and one fit that shows both maps whole. Used by the analyzer page
// (views.ts) and the notebook widget (widget.ts); no page globals, so each can make its own pair.
import { type Area, MapView, type MapHandlers, unionArea } from './maps';

export type PointEvents = Omit<MapHandlers, 'view'>;

export interface LinkedMaps { A: MapView; B: MapView; other(v: MapView): MapView; }

/** Map panels in ``rootA`` and ``rootB`` (each holding the .canvas-wrap markup) with linked cameras. */
export function linkedMaps(rootA: HTMLElement, rootB: HTMLElement, events: PointEvents): LinkedMaps {
  const handlers: MapHandlers = {
    over: (v, p, ev) => events.over(v, p, ev),
    out: (v) => events.out(v),
    select: (v, pts) => events.select(v, pts),
    deselect: (v) => events.deselect(v),
    // setView moves the other camera without an event, so the two never echo each other
    view: (v, camera) => other(v).setView(camera),
  };
  const A = new MapView(rootA, handlers);
  const B = new MapView(rootB, handlers);
  const other = (v: MapView): MapView => (v === A ? B : A);
  /** The union of both maps' extents: fitting either map to it gives both the same camera. */
  const bothBounds = (): Area | null => unionArea([A.bounds(), B.bounds()]);
  A.fitArea = bothBounds;
  B.fitArea = bothBounds;
  return { A, B, other };
}

/** The markup of one map panel, as the page's index.html has it (for panels made in code). */
export function mapPanelHtml(side: 'A' | 'B'): string {
  return `<div class="map" data-side="${side}">
    <div class="map-head"><b class="map-title">Space ${side}</b><span class="faith"></span></div>
    <div class="canvas-wrap"><canvas></canvas><div class="marker" hidden></div><div class="overlay" hidden></div></div>
  </div>`;
}
