import { TYPED_ARRAYS, type TensorDtype, type TypedArray } from './tensor.js';

/** Smallest pooled buffer by default; smaller batches are cheap to allocate. */
const MIN_POOLED = 16 * 1024;

/** How a pool allocates and how much it keeps. */
export interface BufferPoolOptions {
  /**
   * SharedArrayBuffers instead of ArrayBuffers: a view of one crosses to
   * another thread by postMessage without a copy (the memory is shared, so
   * its owner must not reuse it while the other thread may still read it).
   */
  shared?: boolean;
  /** Buffers kept per size class; beyond, returned buffers are left to the GC. Default 8. */
  keepPerClass?: number;
  /** Bytes kept over every class together (default: no bound beyond keepPerClass). */
  maxBytes?: number;
  /** Smallest request served from the pool, a power of two (default 16 KiB); smaller ones are fresh allocations. */
  minBytes?: number;
}

/**
 * Reuses large buffers: a replica thread hands each batch's input buffers back
 * with its answer, and the next batch of a similar size is written into one
 * of them instead of a fresh allocation (at 64 rows of 784 floats, fresh
 * 200 KB buffers cost the gateway a fifth of its time in GC); an ingress
 * reads request bodies into them. Buffers come in power-of-two size classes;
 * a caller uses a view on a buffer's start.
 */
export class BufferPool {
  private readonly free = new Map<number, ArrayBufferLike[]>();
  private readonly shared: boolean;
  private readonly keepPerClass: number;
  private readonly maxBytes: number;
  private keptBytes = 0;
  private readonly minBytes: number;

  constructor(options: BufferPoolOptions = {}) {
    this.shared = options.shared ?? false;
    this.keepPerClass = options.keepPerClass ?? 8;
    this.maxBytes = options.maxBytes ?? Infinity;
    this.minBytes = options.minBytes ?? MIN_POOLED;
  }

  private sizeClass(bytes: number): number {
    return bytes <= this.minBytes ? this.minBytes : 2 ** Math.ceil(Math.log2(bytes));
  }

  private buffer(size: number): ArrayBufferLike {
    const kept = this.free.get(size)?.pop();
    if (kept) {
      this.keptBytes -= size;
      return kept;
    }
    return this.shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
  }

  /** A zero-filled-or-reused typed array of `length` elements (contents are overwritten by the caller). */
  take(dtype: Exclude<TensorDtype, 'string'>, length: number): TypedArray {
    const Typed = TYPED_ARRAYS[dtype];
    const bytes = length * Typed.BYTES_PER_ELEMENT;
    if (bytes < this.minBytes) return new Typed(length);
    return new Typed(this.buffer(this.sizeClass(bytes)), 0, length) as TypedArray;
  }

  /** A Buffer of exactly `bytes` bytes over a pooled buffer when large enough to be worth it (contents are garbage). */
  takeBytes(bytes: number): Buffer {
    if (bytes < this.minBytes) return Buffer.allocUnsafe(bytes);
    return Buffer.from(this.buffer(this.sizeClass(bytes)), 0, bytes);
  }

  /** Gives a buffer back for reuse (one of another kind, shared or not, is left to the GC). */
  give(buffer: ArrayBufferLike): void {
    const size = buffer.byteLength;
    if (size < this.minBytes || size !== this.sizeClass(size)) return;
    if (buffer instanceof SharedArrayBuffer !== this.shared) return;
    if (this.keptBytes + size > this.maxBytes) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    if (list.length >= this.keepPerClass) return;
    list.push(buffer);
    this.keptBytes += size;
  }
}
