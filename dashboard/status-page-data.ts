import type { DecisionRecord } from '../autoscaler/index.js';
import type { MetricSnapshot } from '../metrics/index.js';
import { countStates, TrafficHistory, type DeploymentNow, type DeploymentSeries } from './traffic-history.js';

/** What the status page reads of `GET /-/status` (FerryStatus), kept structural so this folder needs nothing of the server's. */
export interface StatusLike {
  version: string;
  node?: { cpus: number; gpus: number; usedCpus: number; usedGpus: number };
  deployments: readonly (Omit<DeploymentNow, 'replicas'> & {
    target: number;
    restarts: number;
    readiness: { ready: boolean; reason: string };
    replicas: readonly { id: string; state: string; ongoing: number; node?: string }[];
    autoscaling: { minReplicas: number; maxReplicas: number } | null;
    decisions: { changes: readonly DecisionRecord[] } | null;
  })[];
  cluster?: {
    nodes: readonly { id: string; host: string; port: number; cpus: number; gpus: number; beatAt: number; replicas: readonly unknown[] }[];
    unreachable: Readonly<Record<string, string>>;
  };
}

/** One deployment on the status page, now. */
export interface DeploymentPanel {
  name: string;
  /** Replicas the deployment is meant to have. */
  target: number;
  ready: boolean;
  reason: string;
  autoscaling: { minReplicas: number; maxReplicas: number } | null;
  restarts: number;
  queueDepth: number;
  ongoing: number;
  /** Replicas by state: `draining` are stopping (finishing their calls), `pending` fit on no node yet. */
  counts: { ready: number; starting: number; draining: number; pending: number };
  /** Every replica as `[id, state, calls it holds, node]`: compact, for hundreds of them. */
  replicas: [string, string, number, string][];
  /** The autoscaler's recent changes, newest first (at most {@link DECISIONS_SHOWN}). */
  decisions: Pick<DecisionRecord, 'at' | 'from' | 'to' | 'direction' | 'reason'>[];
}

/** One machine replicas run on. */
export interface NodePanel {
  id: string;
  address: string;
  cpus: number;
  gpus: number;
  replicas: number;
  /** CPUs replicas reserve (this machine only), or null. */
  usedCpus: number | null;
  /** Milliseconds since its last heartbeat (cluster nodes), or null. */
  beatAgoMs: number | null;
  /** Why the gateway cannot reach it, or ''. */
  unreachable: string;
}

/** What `GET /-/dashboard/data?since=N` answers. */
export interface StatusPageData {
  version: string;
  /** Epoch ms of this answer. */
  at: number;
  /** Milliseconds between samples: how often the page asks again. */
  intervalMs: number;
  /** The latest sample's number: ask `since` it next. */
  seq: number;
  /** Each deployment's samples after `since`. */
  series: Record<string, DeploymentSeries>;
  deployments: DeploymentPanel[];
  nodes: NodePanel[];
}

/** Decisions the page lists per deployment. */
const DECISIONS_SHOWN = 10;

/**
 * The status page's data source: samples the status and Ferry's own
 * metrics every `intervalMs` into a {@link TrafficHistory}, and answers the
 * page's polls with the samples it has not seen and the state now.
 */
export class StatusPage {
  private readonly history: TrafficHistory;
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;

  constructor(
    private readonly read: {
      status: () => StatusLike;
      /** Ferry's request counters and histograms, every gateway's merged. */
      metrics: () => Promise<MetricSnapshot>;
    },
    readonly intervalMs = 2000,
    capacity = 300,
  ) {
    this.history = new TrafficHistory(capacity);
  }

  /** Starts sampling (the first sample at once, so rates begin one interval later). */
  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sample now; skipped while the one before is still reading (a slow metrics merge). */
  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const snapshot = await this.read.metrics();
      this.history.record(Date.now(), this.read.status().deployments, snapshot);
    } catch {
      // A sample that cannot be read (an ingress thread ending) leaves a gap; the next one goes on.
    } finally {
      this.sampling = false;
    }
  }

  /** The page's data: samples after `since`, every deployment and node now. */
  data(since: number): StatusPageData {
    const status = this.read.status();
    const at = Date.now();
    return {
      version: status.version,
      at,
      intervalMs: this.intervalMs,
      ...this.history.since(since),
      deployments: status.deployments.map(panelOf),
      nodes: nodesOf(status, at),
    };
  }
}

function panelOf(d: StatusLike['deployments'][number]): DeploymentPanel {
  return {
    name: d.deployment,
    target: d.target,
    ready: d.readiness.ready,
    reason: d.readiness.reason,
    autoscaling: d.autoscaling ? { minReplicas: d.autoscaling.minReplicas, maxReplicas: d.autoscaling.maxReplicas } : null,
    restarts: d.restarts,
    queueDepth: d.queueDepth,
    ongoing: d.ongoing,
    counts: { ...countStates(d.replicas), pending: d.pending },
    replicas: d.replicas.map((r) => [r.id, r.state === 'stopping' ? 'draining' : r.state, r.ongoing, r.node ?? '']),
    decisions: (d.decisions?.changes ?? [])
      .slice(-DECISIONS_SHOWN)
      .reverse()
      .map(({ at, from, to, direction, reason }) => ({ at, from, to, direction, reason })),
  };
}

function nodesOf(status: StatusLike, at: number): NodePanel[] {
  if (status.cluster) {
    const listed = status.cluster.nodes.map((n) => ({
      id: n.id,
      address: `${n.host}:${n.port}`,
      cpus: n.cpus,
      gpus: n.gpus,
      replicas: n.replicas.length,
      usedCpus: null,
      beatAgoMs: Math.max(0, at - n.beatAt),
      unreachable: status.cluster!.unreachable[n.id] ?? '',
    }));
    return listed;
  }
  const n = status.node;
  if (!n) return [];
  const replicas = status.deployments.reduce((sum, d) => sum + d.replicas.filter((r) => r.state !== 'stopped' && r.state !== 'dead').length, 0);
  return [{ id: 'this machine', address: '', cpus: n.cpus, gpus: n.gpus, replicas, usedCpus: n.usedCpus, beatAgoMs: null, unreachable: '' }];
}
