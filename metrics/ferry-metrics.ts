import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** Live figures of one deployment, read when Prometheus scrapes. */
export interface DeploymentGauges {
  deployment: string;
  queueDepth: number;
  ongoing: number;
  /** Replica counts by state (pending, starting, ready, stopping, ...). */
  replicas: Record<string, number>;
  /** Adaptive batching per replica (deployments with batching.targetLatencyMs): the last window and the cost fit, ms. */
  adaptive?: { replica: string; windowMs: number; fixedMs: number; perRowMs: number }[];
  /** A multiplexed deployment's loads and evictions over its life, and the models each replica holds now. */
  multiplex?: { loads: number; evictions: number; held: { replica: string; models: number }[] } | null;
  /** Calls its queue holds at most (`maxQueuedRequests`); absent where no queue is kept (a cluster node). */
  queueCapacity?: number;
  /** Its autoscaling bounds, or absent when it does not autoscale. */
  autoscaling?: { minReplicas: number; maxReplicas: number };
}

/** One registry's figures as prom-client exports them (getMetricsAsJSON). */
export type MetricSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Buckets for latencies from 1 ms to 30 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Why a replica is replaced (ReplicaLossCause): `ferry_replica_restarts_total`'s reasons. */
const RESTART_REASONS = ['crashed', 'hung', 'unhealthy', 'start_failed'] as const;

/** Buckets for batch sizes in rows. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/**
 * Ferry's Prometheus metrics in one registry. Gauges are read from the
 * pools at scrape time (`collect`), so they are never stale; counters and
 * histograms are fed as things happen, replica-side figures included.
 */

/** How long a scrape waits for the job store's counts (Redis) before leaving them out, in ms. */
const JOB_COUNTS_TIMEOUT_MS = 1000;

export class FerryMetrics {
  readonly registry = new Registry();
  private sources: () => DeploymentGauges[] = () => [];

  readonly requests = new Counter({
    name: 'ferry_requests_total',
    help: 'Inference requests answered, by deployment and HTTP status code.',
    labelNames: ['deployment', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = this.perDeployment('ferry_request_duration_seconds', 'Time from request received to answer sent, by deployment.');
  readonly batchSize = this.perDeployment('ferry_batch_size', 'Rows in each batch a replica ran, by deployment.', BATCH_BUCKETS);
  readonly inference = this.perDeployment(
    'ferry_model_inference_seconds',
    'Time onnxruntime spent on each batch, measured inside the replica, by deployment.',
  );
  readonly queueWait = this.perDeployment(
    'ferry_queue_wait_seconds',
    'Time a call waited (deployment queue and replica mailbox) before its batch began.',
  );
  readonly replicaRestarts = new Counter({
    name: 'ferry_replica_restarts_total',
    help: 'Replicas replaced because they crashed or failed to start, by deployment and reason.',
    labelNames: ['deployment', 'reason'] as const,
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'ferry_autoscaler_decisions_total',
    help: 'Autoscaler decisions that changed the replica target, by deployment and direction.',
    labelNames: ['deployment', 'direction'] as const,
    registers: [this.registry],
  });
  readonly desiredReplicas = new Gauge({
    name: 'ferry_autoscaler_desired_replicas',
    help: 'Replicas the autoscaler wants for each deployment.',
    labelNames: ['deployment'] as const,
    registers: [this.registry],
  });

  readonly asyncJobs = new Counter({
    name: 'ferry_async_jobs_total',
    help: 'Asynchronous inference jobs finished, by deployment and outcome (succeeded, failed, cancelled).',
    labelNames: ['deployment', 'outcome'] as const,
    registers: [this.registry],
  });
  private jobCounts: (() => Promise<{ queued: number; running: number }>) | null = null;

  private perDeployment(name: string, help: string, buckets = LATENCY_BUCKETS): Histogram<'deployment'> {
    return new Histogram({ name, help, labelNames: ['deployment'] as const, buckets, registers: [this.registry] });
  }

  /** A counter read at scrape time from a total kept elsewhere (shared memory), set rather than incremented. */
  private scrapeCounter(name: string, help: string, read: (d: DeploymentGauges) => number | null): void {
    const sources = () => this.sources();
    new Counter({
      name,
      help,
      labelNames: ['deployment'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const d of sources()) {
          const n = read(d);
          if (n !== null) this.inc({ deployment: d.deployment }, n);
        }
      },
    });
  }

  /** A gauge set at scrape time from every deployment's figures. */
  private scrapeGauge(name: string, help: string, labelNames: readonly string[], fill: (g: Gauge<string>, d: DeploymentGauges) => void): void {
    const sources = () => this.sources();
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const d of sources()) fill(this, d);
      },
    });
  }

  /**
   * `processWide: false` makes an ingress thread's registry: its requests and
   * the batches its answers carry, without Node's process metrics or the
   * gauges the control plane reads (it merges the two at scrape time).
   */
  constructor(opts: { processWide?: boolean; node?: boolean } = {}) {
    if (opts.processWide === false) return;
    // A cluster node's replicas serve the gateways' queues: the queue and the calls in flight are the gateways' figures, counted once there.
    if (!opts.node) {
      this.scrapeGauge('ferry_queue_depth', 'Calls waiting in the deployment queue for a replica with room.', ['deployment'], (g, d) =>
        g.set({ deployment: d.deployment }, d.queueDepth),
      );
      this.scrapeGauge('ferry_ongoing_requests', 'Calls held by replicas (running or in their mailboxes).', ['deployment'], (g, d) =>
        g.set({ deployment: d.deployment }, d.ongoing),
      );
      this.scrapeGauge('ferry_queue_capacity', 'Calls the deployment queue holds at most (maxQueuedRequests); past it, 503.', ['deployment'], (g, d) => {
        if (d.queueCapacity !== undefined) g.set({ deployment: d.deployment }, d.queueCapacity);
      });
      this.scrapeGauge('ferry_autoscaler_min_replicas', 'The autoscaler\'s lower bound for each autoscaled deployment (autoscaling.minReplicas).', ['deployment'], (g, d) => {
        if (d.autoscaling) g.set({ deployment: d.deployment }, d.autoscaling.minReplicas);
      });
      this.scrapeGauge('ferry_autoscaler_max_replicas', 'The autoscaler\'s upper bound for each autoscaled deployment (autoscaling.maxReplicas).', ['deployment'], (g, d) => {
        if (d.autoscaling) g.set({ deployment: d.deployment }, d.autoscaling.maxReplicas);
      });
    }
    this.scrapeGauge(opts.node ? 'ferry_node_replicas' : 'ferry_replicas', opts.node ? "This node's replicas by deployment and state." : 'Replicas by deployment and state.', ['deployment', 'state'], (g, d) => {
      for (const [state, n] of Object.entries(d.replicas)) g.set({ deployment: d.deployment, state }, n);
    });
    this.scrapeGauge(
      'ferry_batch_window_seconds',
      'Adaptive batching: the wait window each replica chose last, from its batch cost and the arrival rate (batching.targetLatencyMs).',
      ['deployment', 'replica'],
      (g, d) => {
        for (const r of d.adaptive ?? []) g.set({ deployment: d.deployment, replica: r.replica }, r.windowMs / 1000);
      },
    );
    this.scrapeGauge(
      'ferry_batch_cost_seconds',
      "Adaptive batching: each replica's fit of its batch time, seconds = fixed + per_row · rows.",
      ['deployment', 'replica', 'term'],
      (g, d) => {
        for (const r of d.adaptive ?? []) {
          g.set({ deployment: d.deployment, replica: r.replica, term: 'fixed' }, r.fixedMs / 1000);
          g.set({ deployment: d.deployment, replica: r.replica, term: 'per_row' }, r.perRowMs / 1000);
        }
      },
    );
    this.scrapeCounter('ferry_multiplexed_model_loads_total', 'Multiplexed models loaded by replicas (first use on a replica, or again after eviction), by deployment.', (d) => d.multiplex?.loads ?? null);
    this.scrapeCounter('ferry_multiplexed_model_evictions_total', 'Multiplexed models released by replicas to make room (least recently used beyond maxModelsPerReplica), by deployment.', (d) => d.multiplex?.evictions ?? null);
    this.scrapeGauge('ferry_multiplexed_models', 'Multiplexed models each replica holds loaded now.', ['deployment', 'replica'], (g, d) => {
      for (const r of d.multiplex?.held ?? []) g.set({ deployment: d.deployment, replica: r.replica }, r.models);
    });
    const jobCounts = () => this.jobCounts;
    new Gauge({
      name: 'ferry_async_jobs',
      help: 'Asynchronous inference jobs by state: queued (waiting their turn) and running. With Redis, the whole cluster\'s (every gateway reports the same jobs).',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const read = jobCounts();
        if (!read) return;
        // A Redis that hangs (rather than refuses) must not hold the scrape: unknown, the gauge is left out.
        let timer: NodeJS.Timeout | undefined;
        const c = await Promise.race([read().catch(() => null), new Promise<null>((resolve) => (timer = setTimeout(resolve, JOB_COUNTS_TIMEOUT_MS, null)))]);
        clearTimeout(timer);
        if (!c) return;
        this.set({ state: 'queued' }, c.queued);
        this.set({ state: 'running' }, c.running);
      },
    });
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges *_total, which Prometheus reserves for
    // counters (promtool rejects them); the per-type gauges without the suffix stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  /**
   * Starts a deployment's event counters at 0 — its restarts for every
   * reason, and its autoscaler's decisions each way when it autoscales — so
   * the first event is an increase Prometheus sees (a series that first
   * appears at 1 counts as no increase in `increase()`).
   */
  countFromZero(deployment: string, autoscaled: boolean): void {
    for (const reason of RESTART_REASONS) this.replicaRestarts.inc({ deployment, reason }, 0);
    if (autoscaled) for (const direction of ['up', 'down']) this.decisions.inc({ deployment, direction }, 0);
  }

  /** Where `ferry_async_jobs{state}` reads the jobs queued and running (the job store). */
  readJobsFrom(counts: () => Promise<{ queued: number; running: number }>): void {
    this.jobCounts = counts;
  }

  /** Where the scrape-time gauges read from. */
  readFrom(sources: () => DeploymentGauges[]): void {
    this.sources = sources;
  }

  /** Records what a replica's answers carried: its batch's figures (once per batch) and the calls' queue waits. */
  answered(deployment: string, batch: { rows: number; inferenceMs: number } | undefined, queueWaitsMs: readonly number[]): void {
    if (batch) {
      this.batchSize.observe({ deployment }, batch.rows);
      this.inference.observe({ deployment }, batch.inferenceMs / 1000);
    }
    for (const w of queueWaitsMs) this.queueWait.observe({ deployment }, Math.max(0, w) / 1000);
  }

  /** Records one answered inference request. */
  observeRequest(deployment: string, code: number, seconds: number): void {
    this.requests.inc({ deployment, code: String(code) });
    this.requestDuration.observe({ deployment }, seconds);
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  /** This registry's figures, to send to the thread that merges them. */
  snapshot(): Promise<MetricSnapshot> {
    return this.registry.getMetricsAsJSON();
  }

  /**
   * The figures the status page charts (requests by code, their latency,
   * batch sizes), with those of `others` (ingress threads' snapshots)
   * summed in; read without running the scrape-time gauges.
   */
  async traffic(others: readonly MetricSnapshot[] = []): Promise<MetricSnapshot> {
    const charted = [this.requests, this.requestDuration, this.batchSize];
    const own = (await Promise.all(charted.map((m) => m.get()))) as MetricSnapshot;
    if (others.length === 0) return own;
    const names = new Set(['ferry_requests_total', 'ferry_request_duration_seconds', 'ferry_batch_size']);
    const merged = AggregatorRegistry.aggregate([own, ...others.map((s) => s.filter((m) => names.has(m.name)))]);
    return merged.getMetricsAsJSON() as Promise<MetricSnapshot>;
  }

  /**
   * This registry merged with other threads' snapshots, as one process:
   * counters and histogram buckets summed per label set (prom-client's
   * cluster aggregation), so a scrape of any ingress sees them all.
   */
  async exposeWith(others: readonly MetricSnapshot[]): Promise<{ contentType: string; text: string }> {
    if (others.length === 0) return this.expose();
    const merged = AggregatorRegistry.aggregate([await this.snapshot(), ...others]);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }
}
