// Decoder for the server's binary frame (see src/spacelens/server/binary.py):
// "SLB1" | uint32 header length | JSON header | 8-byte aligned little-endian buffers.

export type TypedArray = Float32Array | Uint8Array | Uint16Array | Uint32Array | Int32Array;

interface BufferSpec { name: string; dtype: string; length: number; offset: number; }

export interface Frame<H = Record<string, unknown>> {
  header: H;
  buffers: Record<string, TypedArray>;
  bytes: number;
}

const CTORS: Record<string, new (b: ArrayBuffer, o: number, n: number) => TypedArray> = {
  float32: Float32Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, int32: Int32Array,
};

export function decodeFrame<H>(buf: ArrayBuffer): Frame<H> {
  const magic = new TextDecoder().decode(new Uint8Array(buf, 0, 4));
  if (magic !== 'SLB1') throw new Error('not a spacelens frame');
  const n = new DataView(buf).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  const base = 8 + n;
  const buffers: Record<string, TypedArray> = {};
  for (const spec of header.buffers as BufferSpec[]) {
    const Ctor = CTORS[spec.dtype];
    if (!Ctor) throw new Error(`unknown dtype ${spec.dtype}`);
    buffers[spec.name] = new Ctor(buf, base + spec.offset, spec.length);
  }
  return { header: header as H, buffers, bytes: buf.byteLength };
}

/** Dataset rows of a map's points: all rows, a little-endian bit mask, or an explicit list. */
export function mapRows(kind: string, n: number, buffers: Record<string, TypedArray>): Uint32Array {
  if (kind === 'list') return buffers.rows as Uint32Array;
  const rows = new Uint32Array(n);
  if (kind !== 'mask') {
    for (let i = 0; i < n; i++) rows[i] = i;
    return rows;
  }
  const mask = buffers.rows_mask as Uint8Array;
  let j = 0;
  for (let byte = 0; byte < mask.length && j < n; byte++) {
    let bits = mask[byte];
    while (bits) {
      const low = bits & -bits;
      rows[j++] = byte * 8 + (31 - Math.clz32(low));
      bits ^= low;
    }
  }
  return rows;
}
