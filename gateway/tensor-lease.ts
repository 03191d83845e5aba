import { allocate, type TensorData, type TensorDtype, type TypedArray } from '../replicas/index.js';
import { releaseBody } from './body-framing.js';
import { SHARED_FROM_BYTES, sharedBuffers } from './shared-buffers.js';

/**
 * The shared memory one request's tensors are in: the buffers they were
 * written into and the pooled body they may view. It goes back to the pool
 * ({@link giveBack}) once no replica can read it: the router says when
 * (CallControl.release).
 */
export class TensorLease {
  private taken: ArrayBufferLike[] = [];

  /** `header`: the request's parsed JSON, which holds its pooled body if it has one (see body-framing.ts). */
  constructor(private header: object | null = null) {}

  /** A tensor of `count` elements for the caller to write every element of: shared memory when large enough. */
  take(dtype: TensorDtype, count: number): TensorData {
    if (dtype === 'string') return allocate(dtype, count);
    const data = sharedBuffers.take(dtype, count);
    if (data.buffer instanceof SharedArrayBuffer) this.taken.push(data.buffer);
    return data;
  }

  /**
   * `bytes` (little-endian elements of `dtype`) as a tensor in shared memory,
   * copied, when they are large and not shared already (a WebSocket frame);
   * else null, and the caller keeps its view.
   */
  share(dtype: Exclude<TensorDtype, 'string'>, bytes: Uint8Array, count: number): TypedArray | null {
    if (bytes.buffer instanceof SharedArrayBuffer || bytes.byteLength < SHARED_FROM_BYTES) return null;
    const data = this.take(dtype, count) as TypedArray;
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
    return data;
  }

  /** Returns every buffer taken, and the body; nothing may read the tensors afterwards. */
  giveBack(): void {
    for (const buffer of this.taken) sharedBuffers.give(buffer);
    this.taken = [];
    if (this.header) releaseBody(this.header);
    this.header = null;
  }
}
