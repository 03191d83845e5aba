/** Resources one replica reserves. */
export interface Reservation {
  cpus: number;
  gpus: number;
}

/**
 * The local node's capacity, shared by every pool. A replica starts only if
 * its reservation fits; otherwise it stays pending until another replica
 * releases what it held. Nothing is oversubscribed silently.
 */
export class NodeResources {
  private usedCpus = 0;
  private usedGpus = 0;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly cpus: number,
    readonly gpus: number,
  ) {}

  /** Reserves `r` if it fits; false (and nothing reserved) if not. */
  tryReserve(r: Reservation): boolean {
    // A small epsilon keeps 0.1 + 0.2-style sums from refusing an exact fit.
    if (this.usedCpus + r.cpus > this.cpus + 1e-9 || this.usedGpus + r.gpus > this.gpus + 1e-9) return false;
    this.usedCpus += r.cpus;
    this.usedGpus += r.gpus;
    return true;
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

  /** What is reserved and what is left. */
  usage(): { cpus: number; gpus: number; usedCpus: number; usedGpus: number } {
    return { cpus: this.cpus, gpus: this.gpus, usedCpus: this.usedCpus, usedGpus: this.usedGpus };
  }
}
