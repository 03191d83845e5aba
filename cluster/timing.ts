import { CONTROL_INTERVAL_MS, CONTROLLER_LOCK_TTL_MS, HEARTBEAT_TTL_MS } from '../constants.js';

/**
 * How often the cluster's parts talk through Redis, in ms. A node's
 * heartbeat key lives `heartbeatTtlMs` past its last beat; a node that
 * stops beating is gone after that, and its replicas are placed again at
 * the controller's next pass (every `controlIntervalMs`). The controller
 * lock lives `lockTtlMs` past its last renewal: a gateway takes over within
 * that much of the controller's death.
 */
export interface ClusterTiming {
  heartbeatTtlMs: number;
  heartbeatEveryMs: number;
  controlIntervalMs: number;
  lockTtlMs: number;
}

/** The defaults, from FERRY_HEARTBEAT_TTL_MS, FERRY_CONTROL_INTERVAL_MS and FERRY_CONTROLLER_LOCK_TTL_MS. */
export const CLUSTER_TIMING: Readonly<ClusterTiming> = Object.freeze({
  heartbeatTtlMs: HEARTBEAT_TTL_MS,
  heartbeatEveryMs: Math.max(1, Math.floor(HEARTBEAT_TTL_MS / 3)),
  controlIntervalMs: CONTROL_INTERVAL_MS,
  lockTtlMs: CONTROLLER_LOCK_TTL_MS,
});
