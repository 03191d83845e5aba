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

export const CLUSTER_TIMING: Readonly<ClusterTiming> = Object.freeze({
  heartbeatTtlMs: 3000,
  heartbeatEveryMs: 1000,
  controlIntervalMs: 500,
  lockTtlMs: 3000,
});
