import { place, type Assignment, type NodeOffer } from './placement.js';
import type { ClusterTiming } from './timing.js';

/** What `ferry simulate --cluster` replays. */
export interface ClusterScenario {
  nodes: number;
  /** Cpus each node offers. */
  cpusPerNode: number;
  /** Replicas of one deployment (one cpu each). */
  replicas: number;
  /** Requests per second offered, spread over the ready replicas. */
  rps: number;
  /** Requests per second one replica completes. */
  replicaRps: number;
  /** Time a placed replica takes to serve (host start and model load), ms. */
  coldStartMs: number;
  /** When nodes die, ms from the start, and how many at each time. */
  deaths: { atMs: number; nodes: number }[];
  durationMs: number;
  timing: ClusterTiming;
}

/** One death's consequences. */
export interface DeathReport {
  atMs: number;
  nodes: string[];
  replicasLost: number;
  /** When the controller's pass placed them again, ms after the death (heartbeat TTL lapsing, then the next pass). */
  replacedAfterMs: number;
  /** When every replaced replica served again, ms after the death (a cold start more); null when some fit nowhere. */
  servingAfterMs: number | null;
  /** Replicas that fit on no node left. */
  pending: number;
}

/** The replay: each death's report, and the requests queued (peak, and summed over time) while capacity was short. */
export interface ClusterSimulation {
  deaths: DeathReport[];
  peakQueued: number;
  /** Request-seconds spent queued: the area under the queue. */
  queuedRequestSeconds: number;
  /** Calls in flight on the dead replicas, handed back to their gateways' queues for a retry. */
  retried: number;
  placementMs: number;
}

/** Simulation step, ms. */
const STEP_MS = 10;

/**
 * Replays node deaths through the controller's own placement code (place())
 * with its timing: a dead node's heartbeat key lapses `heartbeatTtlMs`
 * after its last beat (beats come every `heartbeatEveryMs`, so the death is
 * seen between TTL − beat interval and TTL after it), the next control pass
 * (every `controlIntervalMs`) places its replicas on the live nodes, and
 * each serves once its cold start is over. Requests beyond what the ready
 * replicas complete wait in the gateways' queues. Deterministic: deaths
 * take the nodes holding the most replicas, the beat falls half an
 * interval before each death.
 */
export function simulateCluster(s: ClusterScenario): ClusterSimulation {
  let nodes: NodeOffer[] = Array.from({ length: s.nodes }, (_, i) => ({ id: `node-${String(i).padStart(3, '0')}`, cpus: s.cpusPerNode, gpus: 0 }));
  const want = [{ deployment: 'd', replicas: s.replicas, resources: { cpus: 1, gpus: 0 } }];
  const t0 = performance.now();
  let assignment: Assignment = place(want, nodes).assignment;
  let placementMs = performance.now() - t0;
  /** Replicas by node, with the time each serves from. */
  let serving = new Map<string, number[]>(Object.entries(assignment.d).map(([n, k]) => [n, Array<number>(k).fill(0)]));
  const dead = new Set<string>();
  const reports: DeathReport[] = [];
  const pendingDeaths = [...s.deaths].sort((a, b) => a.atMs - b.atMs);
  const detections: { atMs: number; report: DeathReport }[] = [];
  let nextPass = 0;
  let queued = 0;
  let peak = 0;
  let area = 0;
  let retried = 0;
  for (let now = 0; now <= s.durationMs; now += STEP_MS) {
    while (pendingDeaths.length > 0 && pendingDeaths[0].atMs <= now) {
      const death = pendingDeaths.shift()!;
      const victims = [...serving.entries()].filter(([n]) => !dead.has(n)).sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1)).slice(0, death.nodes);
      const report: DeathReport = { atMs: now, nodes: victims.map(([n]) => n), replicasLost: victims.reduce((k, [, r]) => k + r.length, 0), replacedAfterMs: 0, servingAfterMs: null, pending: 0 };
      let readyNow = 0;
      for (const r of serving.values()) for (const at of r) if (at <= now) readyNow++;
      for (const [n, r] of victims) {
        dead.add(n);
        // What each lost replica held goes back for a retry: by Little's law, its arrival rate times a call's time in service.
        const held = readyNow > 0 ? s.rps / readyNow / s.replicaRps : 0;
        retried += r.filter((at) => at <= now).length * held;
        serving.delete(n);
      }
      reports.push(report);
      const lastBeat = now - s.timing.heartbeatEveryMs / 2;
      detections.push({ atMs: lastBeat + s.timing.heartbeatTtlMs, report });
    }
    if (now >= nextPass) {
      nextPass = now + s.timing.controlIntervalMs;
      const seen = detections.filter((d) => d.atMs <= now);
      if (seen.length > 0) {
        for (const d of seen) detections.splice(detections.indexOf(d), 1);
        nodes = nodes.filter((n) => !dead.has(n.id));
        const t1 = performance.now();
        const placement = place(want, nodes, assignment);
        placementMs = Math.max(placementMs, performance.now() - t1);
        const next = new Map<string, number[]>();
        for (const [n, k] of Object.entries(placement.assignment.d)) {
          const had = serving.get(n) ?? [];
          const kept = had.slice(0, k);
          while (kept.length < k) kept.push(now + s.coldStartMs);
          next.set(n, kept);
        }
        serving = next;
        assignment = placement.assignment;
        for (const d of seen) {
          d.report.replacedAfterMs = now - d.report.atMs;
          d.report.pending = placement.pending.d ?? 0;
          d.report.servingAfterMs = d.report.pending > 0 ? null : now + s.coldStartMs - d.report.atMs;
        }
      }
    }
    let ready = 0;
    for (const r of serving.values()) for (const at of r) if (at <= now) ready++;
    const completes = (ready * s.replicaRps * STEP_MS) / 1000;
    queued = Math.max(0, queued + (s.rps * STEP_MS) / 1000 - completes);
    peak = Math.max(peak, queued);
    area += (queued * STEP_MS) / 1000;
  }
  return { deaths: reports, peakQueued: Math.round(peak), queuedRequestSeconds: Math.round(area), retried: Math.round(retried), placementMs };
}
