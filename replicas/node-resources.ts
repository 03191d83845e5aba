/** Reported usage is rounded to this fraction of a core or GPU. */
const DISPLAY_PRECISION = 1e6;

const roundForDisplay = (n: number): number => Math.round(n * DISPLAY_PRECISION) / DISPLAY_PRECISION;

/** Resources one replica reserves. */
export interface Reservation {
  cpus: number;
  gpus: number;
}

/** One replica's hold on its reservation; see {@link NodeResources.lease}. */
export interface Lease {
  /** Gives the reservation back; later calls do nothing. */
  release(): void;
  /** Holds no more than `r` from now on, giving back the rest (a config update lowering the deployment's reservation); never grows. */
  shrink(r: Reservation): void;
}

/**
 * The hold of a replica that runs outside the node's budget: the short-lived
 * replica that reads a scale-to-zero deployment's model metadata at start.
 */
export const UNBUDGETED: Lease = Object.freeze({ release: () => {}, shrink: () => {} });

/**
 * The local node's capacity, shared by every pool. A replica starts only if
 * its reservation fits; otherwise it stays pending until another replica
 * releases what it held. Nothing is oversubscribed silently.
 */
export class NodeResources {
  private usedCpus = 0;
  private usedGpus = 0;
  /** Room lent to a config update until the replicas it replaces have given theirs back. */
  private lentCpus = 0;
  private lentGpus = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly cpus: number,
    readonly gpus: number,
  ) {}

  /**
   * Lends `r` beyond the node's capacity, for the new replicas of a config
   * update to start beside the old ones that will give `r` back once
   * drained (a blue-green swap on a full node). Returns the give-back.
   */
  lend(r: Reservation): () => void {
    this.lentCpus += r.cpus;
    this.lentGpus += r.gpus;
    let lent = true;
    return () => {
      if (!lent) return;
      lent = false;
      this.lentCpus -= r.cpus;
      this.lentGpus -= r.gpus;
    };
  }

  /** Reserves `r` if it fits; false (and nothing reserved) if not. */
  tryReserve(r: Reservation): boolean {
    // A small epsilon keeps 0.1 + 0.2-style sums from refusing an exact fit.
    if (this.usedCpus + r.cpus > this.cpus + this.lentCpus + 1e-9 || this.usedGpus + r.gpus > this.gpus + this.lentGpus + 1e-9) return false;
    this.usedCpus += r.cpus;
    this.usedGpus += r.gpus;
    return true;
  }

  /**
   * Reserves `r` if it fits and returns the hold on it, or null (and nothing
   * reserved). The lease gives `r` back on its first `release()` only, so a
   * replica stopped on two paths (retired while its start is awaited) cannot
   * free another replica's share.
   */
  lease(r: Reservation): Lease | null {
    if (!this.tryReserve(r)) return null;
    let held = true;
    let holds = { ...r };
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.release(holds);
      },
      shrink: (to) => {
        const back = { cpus: Math.max(0, holds.cpus - to.cpus), gpus: Math.max(0, holds.gpus - to.gpus) };
        if (!held || (back.cpus === 0 && back.gpus === 0)) return;
        holds = { cpus: holds.cpus - back.cpus, gpus: holds.gpus - back.gpus };
        this.release(back);
      },
    };
  }

  /** Gives `r` back and tells the pools, so pending replicas may start. */
  release(r: Reservation): void {
    this.usedCpus = Math.max(0, this.usedCpus - r.cpus);
    this.usedGpus = Math.max(0, this.usedGpus - r.gpus);
    for (const l of this.listeners) l();
  }

  /** Calls `listener` whenever something is released. */
  onRelease(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * What is reserved, for people: sums rounded to a millionth of a core, so
   * six shares of a third read 2, not 1.9999999999999998. The accounting
   * itself stays exact (tryReserve and release use the unrounded sums).
   */
  usage(): { cpus: number; gpus: number; usedCpus: number; usedGpus: number } {
    return { cpus: this.cpus, gpus: this.gpus, usedCpus: roundForDisplay(this.usedCpus), usedGpus: roundForDisplay(this.usedGpus) };
  }
}
