/** What the router needs to know of a replica. */
export interface Routable {
  readonly state: string;
  readonly ongoing: number;
}

/**
 * Power of two choices: of two distinct random ready replicas with spare
 * capacity, the one holding fewer calls. Null when none has capacity.
 */
export function pickReplica<R extends Routable>(
  replicas: readonly R[],
  maxOngoing: number,
  random: () => number = Math.random,
): R | null {
  const open: R[] = [];
  for (const r of replicas) if (r.state === 'ready' && r.ongoing < maxOngoing) open.push(r);
  if (open.length <= 1) return open[0] ?? null;
  const i = Math.floor(random() * open.length);
  let j = Math.floor(random() * (open.length - 1));
  if (j >= i) j++;
  return open[j].ongoing < open[i].ongoing ? open[j] : open[i];
}
