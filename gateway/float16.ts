import { getFloat16, setFloat16 } from '@petamoriken/float16';

/*
 * IEEE 754 half precision, as onnxruntime stores float16 tensors (raw bits in
 * a Uint16Array). Node 20 has no Float16Array; @petamoriken/float16 rounds a
 * double straight to half precision (to nearest, ties to even), without the
 * double rounding a detour through float32 would add.
 */
const view = new DataView(new ArrayBuffer(2));

/** The half-precision bits nearest to `value` (round to nearest even; overflow to ±Infinity). */
export function toHalf(value: number): number {
  setFloat16(view, 0, value, true);
  return view.getUint16(0, true);
}

/** The number that half-precision bits `h` encode. */
export function fromHalf(h: number): number {
  view.setUint16(0, h, true);
  return getFloat16(view, 0, true);
}
