// Builds the KDBush spatial index of a map's points off the main thread, from typed arrays.
// regl-scatterplot would otherwise build it from a million small [x, y] arrays (copied into
// its own worker), which takes seconds; it accepts a ready index as `draw(..., { spatialIndex })`.
import KDBush from 'kdbush';

self.onmessage = (e: MessageEvent<{ x: Float32Array; y: Float32Array }>) => {
  const { x, y } = e.data;
  const index = new KDBush(x.length, 16, Float32Array);
  for (let i = 0; i < x.length; i++) index.add(x[i], y[i]);
  index.finish();
  (self as unknown as Worker).postMessage(index.data, [index.data]);
};
