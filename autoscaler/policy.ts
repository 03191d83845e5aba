import type { ResolvedAutoscaling } from './autoscaling-config.js';

/** What the policy remembers between ticks: which way it wants to go, and since when. */
export interface PolicyState {
  wants: 'up' | 'down' | null;
  /** When the current want began (ms), or null. */
  since: number | null;
}

/** The initial state: no pending want. */
export const INITIAL_POLICY_STATE: PolicyState = Object.freeze({ wants: null, since: null });

/** One snapshot of a deployment, everything the policy decides from. */
export interface PolicyContext {
  config: ResolvedAutoscaling;
  /** Replicas the deployment is currently meant to have (the last decision). */
  targetReplicas: number;
  /** Replicas ready and serving now. */
  runningReplicas: number;
  /** Ongoing + queued requests, averaged over the look-back period. */
  totalRequests: number;
  state: PolicyState;
  /** Now, in ms. */
  now: number;
}

/** The policy's answer: the replicas to have, its new state, and why. */
export interface Decision {
  desiredReplicas: number;
  direction: 'up' | 'down' | 'hold';
  state: PolicyState;
  reason: string;
}

/**
 * Ray Serve's rule: errorRatio = total / (target × running); the change it
 * asks for is scaled by the up- or downscaling factor and rounded up. A
 * downscale that a small factor would round back to no change takes one
 * step instead, so it never sticks. errorRatio 2 means twice the replicas.
 */
export function scaledDesired(totalRequests: number, running: number, config: ResolvedAutoscaling): number {
  const errorRatio = totalRequests / (config.targetOngoingRequests * running);
  const raw = running * errorRatio;
  const delta = raw - running;
  const factor = delta > 0 ? config.upscalingFactor : config.downscalingFactor;
  let scaled = Math.ceil(running + factor * delta);
  if (Math.ceil(raw) < running && scaled === running) scaled -= 1;
  return scaled;
}

/** Keeps a count within [min, max]. */
export function clampReplicas(n: number, config: ResolvedAutoscaling): number {
  return Math.max(config.minReplicas, Math.min(config.maxReplicas, n));
}

/**
 * Applies a change only once the need has held for its delay; a change of
 * direction starts the wait again. Scaling the last replica away waits
 * downscaleToZeroDelayMs; any other downscale keeps at least one replica.
 */
export function applyDelay(
  desired: number,
  ctx: Pick<PolicyContext, 'config' | 'targetReplicas' | 'state' | 'now'>,
): { replicas: number; state: PolicyState; waitedMs: number; delayMs: number } {
  const { config, targetReplicas: current, state, now } = ctx;
  if (desired === current) return { replicas: current, state: INITIAL_POLICY_STATE, waitedMs: 0, delayMs: 0 };
  const wants = desired > current ? 'up' : 'down';
  const since = state.wants === wants && state.since !== null ? state.since : now;
  let target = desired;
  let delayMs = config.upscaleDelayMs;
  if (wants === 'down') {
    delayMs = current === 1 ? config.downscaleToZeroDelayMs : config.downscaleDelayMs;
    if (current > 1) target = Math.max(1, desired);
  }
  const waitedMs = now - since;
  if (waitedMs >= delayMs) return { replicas: target, state: INITIAL_POLICY_STATE, waitedMs, delayMs };
  return { replicas: current, state: { wants, since }, waitedMs, delayMs };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/**
 * Decides the replicas a deployment should have from one snapshot. Pure:
 * no timers, no I/O; the controller feeds it and applies the answer.
 */
export function decide(ctx: PolicyContext): Decision {
  const { config, targetReplicas, runningReplicas, totalRequests } = ctx;
  // Cold start: at zero replicas a waiting request brings one up at once.
  if (targetReplicas === 0 || runningReplicas === 0) {
    if (targetReplicas === 0 && totalRequests > 0) {
      const n = clampReplicas(Math.max(1, Math.ceil(config.upscalingFactor)), { ...config, minReplicas: Math.max(1, config.minReplicas) });
      return { desiredReplicas: n, direction: 'up', state: INITIAL_POLICY_STATE, reason: `${fmt(totalRequests)} requests waiting at zero replicas: start ${n} at once` };
    }
    // Wanted replicas that never got to run (pending for room) with no request waiting for them
    // are given up after the downscale delays, as running ones with no load would be.
    if (targetReplicas > 0 && totalRequests === 0 && config.minReplicas < targetReplicas) {
      const delayed = applyDelay(config.minReplicas, ctx);
      const idle = `no requests and no running replica (${targetReplicas} wanted, starting or pending)`;
      if (delayed.replicas !== targetReplicas) {
        return { desiredReplicas: delayed.replicas, direction: 'down', state: delayed.state, reason: `${idle}; scale down ${targetReplicas} → ${delayed.replicas} after ${secs(delayed.waitedMs)}` };
      }
      return { desiredReplicas: targetReplicas, direction: 'hold', state: delayed.state, reason: `${idle}; wait: down held ${secs(delayed.waitedMs)} of ${secs(delayed.delayMs)}` };
    }
    return {
      desiredReplicas: targetReplicas,
      direction: 'hold',
      state: ctx.state,
      reason: targetReplicas === 0 ? 'no requests at zero replicas' : `no running replica yet (${targetReplicas} starting or pending): nothing to measure`,
    };
  }
  const errorRatio = totalRequests / (config.targetOngoingRequests * runningReplicas);
  const wanted = clampReplicas(scaledDesired(totalRequests, runningReplicas, config), config);
  const delayed = applyDelay(wanted, ctx);
  const load = `${fmt(totalRequests)} requests over ${runningReplicas} running (target ${fmt(config.targetOngoingRequests)} each): ratio ${errorRatio.toFixed(2)} → ${wanted}`;
  if (delayed.replicas !== targetReplicas) {
    const direction = delayed.replicas > targetReplicas ? 'up' : 'down';
    return {
      desiredReplicas: delayed.replicas,
      direction,
      state: delayed.state,
      reason: `${load}; scale ${direction} ${targetReplicas} → ${delayed.replicas}${delayed.delayMs > 0 ? ` after ${secs(delayed.waitedMs)}` : ''}`,
    };
  }
  const reason =
    wanted === targetReplicas
      ? `${load}; hold at ${targetReplicas}`
      : `${load}; wait: ${delayed.state.wants} held ${secs(delayed.waitedMs)} of ${secs(delayed.delayMs)}`;
  return { desiredReplicas: targetReplicas, direction: 'hold', state: delayed.state, reason };
}
