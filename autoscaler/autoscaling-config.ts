/** How a deployment scales, as written in the config; every field optional. */
export interface AutoscalingConfig {
  /** Fewest replicas; 0 scales to zero when idle. @default 1 */
  minReplicas?: number;
  /** Most replicas. @default 1 (as Ray Serve) */
  maxReplicas?: number;
  /** Replicas at start. @default minReplicas */
  initialReplicas?: number;
  /** Ongoing + queued requests each replica should hold. @default 2 (as Ray Serve) */
  targetOngoingRequests?: number;
  /** How often the controller samples load and decides. @default 1000 */
  metricsIntervalMs?: number;
  /** Window the load is averaged over. @default 30000 (as Ray Serve) */
  lookBackPeriodMs?: number;
  /** How long a need for more replicas must hold before scaling up. @default 30000 (as Ray Serve) */
  upscaleDelayMs?: number;
  /** How long a need for fewer replicas must hold before scaling down. @default 600000 (as Ray Serve) */
  downscaleDelayMs?: number;
  /** How long the last replica must be idle before scaling to zero. @default downscaleDelayMs */
  downscaleToZeroDelayMs?: number;
  /** Fraction of an upward change applied at once (1 = all of it). @default 1 */
  upscalingFactor?: number;
  /** Fraction of a downward change applied at once (1 = all of it). @default 1 */
  downscalingFactor?: number;
}

/** An autoscaling config with every default applied. */
export type ResolvedAutoscaling = Required<AutoscalingConfig>;

/** Defaults, Ray Serve's where it has them; metricsIntervalMs is Ferry's own (Ray's control loop runs every 100 ms, its metrics push every 10 s). */
export const AUTOSCALING_DEFAULTS = Object.freeze({
  minReplicas: 1,
  maxReplicas: 1,
  targetOngoingRequests: 2,
  metricsIntervalMs: 1000,
  lookBackPeriodMs: 30_000,
  upscaleDelayMs: 30_000,
  downscaleDelayMs: 600_000,
  upscalingFactor: 1,
  downscalingFactor: 1,
});

/** Applies the defaults. */
export function resolveAutoscaling(a: AutoscalingConfig): ResolvedAutoscaling {
  const merged = { ...AUTOSCALING_DEFAULTS, ...a };
  const maxReplicas = a.maxReplicas ?? Math.max(AUTOSCALING_DEFAULTS.maxReplicas, merged.minReplicas);
  return {
    ...merged,
    maxReplicas,
    initialReplicas: a.initialReplicas ?? merged.minReplicas,
    downscaleToZeroDelayMs: a.downscaleToZeroDelayMs ?? merged.downscaleDelayMs,
  };
}
