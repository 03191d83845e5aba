import type { ResolvedDeployment } from '../deployments/index.js';
import type { DeploymentCounters } from './deployment-counters.js';
import { HeldModels } from './held-models.js';
import { ModelAwareRouter } from './model-aware-router.js';
import { importExport } from './import-export.js';
import { PowerOfTwoChoicesRouter, type RequestRouter, type RequestRouterClass } from './request-router.js';
import { SessionAffinityRouter, type SessionAffinityOptions, type SlotCandidate } from './session-affinity.js';
import { SessionTable } from './session-table.js';

/** How one deployment routes, as every ingress (thread or not) and the control plane's handles build it. */
export interface RoutingSpec {
  /** A built-in router's name, or a module's absolute path. */
  requestRouter: string;
  requestRouterExport: string;
  sessionAffinity: SessionAffinityOptions & { maxSessions: number };
  /** The session placement table every router of the deployment shares (session-affinity only). */
  sessions: SharedArrayBuffer | null;
  /** A multiplexed deployment's model ids and the table of the models each replica holds (see HeldModels), or null. */
  multiplex: { modelIds: string[]; held: SharedArrayBuffer; slots: number } | null;
}

/** The deployment's routing over `slots` replica slots, with the shared tables made that its routers read. */
export function routingSpecOf(config: ResolvedDeployment, slots: number): RoutingSpec {
  const sessions = config.requestRouter === 'session-affinity' ? new SessionTable(config.sessionAffinity.maxSessions).buffer : null;
  const m = config.multiplex;
  const multiplex = m ? { modelIds: [...m.modelIds], held: new HeldModels(slots, m.modelIds.length).buffer, slots } : null;
  return { requestRouter: config.requestRouter, requestRouterExport: config.requestRouterExport, sessionAffinity: { ...config.sessionAffinity }, sessions, multiplex };
}

/** The table of models held that `spec` shares, or null for a deployment that does not multiplex. */
export function heldModelsOf(spec: RoutingSpec): HeldModels | null {
  const m = spec.multiplex;
  return m ? new HeldModels(m.slots, m.modelIds.length, m.held) : null;
}

/** The log line for a router answer Ferry did not use (see DeploymentRouterOptions.onRouterError). */
export function routerFallbackMessage(deployment: string, reason: string): string {
  return `request router of ${deployment}: ${reason}; the call went by power of two choices`;
}

/** A router and what it wants told of each replica that comes up. */
export interface BuiltRouter {
  router: RequestRouter;
  onReplicaUp?(replica: SlotCandidate): void;
}

/**
 * Loads the class a `requestRouter` module exports (null for a built-in).
 * Rejects with an Error naming the module when it does not load or its
 * export is not a class.
 */
export async function loadRouterClass(spec: RoutingSpec): Promise<RequestRouterClass | null> {
  if (spec.requestRouter === 'power-of-two-choices' || spec.requestRouter === 'session-affinity' || spec.requestRouter === 'model-aware') return null;
  let exported: unknown;
  try {
    exported = await importExport(spec.requestRouter, spec.requestRouterExport);
  } catch (err) {
    throw routerError(`requestRouter ${spec.requestRouter} does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof exported !== 'function') {
    throw routerError(`requestRouter ${spec.requestRouter}: its ${spec.requestRouterExport === 'default' ? 'default export' : `export '${spec.requestRouterExport}'`} is not a class (got ${typeof exported})`);
  }
  const proto = (exported as { prototype?: { chooseReplicas?: unknown } }).prototype;
  if (typeof proto?.chooseReplicas !== 'function') throw routerError(`requestRouter ${spec.requestRouter}: class ${exported.name} has no chooseReplicas method`);
  return exported as RequestRouterClass;
}

/** A custom router that cannot be used: a config problem, reported as one (FERRY_ERR_CONFIG_INVALID). */
function routerError(message: string): Error {
  return Object.assign(new Error(message), { code: 'FERRY_ERR_CONFIG_INVALID' });
}

/**
 * Builds one ingress's router for a deployment; `Class` is what
 * {@link loadRouterClass} loaded. A custom constructor that throws fails
 * with FERRY_ERR_CONFIG_INVALID, naming the deployment and the module.
 */
export function buildRouter(deployment: string, maxOngoingRequests: number, spec: RoutingSpec, counters: DeploymentCounters, Class: RequestRouterClass | null): BuiltRouter {
  const context = { deployment, maxOngoingRequests };
  if (Class) {
    try {
      return { router: new Class(context) };
    } catch (err) {
      throw routerError(`requestRouter ${spec.requestRouter} of deployment ${deployment}: its constructor threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (spec.requestRouter === 'session-affinity' && spec.sessions) {
    const router = new SessionAffinityRouter(context, new SessionTable(spec.sessionAffinity.maxSessions, spec.sessions), counters, spec.sessionAffinity);
    return { router, onReplicaUp: (r) => router.remember(r) };
  }
  const held = heldModelsOf(spec);
  if (spec.requestRouter === 'model-aware' && held) return { router: new ModelAwareRouter(context, held, spec.multiplex!.modelIds) };
  return { router: new PowerOfTwoChoicesRouter(context) };
}
