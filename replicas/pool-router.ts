import type { ResolvedDeployment } from '../deployments/index.js';
import type { DeploymentCounters } from './deployment-counters.js';
import { DeploymentRouter } from './deployment-router.js';
import type { HeldModels } from './held-models.js';
import type { IngressPeer, PoolObserver } from './replica-pool.js';
import { buildRouter, heldModelsOf, type RoutingSpec } from './router-factory.js';

/** A pool's own router (ingress source 0), the peer that gives it channels to replicas, and the multiplexed models table it reads. */
export interface PoolRouter {
  router: DeploymentRouter;
  peer: IngressPeer;
  held: HeldModels | null;
}

/**
 * Builds the router a pool's own calls (handle calls, `infer()`) take, the
 * same for replicas on this machine and on a cluster's nodes: the
 * deployment's limits, its configured request router (power of two choices
 * until a custom one has loaded), and its multiplexed models.
 */
export function poolRouterOf(config: ResolvedDeployment, routing: RoutingSpec, counters: DeploymentCounters, onDemand: () => void, observer?: PoolObserver): PoolRouter {
  const held = heldModelsOf(routing);
  const router = new DeploymentRouter({
    deployment: config.name,
    maxOngoing: config.maxOngoingRequests,
    maxQueued: config.maxQueuedRequests,
    counters,
    onDemand,
    observer,
    requestRouter: buildRouter(config.name, config.maxOngoingRequests, routing, counters, null),
    onRouterError: (reason) => observer?.routerFallback?.(config.name, reason),
    heldModels: held && { table: held, modelIds: routing.multiplex!.modelIds },
  });
  const peer: IngressPeer = {
    source: 0,
    replicaUp: (_d, slot, port, replicaId) => router.replicaUp(slot, port, replicaId),
    replicaGone: async (_d, slot, reason) => router.replicaGone(slot, reason),
    atZero: (_d, atZero) => router.setAtZero(atZero),
    failQueued: (_d, err) => router.failQueued(err),
  };
  return { router, peer, held };
}
