import type { DeploymentConfig, ResolvedDeployment } from './config-types.js';

/**
 * Replicas a deployment starts with. One that starts at zero reserves nothing
 * at start: the replica that reads its model's metadata runs outside the
 * node's budget (see ReplicaSet.start).
 */
export function initialOf(d: ResolvedDeployment): number {
  return d.autoscaling?.initialReplicas ?? d.numReplicas;
}

/** A resource amount as messages show it: to a thousandth of a core or GPU. */
export const amountText = (n: number): number => Math.round(n * 1000) / 1000;

const cpusText = (n: number) => `${amountText(n)} cpus`;

/**
 * Settles what each replica reserves on the node, in place. A deployment
 * that sets `resources.cpus` reserves exactly that. One that leaves it out
 * reserves `intraOpThreads` cores, or, when the node cannot hold every
 * initial replica that way, an even share of what the explicit reservations
 * leave: six small deployments start on two cores, each replica reserving a
 * third of a core, and the warning says so. Explicit reservations whose first
 * replicas cannot all fit are problems naming the deployment, what it asks,
 * what the node offers and the setting to change. Deployments that start at
 * zero reserve nothing at start and are left out of both sums; their replicas
 * wait as pending when they scale up onto a full node. (Further initial replicas
 * may wait as pending, as autoscaled ones do.)
 *
 * `at` gives each deployment's index in the config, for the messages: a config
 * with schema errors is settled without its broken deployments.
 */
export function settleCpuShares(
  deployments: ResolvedDeployment[],
  raw: readonly DeploymentConfig[],
  node: { cpus: number; gpus: number },
  at: readonly number[] = deployments.map((_, i) => i),
): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const explicit = deployments.map((_, i) => raw[i].resources?.cpus !== undefined);
  let reservedCpus = 0;
  let reservedGpus = 0;
  deployments.forEach((d, k) => {
    if (initialOf(d) === 0) return;
    const i = at[k];
    const cpus = explicit[k] ? d.resources.cpus : 0;
    reservedCpus += cpus;
    reservedGpus += d.resources.gpus;
    const tooMany = reservedCpus > node.cpus + 1e-9 ? 'cpus' : reservedGpus > node.gpus + 1e-9 ? 'gpus' : null;
    if (tooMany === null || d.resources.cpus > node.cpus || d.resources.gpus > node.gpus) return;
    const asked = tooMany === 'cpus' ? `resources.cpus ${d.resources.cpus}` : `resources.gpus ${d.resources.gpus}`;
    const before = tooMany === 'cpus' ? reservedCpus - cpus : reservedGpus - d.resources.gpus;
    problems.push(
      `deployments[${i}] (${d.name}) reserves ${asked} for its first replica, but the node offers ${node[tooMany]} ${tooMany} and ` +
        `the deployments before it already reserve ${amountText(before)}: lower deployments[${i}].resources.${tooMany} ` +
        `(or another deployment's), or raise node.${tooMany}`,
    );
  });
  const defaults = deployments.filter((_, i) => !explicit[i]);
  if (defaults.length === 0 || problems.length > 0) return { problems, warnings };
  const left = node.cpus - reservedCpus;
  // Deployments at zero reserve nothing at start: they take no part in the share.
  const starting = defaults.filter((d) => initialOf(d) > 0);
  const replicas = starting.reduce((n, d) => n + initialOf(d), 0);
  if (starting.length > 0 && left <= 1e-9) {
    starting.forEach((d) => {
      const i = at[deployments.indexOf(d)];
      problems.push(
        `deployments[${i}] (${d.name}) leaves resources.cpus out, but the explicit reservations take all of the node's ${node.cpus} cpus: ` +
          `set deployments[${i}].resources.cpus, lower another deployment's, or raise node.cpus`,
      );
    });
    return { problems, warnings };
  }
  const share = replicas === 0 ? Infinity : left / replicas;
  let shared = 0;
  for (const d of defaults) {
    d.resources.cpus = Math.min(d.intraOpThreads, share, node.cpus);
    if (d.resources.cpus < d.intraOpThreads && initialOf(d) > 0) shared++;
  }
  if (shared > 0) {
    warnings.push(
      `${replicas} initial replicas of ${starting.length} deployment${starting.length > 1 ? 's' : ''} without resources.cpus share ` +
        `${cpusText(left)} of the node: each reserves ${cpusText(share)}, so the node is fully reserved and autoscaling cannot add replicas; ` +
        `set resources.cpus per deployment or node.cpus to choose otherwise`,
    );
  }
  return { problems, warnings };
}
