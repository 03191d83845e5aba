import { RETRY_AFTER_SECONDS } from '../constants.js';
import type { JobRequest, JobResponse } from './job-types.js';

/**
 * Runs a job as the synchronous request it was: POSTed to this process's
 * own gateway, so it is decoded, checked, routed, batched and answered by
 * the same code (its JSON kept exactly as the client wrote it, binary
 * tensors as bytes). A full queue (503) is waited out and tried again, as
 * Retry-After says; any other answer is the job's result.
 */
export async function runJobOver(baseUrl: string, request: JobRequest, signal?: AbortSignal, apiKey?: string): Promise<JobResponse> {
  const json = Buffer.from(request.json, 'utf8');
  const binary = request.binary === null ? null : Buffer.from(request.binary, 'base64');
  const headers: Record<string, string> = { 'content-type': binary ? 'application/octet-stream' : 'application/json' };
  if (binary) headers['inference-header-content-length'] = String(json.length);
  if (request.modelId !== undefined) headers['ferry-model-id'] = request.modelId;
  if (request.sessionId !== undefined) headers['ferry-session-id'] = request.sessionId;
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  const body = binary ? Buffer.concat([json, binary]) : json;
  for (;;) {
    const res = await fetch(`${baseUrl}/v2/models/${encodeURIComponent(request.deployment)}/infer`, { method: 'POST', headers, body, signal });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status === 503 && !signal?.aborted) {
      const wait = Number(res.headers.get('retry-after') ?? RETRY_AFTER_SECONDS);
      await new Promise((r) => setTimeout(r, Math.max(0.05, Number.isFinite(wait) ? wait : 1) * 1000));
      continue;
    }
    const length = res.headers.get('inference-header-content-length');
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      ...(length !== null ? { inferenceHeaderContentLength: Number(length) } : {}),
      body: bytes.toString('base64'),
    };
  }
}
