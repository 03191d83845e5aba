import type { ReplicaStats } from './replica.js';

/**
 * A caller's hold on a pending call, lighter than an AbortSignal on a path
 * taken thousands of times a second: the pool sets `cancel` while the call
 * is pending and clears it once the call is settled.
 */
export interface CallControl {
  cancel?: (reason: Error) => void;
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
  /** Calls handed to another replica after theirs died. */
  retried: number;
  /** Calls given up on (timeout or client gone) before they were answered. */
  cancelled: number;
  /** Whether a load balancer should send requests (a deployment scaled to zero is ready), and why not. */
  readiness: { ready: boolean; reason: string };
  /** Whether calls are concatenated along dimension 0, and why (not). */
  batching: { enabled: boolean; reason: string };
}
