import type { MetricSnapshot } from '../metrics/index.js';
import { histogramQuantile, type Bucket } from './histogram-quantile.js';

/** The figures the status page charts, one value per deployment per sample (null where there is nothing to tell, e.g. a latency with no request). */
export const SERIES = ['rate', 'errorRatio', 'p50Ms', 'p99Ms', 'batchRows', 'queue', 'ongoing', 'ready', 'starting', 'draining', 'pending'] as const;
export type SeriesName = (typeof SERIES)[number];

/** What a sample reads of one deployment's status (`PoolStats`). */
export interface DeploymentNow {
  deployment: string;
  queueDepth: number;
  ongoing: number;
  /** Replicas wanted that fit on no node yet. */
  pending: number;
  replicas: readonly { state: string }[];
}

/** One deployment's samples since a point, column by column: `t` in epoch ms, each series beside it. */
export type DeploymentSeries = { t: number[] } & Record<SeriesName, (number | null)[]>;

/** Cumulative figures of one deployment, read from the metrics at a sample. */
interface Totals {
  requests: number;
  errors: number;
  buckets: Bucket[];
  batchSum: number;
  batchCount: number;
}

interface Point {
  seq: number;
  at: number;
  values: Map<string, Record<SeriesName, number | null>>;
}

/**
 * The last minutes of every deployment's traffic, as the status page charts
 * it: each sample reads the pools' state (queue, in flight, replicas by
 * state) and the difference in Ferry's own counters since the sample
 * before — request rate (requests/s), error ratio (5xx over all answers,
 * as `ferry:errors:ratio1m` reckons it), p50/p99 latency (ms, from
 * `ferry_request_duration_seconds` the way `histogram_quantile` does),
 * mean batch rows. A counter that went down (a deployment replaced under
 * the same name) counts from zero, as Prometheus's `rate` does.
 */
export class TrafficHistory {
  private seq = 0;
  private readonly points: Point[] = [];
  private previous: { at: number; totals: Map<string, Totals> } | null = null;

  /** @param capacity samples kept (at 2 s each, 300 is ten minutes) */
  constructor(readonly capacity = 300) {}

  /** The latest sample's number (0 before any). */
  get latest(): number {
    return this.seq;
  }

  /** Takes one sample at `at` (epoch ms) of `deployments` and the merged metrics `snapshot`. */
  record(at: number, deployments: readonly DeploymentNow[], snapshot: MetricSnapshot): void {
    const totals = totalsOf(snapshot);
    const before = this.previous;
    const seconds = before ? (at - before.at) / 1000 : 0;
    const values = new Map<string, Record<SeriesName, number | null>>();
    for (const d of deployments) {
      const now = totals.get(d.deployment) ?? EMPTY;
      // Once there is a sample before, a deployment it did not count had answered nothing yet.
      const was = before ? (before.totals.get(d.deployment) ?? EMPTY) : undefined;
      const since = was ? difference(now, was) : null;
      values.set(d.deployment, {
        rate: since && seconds > 0 ? since.requests / seconds : null,
        errorRatio: since && since.requests > 0 ? since.errors / since.requests : null,
        p50Ms: since ? msOf(histogramQuantile(0.5, since.buckets)) : null,
        p99Ms: since ? msOf(histogramQuantile(0.99, since.buckets)) : null,
        batchRows: since && since.batchCount > 0 ? since.batchSum / since.batchCount : null,
        queue: d.queueDepth,
        ongoing: d.ongoing,
        ...countStates(d.replicas),
        pending: d.pending,
      });
    }
    this.previous = { at, totals };
    this.points.push({ seq: ++this.seq, at, values });
    if (this.points.length > this.capacity) this.points.shift();
  }

  /** Every deployment's samples after sample `seq` (0: all kept), with the latest sample's number to ask from next. */
  since(seq: number): { seq: number; series: Record<string, DeploymentSeries> } {
    const series: Record<string, DeploymentSeries> = {};
    for (const p of this.points) {
      if (p.seq <= seq) continue;
      for (const [name, v] of p.values) {
        const s = (series[name] ??= emptySeries());
        s.t.push(p.at);
        for (const k of SERIES) s[k].push(v[k]);
      }
    }
    return { seq: this.seq, series };
  }
}

/** Replicas ready, starting, and draining (stopping: finishing the calls they hold). */
export function countStates(replicas: readonly { state: string }[]): { ready: number; starting: number; draining: number } {
  const counts = { ready: 0, starting: 0, draining: 0 };
  for (const r of replicas) {
    if (r.state === 'ready') counts.ready++;
    else if (r.state === 'starting') counts.starting++;
    else if (r.state === 'stopping') counts.draining++;
  }
  return counts;
}

const EMPTY: Totals = { requests: 0, errors: 0, buckets: [], batchSum: 0, batchCount: 0 };

function emptySeries(): DeploymentSeries {
  return Object.assign({ t: [] as number[] }, Object.fromEntries(SERIES.map((k) => [k, [] as (number | null)[]]))) as DeploymentSeries;
}

/** A histogram value's own series name (`_bucket`, `_sum`, `_count`), which prom-client's JSON carries but its type leaves out. */
const nameOf = (v: object) => (v as { metricName?: string }).metricName;

const msOf = (seconds: number | null) => (seconds === null ? null : seconds * 1000);

/** What happened between two readings; a counter that went down was reset, and counts from zero. */
function difference(now: Totals, was: Totals): Totals {
  const reset = now.requests < was.requests || now.batchCount < was.batchCount;
  if (reset) return now;
  const earlier = new Map(was.buckets.map((b) => [b.le, b.count]));
  return {
    requests: now.requests - was.requests,
    errors: now.errors - was.errors,
    buckets: now.buckets.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) })),
    batchSum: now.batchSum - was.batchSum,
    batchCount: now.batchCount - was.batchCount,
  };
}

/** Each deployment's cumulative requests, 5xx answers, latency buckets and batch rows, from prom-client's JSON. */
function totalsOf(snapshot: MetricSnapshot): Map<string, Totals> {
  const totals = new Map<string, Totals>();
  const of = (deployment: unknown) => {
    const name = String(deployment);
    let t = totals.get(name);
    if (!t) totals.set(name, (t = { requests: 0, errors: 0, buckets: [], batchSum: 0, batchCount: 0 }));
    return t;
  };
  for (const metric of snapshot) {
    if (metric.name === 'ferry_requests_total') {
      for (const v of metric.values) {
        const t = of(v.labels.deployment);
        t.requests += v.value;
        if (String(v.labels.code).startsWith('5')) t.errors += v.value;
      }
    } else if (metric.name === 'ferry_request_duration_seconds') {
      for (const v of metric.values) {
        if (nameOf(v) !== 'ferry_request_duration_seconds_bucket') continue;
        const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
        of(v.labels.deployment).buckets.push({ le, count: v.value });
      }
    } else if (metric.name === 'ferry_batch_size') {
      for (const v of metric.values) {
        const t = of(v.labels.deployment);
        if (nameOf(v) === 'ferry_batch_size_sum') t.batchSum += v.value;
        else if (nameOf(v) === 'ferry_batch_size_count') t.batchCount += v.value;
      }
    }
  }
  for (const t of totals.values()) t.buckets.sort((a, b) => a.le - b.le);
  return totals;
}
