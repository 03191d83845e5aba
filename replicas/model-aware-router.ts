import type { HeldModels } from './held-models.js';
import { PowerOfTwoChoicesRouter, type ReplicaCandidate, type RequestRouter, type RouterContext, type RoutingRequest } from './request-router.js';
import type { SlotCandidate } from './session-affinity.js';
import { hash32 } from './session-table.js';

/**
 * Routes a multiplexed deployment's calls where their model is loaded (Ray
 * Serve's multiplexed routing): the replicas holding the call's model with
 * room first, the one holding fewer calls of two random ones ahead (power of
 * two choices); then the others, those holding the fewest models first (a
 * load there evicts nothing, or the least), then those holding fewer calls
 * (so models new to the replicas spread over them), ties broken by
 * rendezvous hashing of the model and replica ids, so an idle deployment's
 * ingresses send a model's first calls to the same replica. Which
 * replica holds what is read from shared memory ({@link HeldModels}), as
 * each replica writes it. Calls without a model go by power of two choices.
 */
export class ModelAwareRouter implements RequestRouter {
  private readonly fallback: PowerOfTwoChoicesRouter;
  private readonly holders: SlotCandidate[] = [];
  private readonly others: { c: SlotCandidate; count: number; score: number }[] = [];
  private readonly index: Map<string, number>;

  constructor(
    private readonly context: RouterContext,
    private readonly held: HeldModels,
    modelIds: readonly string[],
  ) {
    this.fallback = new PowerOfTwoChoicesRouter(context);
    this.index = new Map(modelIds.map((id, i) => [id, i]));
  }

  chooseReplicas(candidates: readonly ReplicaCandidate[], request: RoutingRequest): readonly ReplicaCandidate[] {
    const index = request.modelId === null ? undefined : this.index.get(request.modelId);
    if (index === undefined) return this.fallback.chooseReplicas(candidates);
    const max = this.context.maxOngoingRequests;
    const holders = this.holders;
    const others = this.others;
    holders.length = 0;
    others.length = 0;
    for (const c of candidates as readonly SlotCandidate[]) {
      if (c.ongoing >= max) continue;
      if (this.held.holds(c.slot, index)) holders.push(c);
      else others.push({ c, count: this.held.count(c.slot), score: hash32(`${request.modelId}\0${c.replicaId}`) });
    }
    others.sort((a, b) => a.count - b.count || a.c.ongoing - b.c.ongoing || b.score - a.score);
    const ranked: ReplicaCandidate[] = [...this.fallback.chooseReplicas(holders)];
    for (const o of others) ranked.push(o.c);
    return ranked;
  }
}
