import { allocate, BufferPool, type TensorData, type TensorDtype, type TypedArray } from '../replicas/index.js';

/** Below this many bytes a tensor is cheaper to copy than to share. */
const SHARED_FROM_BYTES = 1024;

/**
 * This thread's shared memory for request bodies and decoded tensors. A view
 * of a SharedArrayBuffer reaches a replica thread by postMessage without a
 * copy, and a reused buffer spares the garbage collector: at 200 KB a
 * request, fresh buffers cost the gateway a fifth of its time in GC. The pool
 * keeps a connection's worth of buffers in flight per size, 64 MiB at most.
 */
export const sharedBuffers = new BufferPool({ shared: true, keepPerClass: 64, maxBytes: 64 * 1024 * 1024, minBytes: SHARED_FROM_BYTES });

/**
 * The shared buffers one request's tensors were written into. They go back
 * to the pool together ({@link giveBack}) once no replica can read them:
 * the router says when (CallControl.release).
 */
export class TensorLease {
  private taken: ArrayBufferLike[] = [];

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

  /** Returns every buffer taken; nothing may read the tensors afterwards. */
  giveBack(): void {
    for (const buffer of this.taken) sharedBuffers.give(buffer);
    this.taken = [];
  }
}
