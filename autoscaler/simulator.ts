import type { ResolvedAutoscaling } from './autoscaling-config.js';
import { decide, INITIAL_POLICY_STATE, type PolicyState } from './policy.js';
import { rateAt, type TracePoint } from './trace.js';

/** How a replica serves, for the simulation. */
export interface ServiceModel {
  /** Requests per second one replica completes at full load. */
  replicaRps: number;
  /** Time one request takes once a replica takes it, in ms (in service = rate × this, by Little's law). */
  serviceMs: number;
  /** Time from a scale-up decision to the new replica serving, in ms. */
  coldStartMs: number;
}

/** One simulated step. */
export interface SimStep {
  t: number;
  rps: number;
  /** Requests waiting for a replica. */
  queue: number;
  /** Requests waiting plus in service: what the policy reads. */
  inSystem: number;
  ready: number;
  target: number;
}

/** What a run adds up to. */
export interface SimSummary {
  durationS: number;
  offered: number;
  served: number;
  maxQueue: number;
  /** Seconds during which requests per ready replica exceeded targetOngoingRequests. */
  timeOverTargetS: number;
  /** ∑ ready replicas × time. */
  replicaSeconds: number;
  maxReplicas: number;
  decisions: number;
}

/**
 * Replays a trace through the real policy (`decide`) with a fluid model of
 * service: arrivals join a queue, each ready replica completes replicaRps,
 * and new replicas serve after coldStartMs. Deterministic, no timers.
 * `onProgress`, when given, hears the share of the trace simulated (0 to 1)
 * at each hundredth, from within the run (it is synchronous).
 */
export function simulate(
  trace: readonly TracePoint[],
  config: ResolvedAutoscaling,
  service: ServiceModel,
  stepMs = 100,
  onProgress?: (done: number) => void,
): { steps: SimStep[]; summary: SimSummary; reasons: { t: number; reason: string }[] } {
  const dt = stepMs / 1000;
  const end = trace[trace.length - 1].t;
  const every = Math.max(1, Math.floor(end / dt / 100));
  let state: PolicyState = INITIAL_POLICY_STATE;
  let target = config.initialReplicas;
  let ready = target;
  const starting: number[] = []; // times at which starting replicas become ready
  let queue = 0;
  let nextDecision = config.metricsIntervalMs / 1000;
  const window: { t: number; v: number }[] = [];
  const steps: SimStep[] = [];
  const reasons: { t: number; reason: string }[] = [];
  const summary: SimSummary = { durationS: end, offered: 0, served: 0, maxQueue: 0, timeOverTargetS: 0, replicaSeconds: 0, maxReplicas: ready, decisions: 0 };

  for (let i = 0; i * dt <= end + 1e-9; i++) {
    if (onProgress && i % every === 0) onProgress(Math.min(1, (i * dt) / end));
    const t = i * dt;
    while (starting.length > 0 && starting[0] <= t + 1e-9) {
      starting.shift();
      ready++;
    }
    const rps = rateAt(trace, t);
    const arrivals = rps * dt;
    queue += arrivals;
    const served = Math.min(queue, ready * service.replicaRps * dt);
    queue -= served;
    const throughput = served / dt;
    const inSystem = queue + throughput * (service.serviceMs / 1000);
    summary.offered += arrivals;
    summary.served += served;
    summary.maxQueue = Math.max(summary.maxQueue, queue);
    summary.replicaSeconds += ready * dt;
    if (inSystem > config.targetOngoingRequests * Math.max(ready, 1) + 1e-9) summary.timeOverTargetS += dt;
    window.push({ t, v: inSystem });
    while (window[0].t < t - config.lookBackPeriodMs / 1000) window.shift();
    summary.maxReplicas = Math.max(summary.maxReplicas, ready);
    steps.push({ t, rps, queue, inSystem, ready, target });

    if (t + 1e-9 >= nextDecision) {
      nextDecision += config.metricsIntervalMs / 1000;
      const total = window.reduce((n, s) => n + s.v, 0) / window.length;
      const d = decide({ config, targetReplicas: target, runningReplicas: ready, totalRequests: total, state, now: t * 1000 });
      state = d.state;
      if (d.desiredReplicas !== target) {
        summary.decisions++;
        reasons.push({ t, reason: d.reason });
        if (d.desiredReplicas > target) {
          for (let k = target; k < d.desiredReplicas; k++) starting.push(t + service.coldStartMs / 1000);
        } else {
          // Down: drop starting ones first, then ready ones.
          let drop = target - d.desiredReplicas;
          while (drop > 0 && starting.length > 0) (starting.pop(), drop--);
          ready -= drop;
        }
        target = d.desiredReplicas;
      }
    }
  }
  onProgress?.(1);

  return { steps, summary, reasons };
}
