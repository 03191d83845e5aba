import { BufferPool } from '../replicas/index.js';

/** Below this many bytes a tensor is cheaper to copy than to share. */
export const SHARED_FROM_BYTES = 1024;

/**
 * This thread's shared memory for request bodies and decoded tensors. A view
 * of a SharedArrayBuffer reaches a replica thread by postMessage without a
 * copy, and a reused buffer spares the garbage collector: at 200 KB a
 * request, fresh buffers cost the gateway a fifth of its time in GC. The pool
 * keeps a connection's worth of buffers in flight per size, 64 MiB at most.
 */
export const sharedBuffers = new BufferPool({ shared: true, keepPerClass: 64, maxBytes: 64 * 1024 * 1024, minBytes: SHARED_FROM_BYTES });
