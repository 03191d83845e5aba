import type { ResolvedDeployment } from '../deployments/index.js';
import type { AssignmentRecord, ClusterStore } from './cluster-store.js';
import { place } from './placement.js';

/**
 * The cluster's one controller, run by every gateway and acted on by the one
 * holding the lock in Redis (taken with SET NX and a TTL, renewed each pass
 * by compare-and-expire; when its holder dies another gateway takes it
 * within one TTL). While it holds the lock it serves the config to the
 * nodes and, each pass, places every deployment's wanted replicas on the
 * live nodes (see place()), writing a new assignment when that changes.
 */
export class ClusterController {
  private holding = false;
  private servedConfig = false;
  private last: AssignmentRecord | null = null;

  constructor(
    private readonly store: ClusterStore,
    /** This gateway's name, the lock's value. */
    private readonly id: string,
    private readonly deployments: readonly ResolvedDeployment[],
    private readonly lockTtlMs: number,
  ) {}

  /** True while this gateway holds the lock (as of its last pass). */
  get isController(): boolean {
    return this.holding;
  }

  /**
   * One pass: take or renew the lock, then (holding it, and unless `placeNow`
   * is false) place `targets` on the nodes. Rejects when Redis does not answer (the caller passes again later).
   */
  async pass(targets: ReadonlyMap<string, number>, placeNow = true): Promise<void> {
    this.holding = this.holding ? await this.store.renewLock(this.id, this.lockTtlMs) : await this.store.tryLock(this.id, this.lockTtlMs);
    if (!this.holding) {
      this.servedConfig = false;
      this.last = null;
      return;
    }
    if (!this.servedConfig) {
      await this.store.writeConfig({ deployments: this.deployments, by: this.id });
      this.servedConfig = true;
      // What another controller placed is kept: a new controller moves nothing that runs.
      this.last = await this.store.assignment();
    }
    if (!placeNow) return;
    // A node no gateway can reach (a wrong --advertise, a firewall) gets no replica: none of its calls could arrive.
    const [all, unreachable] = await Promise.all([this.store.nodes(), this.store.unreachableNodes()]);
    const nodes = all.filter((n) => !unreachable.has(n.id));
    const wants = this.deployments.map((d) => ({ deployment: d.name, replicas: targets.get(d.name) ?? 0, resources: d.resources }));
    const placement = place(wants, nodes, this.last?.assignment ?? {});
    const tgt = Object.fromEntries(wants.map((w) => [w.deployment, w.replicas]));
    const same =
      this.last !== null &&
      JSON.stringify(this.last.assignment) === JSON.stringify(placement.assignment) &&
      JSON.stringify(this.last.pending) === JSON.stringify(placement.pending) &&
      JSON.stringify(this.last.targets) === JSON.stringify(tgt);
    if (same) return;
    const record: AssignmentRecord = { version: (this.last?.version ?? 0) + 1, by: this.id, at: Date.now(), ...placement, targets: tgt };
    await this.store.writeAssignment(record);
    this.last = record;
  }

  /** Lets the lock go (a gateway shutting down), so another takes over at once. */
  async release(): Promise<void> {
    if (this.holding) await this.store.releaseLock(this.id).catch(() => {});
    this.holding = false;
  }
}
