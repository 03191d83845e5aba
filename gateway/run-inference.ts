import { ClientClosedError, RequestTimeoutError } from '../errors.js';
import type { InferenceTarget } from './inference-target.js';
import { decodeInferRequest, encodeInferResponse, type EncodedResponse, type InferHeader } from './infer-codec.js';

/** Limits every inference request is held to, HTTP and WebSocket alike. */
export interface InferenceLimits {
  /** Most elements one input tensor may declare. */
  maxTensorElements: number;
}

/**
 * Decodes, runs and encodes one request. The call is given up after the
 * target's requestTimeoutMs (408), or when `gone` aborts (the client left);
 * either way it leaves the queue or mailbox if it has not started.
 */
export async function runInference(
  target: InferenceTarget,
  header: InferHeader,
  binary: Buffer | null,
  limits: InferenceLimits,
  gone?: AbortSignal,
): Promise<EncodedResponse> {
  const request = decodeInferRequest(header, binary, target, limits.maxTensorElements);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new RequestTimeoutError(target.name, target.requestTimeoutMs)),
    target.requestTimeoutMs,
  );
  const onGone = () => controller.abort(new ClientClosedError());
  gone?.addEventListener('abort', onGone, { once: true });
  try {
    const outputs = await target.infer(request.tensors, request.rows, controller.signal);
    return encodeInferResponse(target, header.id, outputs, request.outputs);
  } finally {
    clearTimeout(timer);
    gone?.removeEventListener('abort', onGone);
  }
}
