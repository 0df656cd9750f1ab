// Builds the KDBush spatial index of a map's points off the main thread, from typed arrays.
// regl-scatterplot would otherwise build it from a million small [x, y] arrays (copied into
// its own worker), which takes seconds; it accepts a ready index as `draw(..., { spatialIndex })`.
import { spatialIndex } from './spatial';

self.onmessage = (e: MessageEvent<{ x: Float32Array; y: Float32Array }>) => {
  const data = spatialIndex(e.data.x, e.data.y);
  (self as unknown as Worker).postMessage(data, [data]);
};
