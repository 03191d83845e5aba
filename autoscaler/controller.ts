import type { ResolvedAutoscaling } from './autoscaling-config.js';
import { clampReplicas, decide, INITIAL_POLICY_STATE, type Decision, type PolicyState } from './policy.js';

/** What the controller needs of a deployment's pool; it never touches replicas itself. */
export interface Scalable {
  readonly name: string;
  /** Replicas the pool is meant to have. */
  readonly targetReplicas: number;
  /** Replicas ready now. */
  readonly readyReplicas: number;
  /** Ongoing + queued requests right now. */
  load(): number;
  /** Sets the replicas the pool should have. */
  scaleTo(n: number): void;
  /** Calls `listener` when a request arrives at zero replicas. */
  onDemand(listener: () => void): void;
}

/** One decision, as kept for `ferry status` and logs. */
export interface DecisionRecord {
  /** When (epoch ms). */
  at: number;
  deployment: string;
  from: number;
  to: number;
  direction: Decision['direction'];
  /** Ongoing + queued requests averaged over the look-back period. */
  totalRequests: number;
  runningReplicas: number;
  reason: string;
}

/** Options for {@link AutoscalerController}. */
export interface ControllerOptions {
  /** Told of every decision that changes a target. @default none */
  onChange?: (record: DecisionRecord) => void;
  /** Told of every tick's decision, changes and holds alike. @default none */
  onTick?: (record: DecisionRecord) => void;
  /** Changes kept per deployment. @default 50 */
  historySize?: number;
  /** Clock (epoch ms). @default Date.now */
  now?: () => number;
}

interface Tracked {
  target: Scalable;
  config: ResolvedAutoscaling;
  state: PolicyState;
  samples: { at: number; load: number }[];
  history: DecisionRecord[];
  latest: DecisionRecord | null;
  timers: NodeJS.Timeout[];
}

/**
 * Feeds the policy: samples each deployment's load, and every
 * metricsIntervalMs decides from its average over lookBackPeriodMs and
 * applies the answer to the pool. A request arriving at zero replicas
 * triggers a decision at once.
 */
export class AutoscalerController {
  private readonly tracked: Tracked[];
  private readonly now: () => number;
  private started = false;

  constructor(
    entries: { target: Scalable; config: ResolvedAutoscaling }[],
    private readonly opts: ControllerOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.tracked = entries.map((e) => ({ ...e, state: INITIAL_POLICY_STATE, samples: [], history: [], latest: null, timers: [] }));
  }

  /** Starts sampling and deciding. */
  start(): void {
    this.started = true;
    for (const t of this.tracked) this.watch(t);
  }

  private watch(t: Tracked): void {
    const sampleEvery = Math.min(250, t.config.metricsIntervalMs);
    t.timers.push(setInterval(() => this.sample(t), sampleEvery).unref());
    t.timers.push(setInterval(() => this.tick(t), t.config.metricsIntervalMs).unref());
    t.target.onDemand(() => this.tick(t));
  }

  /** Stops every timer. */
  stop(): void {
    this.started = false;
    for (const t of this.tracked) for (const timer of t.timers.splice(0)) clearInterval(timer);
  }

  /**
   * Scales `target` by `config` from now on (a config update): a deployment
   * already tracked keeps its decision history and policy state, so a new
   * pool replacing its old one, or new bounds, start from where it was;
   * `config` null stops scaling it. Decisions continue at the new interval.
   */
  track(target: Scalable, config: ResolvedAutoscaling | null): void {
    const i = this.tracked.findIndex((x) => x.target.name === target.name);
    const was = i >= 0 ? this.tracked[i] : null;
    if (was) {
      for (const timer of was.timers.splice(0)) clearInterval(timer);
      this.tracked.splice(i, 1);
    }
    if (!config) return;
    const t: Tracked = was ? { ...was, target, config, samples: [], timers: [] } : { target, config, state: INITIAL_POLICY_STATE, samples: [], history: [], latest: null, timers: [] };
    this.tracked.push(t);
    // New bounds hold at once, as Ray Serve applies them to every decision after its delays.
    const from = target.targetReplicas;
    const to = clampReplicas(from, config);
    if (was && to !== from) {
      target.scaleTo(to);
      const record: DecisionRecord = {
        at: this.now(),
        deployment: target.name,
        from,
        to,
        direction: to > from ? 'up' : 'down',
        totalRequests: 0,
        runningReplicas: target.readyReplicas,
        reason: `autoscaling bounds changed to ${config.minReplicas}..${config.maxReplicas}: ${from} → ${to} at once`,
      };
      t.state = INITIAL_POLICY_STATE;
      t.latest = record;
      t.history.push(record);
      if (t.history.length > (this.opts.historySize ?? 50)) t.history.shift();
      this.opts.onChange?.(record);
    }
    if (this.started) this.watch(t);
  }

  private sample(t: Tracked): void {
    const at = this.now();
    t.samples.push({ at, load: t.target.load() });
    while (t.samples.length > 0 && t.samples[0].at < at - t.config.lookBackPeriodMs) t.samples.shift();
  }

  /** Decides for one deployment now and applies the decision. */
  private tick(t: Tracked): void {
    this.sample(t);
    const totalRequests = t.samples.reduce((n, s) => n + s.load, 0) / t.samples.length;
    const from = t.target.targetReplicas;
    const runningReplicas = t.target.readyReplicas;
    const d = decide({ config: t.config, targetReplicas: from, runningReplicas, totalRequests, state: t.state, now: this.now() });
    t.state = d.state;
    const record: DecisionRecord = {
      at: this.now(),
      deployment: t.target.name,
      from,
      to: d.desiredReplicas,
      direction: d.direction,
      totalRequests: Math.round(totalRequests * 100) / 100,
      runningReplicas,
      reason: d.reason,
    };
    t.latest = record;
    this.opts.onTick?.(record);
    if (d.desiredReplicas === from) return;
    t.target.scaleTo(d.desiredReplicas);
    t.history.push(record);
    if (t.history.length > (this.opts.historySize ?? 50)) t.history.shift();
    this.opts.onChange?.(record);
  }

  /** Decisions that changed a target, oldest first, and the latest tick, per deployment. */
  report(deployment: string): { latest: DecisionRecord | null; changes: DecisionRecord[] } | null {
    const t = this.tracked.find((x) => x.target.name === deployment);
    return t ? { latest: t.latest, changes: [...t.history] } : null;
  }
}
