import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, JobConflictError, JobNotFoundError } from '../errors.js';
import type { JobRequest, JobView } from '../jobs/job-types.js';
import { binaryPartOf } from './body-framing.js';
import { decodeInferRequest, type InferHeader } from './infer-codec.js';
import type { InferenceTarget } from './inference-target.js';
import { jsonSourceOf } from './json-source.js';
import { modelIdFor, modelIdHeader } from './model-id.js';
import { sessionIdOf } from './session-header.js';
import { TensorLease } from './tensor-lease.js';
import { requestMayCall } from './auth.js';
import { ROUTE_DOCS } from './route-docs.js';

/** What the gateway asks of the job store, wherever it lives (this thread, or the control plane's). */
export interface GatewayJobs {
  submit(request: JobRequest): Promise<string>;
  get(id: string): Promise<JobView | null>;
  cancel(id: string): Promise<{ view: JobView; cancelled: boolean } | null>;
}

/** True when the request asks for an asynchronous answer (RFC 7240's `Prefer: respond-async`). */
export function prefersAsync(req: FastifyRequest): boolean {
  // Node joins repeated Prefer headers into one, comma-separated.
  const prefer = req.headers.prefer;
  return typeof prefer === 'string' && prefer.split(',').some((token) => token.split(';')[0].trim().toLowerCase() === 'respond-async');
}

/**
 * Accepts an inference request as a job: checked as a synchronous one would
 * be (a bad request is refused now, with the same 400), then kept exactly
 * as the client wrote it. Answers 202 with `Location: /v2/jobs/{id}`.
 */
export async function acceptJob(jobs: GatewayJobs, target: InferenceTarget, req: FastifyRequest, reply: FastifyReply, maxTensorElements: number): Promise<unknown> {
  const header = req.body as InferHeader;
  const binary = binaryPartOf(header);
  const modelId = modelIdFor(target, (req.params as { modelId?: string }).modelId, modelIdHeader(req.raw));
  const sessionId = sessionIdOf(req.raw);
  const lease = new TensorLease(header);
  let request: JobRequest;
  try {
    decodeInferRequest(header, binary, target, maxTensorElements, lease);
    request = {
      deployment: target.name,
      json: jsonSourceOf(header) ?? JSON.stringify(header),
      binary: binary ? binary.toString('base64') : null,
      ...(modelId !== undefined ? { modelId } : {}),
      ...(sessionId !== undefined ? { sessionId } : {}),
    };
  } finally {
    // The body's buffer goes back with the lease.
    lease.giveBack();
  }
  const id = await jobs.submit(request);
  const location = `/v2/jobs/${id}`;
  return reply.code(202).header('location', location).header('preference-applied', 'respond-async').send({ id, state: 'queued', location });
}

/** A job as JSON: its state and times, and once done its result (the OIP response, when JSON) and where to read it whole. */
function jobBody(view: JobView): Record<string, unknown> {
  const { response, ...rest } = view;
  const body: Record<string, unknown> = { ...rest };
  if (!response) return body;
  body.status_code = response.status;
  body.result_url = `/v2/jobs/${view.id}/result`;
  if (response.contentType.startsWith('application/json')) body.result = JSON.parse(Buffer.from(response.body, 'base64').toString('utf8'));
  return body;
}

const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

function checkId(id: string): void {
  if (!JOB_ID.test(id)) throw new BadRequestError(`'${id}' is not a job id`);
}

/**
 * `GET /v2/jobs/{id}` (state, and the result once done), `GET
 * /v2/jobs/{id}/result` (the response as the synchronous request would have
 * had it: status, headers and body), `DELETE /v2/jobs/{id}` (cancels a job
 * that has not started; 409 otherwise).
 */
export function registerJobRoutes(app: FastifyInstance, jobs: GatewayJobs): void {
  // A job of a deployment the caller's key may not call is, to that caller, no job at all.
  const find = async (req: FastifyRequest<{ Params: { id: string } }>) => {
    checkId(req.params.id);
    const view = await jobs.get(req.params.id);
    if (!view || !requestMayCall(req, view.deployment)) throw new JobNotFoundError(req.params.id);
    return view;
  };
  app.get<{ Params: { id: string } }>('/v2/jobs/:id', { schema: ROUTE_DOCS.job }, async (req) => jobBody(await find(req)));
  app.get<{ Params: { id: string } }>('/v2/jobs/:id/result', { schema: ROUTE_DOCS.jobResult }, async (req, reply) => {
    const view = await find(req);
    const res = view.response;
    if (!res) {
      const why = view.state === 'cancelled' ? 'it was cancelled, so it has no result' : 'its result is not ready yet';
      throw new JobConflictError(`job '${view.id}' is ${view.state}: ${why}`);
    }
    if (res.inferenceHeaderContentLength !== undefined) reply.header('inference-header-content-length', String(res.inferenceHeaderContentLength));
    return reply.code(res.status).type(res.contentType).send(Buffer.from(res.body, 'base64'));
  });
  app.delete<{ Params: { id: string } }>('/v2/jobs/:id', { schema: ROUTE_DOCS.jobCancel }, async (req) => {
    await find(req);
    const result = await jobs.cancel(req.params.id);
    if (!result) throw new JobNotFoundError(req.params.id);
    if (!result.cancelled) throw new JobConflictError(`job '${req.params.id}' is ${result.view.state}: only a queued job can be cancelled`);
    return jobBody(result.view);
  });
}
