import type { ResolvedConfig, ResolvedDeployment } from './config-types.js';

/**
 * What a config update does to one deployment, as Ray Serve decides it when
 * `serve deploy` gets a new config: settings that need no new replica change
 * in place (`adjust`); anything else starts new replicas, moves traffic to
 * them once ready, then drains the old ones (`replace`).
 */
export type DeploymentChange =
  | { deployment: string; action: 'add' }
  | { deployment: string; action: 'remove' }
  | { deployment: string; action: 'adjust'; fields: string[] }
  | { deployment: string; action: 'replace'; fields: string[] };

/** Changes as the log, `--watch` and `ferry status` print them: `mlp replace (model, files on disk), extra add`; '' for none. */
export function describeChanges(changes: readonly DeploymentChange[]): string {
  return changes.map((c) => `${c.deployment} ${c.action}${'fields' in c ? ` (${c.fields.join(', ')})` : ''}`).join(', ');
}

/** A config update, planned: why it is refused (empty when it can go ahead), and what it changes. */
export interface ConfigChangePlan {
  refused: string[];
  changes: DeploymentChange[];
}

/** What the plan needs to know of what is serving now. */
export interface ServingNow {
  /** True when the model files a deployment serves differ from those its replicas loaded (same path, new bytes). */
  modelFilesChanged(d: ResolvedDeployment): boolean;
  /** The most replicas the deployment's live pool can hold; more needs a new pool. */
  mostReplicas(name: string): number;
}

/**
 * Settings of the whole server fixed at start, as Ray Serve's `http_options`
 * are: the listener and its limits, the node, the job queue, the admin
 * listener, keys, tracing and the model repository that confines model
 * paths. Changing one needs a restart.
 */
export const FIXED_AT_START = ['http', 'node', 'asyncInference', 'admin', 'auth', 'tracing', 'modelRepository'] as const;

/** A deployment's routes on the gateway, declared when it starts listening (Fastify adds no route after). */
const ROUTE_FIELDS = ['routePrefix', 'routes', 'websockets'] as const;

/**
 * Deployment settings that change in place (see ReplicaPool.adjust);
 * `batching` only for its fixed window; `resources` (a share Ferry may
 * settle anew as deployments come and go) for replicas started later, live
 * ones keeping no more than the new share.
 */
const IN_PLACE = new Set(['userConfig', 'numReplicas', 'autoscaling', 'requestTimeoutMs', 'maxQueuedRequests', 'batching', 'resources']);

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Resolved fields by the config keys they come from, as a plan names them. */
const CONFIG_KEY: Record<string, string> = { host: 'replicaHost', handlerExport: 'handler', requestRouterExport: 'requestRouter' };
const keyOf = (field: string): string => CONFIG_KEY[field] ?? field;

function mostOf(d: ResolvedDeployment): number {
  return d.autoscaling ? Math.max(d.autoscaling.maxReplicas, d.autoscaling.initialReplicas ?? 0) : d.numReplicas;
}

/** True when two batching settings differ only in their fixed window (maxBatchSize, batchWaitTimeoutMs). */
function windowOnly(a: ResolvedDeployment['batching'], b: ResolvedDeployment['batching']): boolean {
  const rest = ({ maxBatchSize: _m, batchWaitTimeoutMs: _w, ...others }: ResolvedDeployment['batching']) => others;
  return a.targetLatencyMs === null && same(rest(a), rest(b));
}

function changeOf(from: ResolvedDeployment, to: ResolvedDeployment, now: ServingNow, refused: string[]): DeploymentChange | null {
  for (const f of ROUTE_FIELDS) {
    if (!same(from[f], to[f])) refused.push(`deployment '${to.name}': its ${f} is fixed while it serves (a deployment's routes are declared at start); restart Ferry to change it`);
  }
  const changed = (Object.keys(to) as (keyof ResolvedDeployment)[]).filter((k) => !(ROUTE_FIELDS as readonly string[]).includes(k) && !same(from[k], to[k]));
  const fileChanged = now.modelFilesChanged(to);
  if (changed.length === 0 && !fileChanged) return null;
  const needsNew = changed.filter(
    (k) => !IN_PLACE.has(k) || (k === 'batching' && !windowOnly(from.batching, to.batching)),
  ) as string[];
  if (changed.some((k) => k === 'numReplicas' || k === 'autoscaling') && mostOf(to) > now.mostReplicas(to.name)) needsNew.push('replica count beyond what its pool holds');
  if (fileChanged) needsNew.push('files on disk');
  return needsNew.length > 0
    ? { deployment: to.name, action: 'replace', fields: [...new Set([...changed, ...needsNew].map(keyOf))] }
    : { deployment: to.name, action: 'adjust', fields: changed.map(keyOf) };
}

/**
 * Plans moving from the config serving now to `to`: refused as a whole when
 * it changes what is fixed at start (FIXED_AT_START, a serving deployment's
 * routes, routes on an added deployment); otherwise each deployment added,
 * removed, adjusted in place or replaced, in `to`'s order, removals last.
 */
export function planConfigChange(from: ResolvedConfig, to: ResolvedConfig, now: ServingNow): ConfigChangePlan {
  const refused: string[] = [];
  for (const key of FIXED_AT_START) {
    if (!same(from[key], to[key])) refused.push(`${key}: fixed while Ferry serves (set at start); restart Ferry to change it`);
  }
  const before = new Map(from.deployments.map((d) => [d.name, d]));
  const changes: DeploymentChange[] = [];
  for (const d of to.deployments) {
    const was = before.get(d.name);
    if (!was) {
      if (d.routePrefix !== null || d.routes.length > 0 || d.websockets.length > 0) {
        refused.push(`deployment '${d.name}': one added while serving is served under /v2/models/${d.name} and through handles; its routePrefix, routes and websockets need a restart`);
      }
      changes.push({ deployment: d.name, action: 'add' });
      continue;
    }
    const change = changeOf(was, d, now, refused);
    if (change) changes.push(change);
  }
  const kept = new Set(to.deployments.map((d) => d.name));
  for (const d of from.deployments) if (!kept.has(d.name)) changes.push({ deployment: d.name, action: 'remove' });
  return { refused, changes };
}
