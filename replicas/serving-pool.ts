import type { DeploymentCounters } from './deployment-counters.js';
import type { CallControl, PoolStats } from './pool-types.js';
import type { OmittedOutput, RouteCall } from './protocol.js';
import type { IngressPeer } from './replica-pool.js';
import type { RoutingSpec } from './router-factory.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

/**
 * What the server, its ingress threads and the autoscaler hold of one
 * deployment: its replicas on this machine ({@link ReplicaPool}), or on a
 * cluster's nodes (a gateway's RemotePool). Calls go through its router;
 * each ingress thread connects as a peer and gets a channel to every replica.
 */
export interface ServingPool {
  readonly name: string;
  /** The name ingress threads know it by (see ReplicaPool.peerKey). */
  readonly peerKey: string;
  /** The deployment's figures in shared memory, for routers in other threads. */
  readonly counters: DeploymentCounters;
  readonly routing: RoutingSpec;
  readonly metadata: ModelMetadata;
  readonly knownMetadata: ModelMetadata | null;
  readonly omittedOutputs: readonly OmittedOutput[];
  readonly batching: boolean;
  readonly readyReplicas: number;
  readonly targetReplicas: number;
  readonly ready: boolean;
  readonly queueDepth: number;
  readonly ongoing: number;
  readonly adaptiveBatching: boolean;
  readonly multiplexTotals: { loads: number; evictions: number } | null;
  readonly runsCode: boolean;
  readonly servesInference: boolean;
  batchingStatus(): { enabled: boolean; reason: string };
  readiness(): { ready: boolean; reason: string };
  /** Calls queued and in flight, over every ingress (what the autoscaler reads). */
  load(): number;
  connect(peer: IngressPeer): void;
  disconnect(peer: IngressPeer): void;
  demand(): void;
  onDemand(listener: () => void): void;
  reserveFirst(): boolean;
  start(): Promise<void>;
  stop(graceMs?: number): Promise<void>;
  scaleTo(n: number): void;
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap>;
  callRoute(route: RouteCall, control?: CallControl): Promise<unknown>;
  reconfigure(userConfig: unknown): Promise<{ replica: string; error: string }[]>;
  killReplica(id: string): boolean;
  stats(): PoolStats;
}
