import { RequestTimeoutError } from '../errors.js';
import type { CallControl } from '../replicas/index.js';
import type { InferenceTarget } from './inference-target.js';
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
 * it has not started.
 */
export async function runInference(
  target: InferenceTarget,
  header: InferHeader,
  binary: Buffer | null,
  limits: InferenceLimits,
  control: CallControl = {},
): Promise<EncodedResponse> {
  const request = decodeInferRequest(header, binary, target, limits.maxTensorElements);
  const timer = setTimeout(() => control.cancel?.(new RequestTimeoutError(target.name, target.requestTimeoutMs)), target.requestTimeoutMs);
  try {
    const outputs = await target.infer(request.tensors, request.rows, control);
    return encodeInferResponse(target, header.id, outputs, request.outputs);
  } finally {
    clearTimeout(timer);
  }
}
