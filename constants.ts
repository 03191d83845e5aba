/*
 * Tunables read from the environment. This is the only file that reads
 * process.env; each value has a default that suits a single machine.
 */

/** The longest delay a Node timer holds (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

function intFromEnv(name: string, fallback: number, least = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  // At most what a Node timer holds: a longer timer fires at once.
  if (!Number.isInteger(n) || n < least || n > MAX_TIMER_MS) {
    // Coded like a bad config file, so the CLI reports it in the same one line.
    throw Object.assign(new Error(`${name} must be an integer from ${least} to ${MAX_TIMER_MS} (got ${JSON.stringify(raw)})`), { code: 'FERRY_ERR_CONFIG_INVALID' });
  }
  return n;
}

/** The shortest cluster timing a setting may have, in ms: Redis's PX takes no 0, and a beat or pass needs a round trip to Redis. */
const LEAST_CLUSTER_MS = 100;

/** Log level for the gateway's pino logger (FERRY_LOG_LEVEL). */
export const LOG_LEVEL: string = process.env.FERRY_LOG_LEVEL ?? 'info';

/** How long a replica may take to load its model before it counts as failed (FERRY_REPLICA_START_TIMEOUT_MS). */
export const REPLICA_START_TIMEOUT_MS: number = intFromEnv('FERRY_REPLICA_START_TIMEOUT_MS', 60_000);

/** The shortest time a batch may run before its replica counts as hung, when a deployment sets no batchTimeoutMs (FERRY_HUNG_BATCH_FLOOR_MS). */
export const HUNG_BATCH_FLOOR_MS: number = intFromEnv('FERRY_HUNG_BATCH_FLOOR_MS', 30_000);

/** How long shutdown waits for in-flight requests before stopping replicas anyway (FERRY_SHUTDOWN_GRACE_MS). */
export const SHUTDOWN_GRACE_MS: number = intFromEnv('FERRY_SHUTDOWN_GRACE_MS', 30_000);

/** Seconds a 503 tells the client to wait in Retry-After (FERRY_RETRY_AFTER_SECONDS). */
export const RETRY_AFTER_SECONDS: number = intFromEnv('FERRY_RETRY_AFTER_SECONDS', 1);

/** Pause before replacing a replica that failed to start, doubled per failure up to 30 s (FERRY_RESTART_BACKOFF_MS). */
export const RESTART_BACKOFF_MS: number = intFromEnv('FERRY_RESTART_BACKOFF_MS', 250);

/** How long a cluster node's heartbeat key lives past its last beat, in ms (FERRY_HEARTBEAT_TTL_MS); it beats three times in that span. */
export const HEARTBEAT_TTL_MS: number = intFromEnv('FERRY_HEARTBEAT_TTL_MS', 3000, LEAST_CLUSTER_MS);

/** How often a cluster gateway reads the nodes and the controller places replicas, in ms (FERRY_CONTROL_INTERVAL_MS). */
export const CONTROL_INTERVAL_MS: number = intFromEnv('FERRY_CONTROL_INTERVAL_MS', 500, LEAST_CLUSTER_MS);

/** How long the cluster controller's lock lives past its last renewal, in ms (FERRY_CONTROLLER_LOCK_TTL_MS). */
export const CONTROLLER_LOCK_TTL_MS: number = intFromEnv('FERRY_CONTROLLER_LOCK_TTL_MS', 3000, LEAST_CLUSTER_MS);

/**
 * onnxruntime's own telemetry, which writes a /tmp/mat-debug-<pid>.log per
 * process and a folder under ~/.cache: off unless FERRY_ORT_TELEMETRY=1.
 */
export const ORT_TELEMETRY: boolean = process.env.FERRY_ORT_TELEMETRY === '1';

/**
 * Applies the onnxruntime settings above to this process's environment,
 * where onnxruntime reads them when its first session is created. Threads
 * share the process's environment; child processes inherit it.
 */
export function applyOrtEnvironment(): void {
  if (!ORT_TELEMETRY) process.env.ORT_DISABLE_TELEMETRY ??= '1';
}

/**
 * A handler's members Ferry calls itself (construction, start, userConfig,
 * health, inference): never a route's or a handle's `call`, which would hand
 * them a request (a route body passed to `reconfigure` would become the userConfig).
 */
export const HANDLER_LIFECYCLE: readonly string[] = Object.freeze(['constructor', 'init', 'reconfigure', 'checkHealth', 'infer', 'inferBatch']);
