// The KDBush spatial index of a map's points (what regl-scatterplot's lasso and hover search),
// built from typed arrays; used in a worker by the page, and in place where no worker can start.
import KDBush from 'kdbush';

export function spatialIndex(x: ArrayLike<number>, y: ArrayLike<number>): ArrayBuffer {
  const index = new KDBush(x.length, 16, Float32Array);
  for (let i = 0; i < x.length; i++) index.add(x[i], y[i]);
  index.finish();
  return index.data;
}
