import { NotServedError } from '../errors.js';
import type { CallControl } from '../replicas/index.js';
import { armRequestTimeout } from './call-timeout.js';
import type { InferenceTarget } from './inference-target.js';
import { TensorLease } from './tensor-lease.js';
import { decodeInferRequest, encodeInferResponse, type EncodedResponse, type InferHeader } from './infer-codec.js';

/** Limits every inference request is held to, HTTP and WebSocket alike. */
export interface InferenceLimits {
  /** Most elements one input tensor may declare. */
  maxTensorElements: number;
}

/**
 * Decodes, runs and encodes one request. The call is given up after the
 * target's requestTimeoutMs (408); `control.cancel` lets the caller give up
 * too (the client left). Either way the call leaves the queue or mailbox if
 * it has not started. The request's tensors are in this thread's shared
 * memory (decoded into it, or views of the pooled body `header` holds); it
 * is released once no replica can read it: by the router, or here when no
 * call was made.
 */
export async function runInference(
  target: InferenceTarget,
  header: InferHeader,
  binary: Buffer | null,
  limits: InferenceLimits,
  control: CallControl = {},
): Promise<EncodedResponse> {
  const lease = new TensorLease(header);
  // Bound functions rather than closures: a closure would keep this frame (the request, its tensors) reachable from the
  // call and the timer, and at thousands of calls a second the garbage collector copies and promotes what they reach.
  control.release = lease.giveBack.bind(lease);
  try {
    // A code deployment whose handler defines no inference declares no outputs (a model always has one).
    if (target.metadata.outputs.length === 0) {
      throw new NotServedError(`deployment '${target.name}' serves no inference: its handler defines neither infer nor inferBatch`);
    }
    const request = decodeInferRequest(header, binary, target, limits.maxTensorElements, lease);
    const timer = armRequestTimeout(control, target.name, target.requestTimeoutMs);
    try {
      const outputs = await target.infer(request.tensors, request.rows, control);
      return encodeInferResponse(target, header.id, outputs, request.outputs, control.modelId);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    // Still here: no router took the call (it never reached one), so nothing else reads the tensors.
    const release = control.release;
    control.release = undefined;
    release?.();
  }
}
