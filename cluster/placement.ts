/** A machine offering resources to replicas, as its heartbeat says. */
export interface NodeOffer {
  id: string;
  cpus: number;
  gpus: number;
}

/** What one deployment wants placed. */
export interface PlacementWant {
  deployment: string;
  replicas: number;
  /** What each replica reserves. */
  resources: { cpus: number; gpus: number };
}

/** Replicas per node, by deployment: `{ mlp: { 'node-a': 2, 'node-b': 1 } }`. */
export type Assignment = Record<string, Record<string, number>>;

/** Where every replica goes, and how many fit nowhere yet (pending), by deployment. */
export interface Placement {
  assignment: Assignment;
  pending: Record<string, number>;
}

/** Leaves a little slack for sums of fractional cpus (0.1 + 0.2). */
const EPSILON = 1e-9;

/**
 * Places each deployment's replicas on the live nodes within their
 * resources. Replicas already placed on a live node stay there (a new
 * assignment moves nothing that runs); those of a node gone are placed
 * again. New replicas spread: each goes to the node holding the fewest of
 * its deployment, then the one with the most cpus free; one that fits on no
 * node is pending. Scaling down takes replicas from the node holding the
 * most of the deployment. New replicas are placed largest first, so
 * small ones fill the gaps large ones cannot use.
 */
export function place(wants: readonly PlacementWant[], nodes: readonly NodeOffer[], previous: Assignment = {}): Placement {
  const free = new Map(nodes.map((n) => [n.id, { cpus: n.cpus, gpus: n.gpus }]));
  const assignment: Assignment = {};
  const pending: Record<string, number> = {};
  // Keep what runs first, for every deployment, so a deployment placed later cannot take a running replica's room.
  const kept = new Map<string, Record<string, number>>();
  for (const w of wants) {
    const was: Record<string, number> = {};
    for (const [node, count] of Object.entries(previous[w.deployment] ?? {})) if (free.has(node) && count > 0) was[node] = count;
    // Scaling down takes from the node holding the most, so what stays is spread.
    let total = Object.values(was).reduce((a, b) => a + b, 0);
    while (total > w.replicas) {
      const most = Object.keys(was).sort((a, b) => was[b] - was[a] || (a < b ? 1 : -1))[0];
      if (--was[most] === 0) delete was[most];
      total--;
    }
    const on: Record<string, number> = {};
    for (const [node, count] of Object.entries(was)) {
      const room = free.get(node)!;
      let n = 0;
      while (n < count && fits(room, w.resources)) {
        take(room, w.resources);
        n++;
      }
      if (n > 0) on[node] = n;
    }
    kept.set(w.deployment, on);
  }
  // New replicas, largest first (first fit decreasing): small ones fill the gaps big ones cannot use.
  const bySize = [...wants].sort((a, b) => b.resources.gpus - a.resources.gpus || b.resources.cpus - a.resources.cpus);
  for (const w of bySize) {
    const on = kept.get(w.deployment)!;
    let total = Object.values(on).reduce((a, b) => a + b, 0);
    let short = 0;
    while (total < w.replicas) {
      const target = spreadTarget(nodes, free, on, w.resources);
      if (!target) {
        short = w.replicas - total;
        break;
      }
      take(free.get(target)!, w.resources);
      on[target] = (on[target] ?? 0) + 1;
      total++;
    }
    if (short > 0) pending[w.deployment] = short;
  }
  for (const w of wants) assignment[w.deployment] = kept.get(w.deployment)!;
  return { assignment, pending };
}

function fits(room: { cpus: number; gpus: number }, r: { cpus: number; gpus: number }): boolean {
  return room.cpus + EPSILON >= r.cpus && room.gpus + EPSILON >= r.gpus;
}

function take(room: { cpus: number; gpus: number }, r: { cpus: number; gpus: number }): void {
  room.cpus -= r.cpus;
  room.gpus -= r.gpus;
}

/** The node a new replica goes to: of those it fits, the fewest of its deployment, then the most cpus free, then by id. */
function spreadTarget(nodes: readonly NodeOffer[], free: Map<string, { cpus: number; gpus: number }>, on: Record<string, number>, r: { cpus: number; gpus: number }): string | null {
  let best: string | null = null;
  for (const n of nodes) {
    const room = free.get(n.id)!;
    if (!fits(room, r)) continue;
    if (best === null) {
      best = n.id;
      continue;
    }
    const a = on[n.id] ?? 0;
    const b = on[best] ?? 0;
    const roomBest = free.get(best)!;
    if (a < b || (a === b && (room.cpus > roomBest.cpus + EPSILON || (Math.abs(room.cpus - roomBest.cpus) <= EPSILON && n.id < best)))) best = n.id;
  }
  return best;
}
