/** One replica as a request router sees it. */
export interface ReplicaCandidate {
  /** The replica's id, e.g. `mlp#3`. */
  readonly replicaId: string;
  /** Calls every ingress has sent it and not had answered: the exact figure, from shared memory. */
  readonly ongoing: number;
  /** The multiplexed models it holds (empty for a deployment that does not multiplex). */
  readonly modelIds: readonly string[];
}

/** What a router may read of the call it places. */
export interface RoutingRequest {
  readonly deployment: string;
  /** The call's session key (`ferry-session-id`, a WebSocket connection, a handle call's `sessionId`), or null. */
  readonly sessionId: string | null;
  /** The model of a multiplexed deployment the call names (`ferry-model-id`, the OIP name `{deployment}/{modelId}`, a handle call's `modelId`), or null. */
  readonly modelId: string | null;
}

/** What each of a deployment's routers is made with. */
export interface RouterContext {
  readonly deployment: string;
  /** Calls one replica takes at once (`maxOngoingRequests`); a replica at it is skipped whatever the order. */
  readonly maxOngoingRequests: number;
}

/**
 * Places calls on replicas, as Ray Serve's custom request routers do
 * (`RequestRouter.choose_replicas`): given the deployment's ready replicas,
 * it returns those it would send the call to, in order of preference. Ferry
 * sends the call to the first that has room (a place claimed atomically,
 * across ingress threads); when none has, the call waits in the queue and
 * is placed again when a place frees. Return fewer candidates to forbid the
 * others (an empty list: wait). It runs on an ingress's event loop for
 * every call: keep it fast and synchronous. A throw, or an answer that is
 * not an array of the given candidates, places that call by power of two
 * choices instead, with the reason logged.
 */
export interface RequestRouter {
  chooseReplicas(candidates: readonly ReplicaCandidate[], request: RoutingRequest): readonly ReplicaCandidate[];
}

/** A router class a config names by module (`requestRouter: './my-router.ts#Export'`). */
export type RequestRouterClass = new (context: RouterContext) => RequestRouter;

/**
 * Power of two choices (Ray Serve's default): two distinct random
 * candidates with room, the one holding fewer calls first; the others after
 * them in their order, for when both places are taken before they are claimed.
 */
export class PowerOfTwoChoicesRouter implements RequestRouter {
  private readonly ranked: ReplicaCandidate[] = [];

  constructor(
    private readonly context: RouterContext,
    private readonly random: () => number = Math.random,
  ) {}

  chooseReplicas(candidates: readonly ReplicaCandidate[]): readonly ReplicaCandidate[] {
    const max = this.context.maxOngoingRequests;
    // One array reused: this runs for every call, and a fresh one each time is garbage at thousands a second.
    const open = this.ranked;
    open.length = 0;
    for (const c of candidates) if (c.ongoing < max) open.push(c);
    if (open.length <= 1) return open;
    const i = Math.floor(this.random() * open.length);
    let j = Math.floor(this.random() * (open.length - 1));
    if (j >= i) j++;
    const a = open[j].ongoing < open[i].ongoing ? open[j] : open[i];
    const b = a === open[i] ? open[j] : open[i];
    // The two chosen to the front, the rest kept behind them.
    open.splice(Math.max(i, j), 1);
    open.splice(Math.min(i, j), 1);
    open.unshift(a, b);
    return open;
  }
}
