import { availableParallelism } from 'node:os';

/** Defaults applied to every deployment field the user leaves out. */
export const DEPLOYMENT_DEFAULTS = Object.freeze({
  device: 'cpu' as const,
  host: 'thread' as const,
  numReplicas: 1,
  intraOpThreads: 1,
  // Triton's default: no waiting; calls that arrive while the replica is busy batch anyway.
  batching: Object.freeze({ maxBatchSize: 32, batchWaitTimeoutMs: 0, targetLatencyMs: null }),
  // Twice maxBatchSize: one full batch running and one filling. Ray Serve's 5 would cap batches at 5.
  maxOngoingRequests: 64,
  maxQueuedRequests: 1000,
  requestTimeoutMs: 60_000,
  resources: Object.freeze({ cpus: 1, gpus: 0 }),
  // Ray Serve's health_check_period_s and health_check_timeout_s.
  healthCheckPeriodMs: 10_000,
  healthCheckTimeoutMs: 30_000,
  requestRouter: 'power-of-two-choices',
  sessionAffinity: Object.freeze({ loadBound: 0.25, idleTimeoutMs: 600_000, maxSessions: 65_536 }),
  // Ray Serve's max_num_models_per_replica is unbounded by default; a bound keeps a replica's memory known.
  maxModelsPerReplica: 3,
});

/** The request routers Ferry has built in; any other `requestRouter` names a module. */
export const BUILT_IN_ROUTERS: readonly string[] = ['power-of-two-choices', 'session-affinity', 'model-aware'];

/** The local node's capacity: every core, no GPU unless declared. */
export const NODE_DEFAULTS = Object.freeze({
  cpus: availableParallelism(),
  gpus: 0,
});

/**
 * Ingress threads by default: a quarter of the cores, at least 1 and at
 * most 8, so most cores stay with the replicas (each ingress thread is one
 * event loop's worth of CPU under full load).
 */
export function defaultIngressThreads(cores: number = availableParallelism()): number {
  return Math.min(8, Math.max(1, Math.floor(cores / 4)));
}

/** Defaults for the HTTP listener. */
export const HTTP_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8000,
  bodyLimitBytes: null as number | null,
  maxTensorElements: 16 * 1024 * 1024,
  // Node's own default is 300 s, Fastify's none: a client sending a byte a second would hold its socket for ever.
  receiveTimeoutMs: 30_000,
  ingressThreads: defaultIngressThreads(),
  requestLog: false,
});

/** Defaults for asynchronous inference. */
export const ASYNC_INFERENCE_DEFAULTS = Object.freeze({
  resultTtlMs: 3_600_000,
  maxQueuedJobs: 10_000,
  concurrency: 16,
});
