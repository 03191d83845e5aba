import type { ReplicaStats } from './replica.js';

/**
 * A caller's hold on a pending call, lighter than an AbortSignal on a path
 * taken thousands of times a second: the pool sets `cancel` while the call
 * is pending and clears it once the call is settled.
 */
export interface CallControl {
  cancel?: (reason: Error) => void;
  /**
   * Set by a caller whose inputs are views of memory it reuses (a pooled
   * request body, shared with the replica threads): the router takes it when
   * it accepts the call, clearing it here, and calls it once no replica can
   * read those inputs any more (the call settled and its replica, if it had
   * one, answered or is gone). Still set once the call settled: no router
   * took it, and the caller releases the memory itself.
   */
  release?: () => void;
  /** The call's session key: every call carrying it goes to one replica where the deployment routes by session affinity. */
  sessionId?: string;
  /** The model a call to a multiplexed deployment names (already checked against the deployment's model ids). */
  modelId?: string;
  /** The call's W3C `traceparent`: the replica's code sees it, and handle calls it makes carry a child of it. */
  traceparent?: string;
  /** Set by a caller that wants to know how its call was served: the router fills it in when the answer comes. */
  served?: CallServed;
}

/** How one call was served, for the request log. */
export interface CallServed {
  /** The replica that answered, e.g. `mlp#3`. */
  replica: string;
  /** Milliseconds from admission to the start of the batch that ran it. */
  queueWaitMs: number;
  /** Rows in that batch, every caller's together. */
  batchRows: number;
  /** Epoch ms: when the call was admitted, when its batch began, and when its answer reached the router. */
  enqueuedAt: number;
  startedAt: number;
  answeredAt: number;
  /** onnxruntime's time on the batch, ms, or null where no model ran it (a handler's batch). */
  inferenceMs: number | null;
}

/** A pool's counters, as `ferry status` and the tests read them. */
export interface PoolStats {
  deployment: string;
  queueDepth: number;
  ongoing: number;
  /** Replicas the pool is meant to have. */
  target: number;
  /** Replicas wanted that fit on no node yet. */
  pending: number;
  replicas: ReplicaStats[];
  /** Replacements started after a replica died. */
  restarts: number;
  /** Failed starts in a row (each retried after a doubling back-off), and the last one's error; 0 and '' once a start works. */
  startFailures: { inARow: number; lastError: string };
  /** Calls handed to another replica after theirs died. */
  retried: number;
  /** Calls given up on (timeout or client gone) before they were answered. */
  cancelled: number;
  /** Whether a load balancer should send requests (a deployment scaled to zero is ready), and why not. */
  readiness: { ready: boolean; reason: string };
  /** Whether calls are concatenated along dimension 0, and why (not). */
  batching: { enabled: boolean; reason: string };
}
