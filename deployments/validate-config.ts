import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';
import { HANDLER_LIFECYCLE, SHUTDOWN_GRACE_MS } from '../constants.js';
import { ConfigInvalidError } from '../errors.js';
import { dottedPath } from '../json-path.js';
import { ferryConfigSchema } from './config-schema.js';
import type { DeploymentConfig, FerryConfig, ResolvedBatching, ResolvedConfig, ResolvedDeployment } from './config-types.js';
import { ASYNC_INFERENCE_DEFAULTS, BUILT_IN_ROUTERS, DEPLOYMENT_DEFAULTS, HTTP_DEFAULTS, NODE_DEFAULTS } from './defaults.js';
import { resolveAutoscaling } from '../autoscaler/index.js';
import { amountText, initialOf, settleCpuShares } from './cpu-shares.js';
import { multiplexProblems, resolveMultiplex } from './multiplex-config.js';
import { resolveAuth } from './auth-config.js';

/** Options for {@link validateConfig}. */
export interface ValidateOptions {
  /** Returns why a device cannot be used here, or null when it can. @default every device accepted */
  checkDevice?: (device: 'cpu' | 'cuda') => string | null;
  /**
   * Whether replicas must fit this machine (`node`). A cluster gateway runs
   * none: its replicas run on `ferry node`s, and one that fits none waits as
   * pending. @default true
   */
  checkNode?: boolean;
}

const RESERVED_PREFIXES = ['/v2', '/-', '/metrics'];
/** Routes a route prefix serves below itself. */
const PREFIX_ROUTES = ['/infer', '/ready', '/stream'];

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  // JSON writes these as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function explain(e: ValueError): string {
  const where = dottedPath(e.path) || '(config)';
  const s = e.schema as TSchema & Record<string, unknown>;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return `${where} is not a known key`;
    case ValueErrorType.ObjectRequiredProperty:
      return `${where} is required`;
    case ValueErrorType.Union: {
      const options = (s.anyOf as { const?: unknown; type?: string }[] | undefined)?.map((o) =>
        o.const !== undefined ? JSON.stringify(o.const) : o.type === 'boolean' ? 'true, false' : `an ${o.type}`,
      );
      return `${where} must be one of ${options?.join(', ') ?? 'the allowed values'} (got ${describe(e.value)})`;
    }
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `${where} must be ${s.type === 'integer' ? 'an integer' : 'a number'} >= ${s.minimum} (got ${describe(e.value)})`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `${where} must be <= ${s.maximum} (got ${describe(e.value)})`;
    case ValueErrorType.StringPattern:
      return `${where} must match ${s.pattern} (got ${describe(e.value)})`;
    case ValueErrorType.ArrayMinItems:
      return `${where} must list at least ${s.minItems} item (got ${describe(e.value)})`;
    default:
      return `${where}: ${e.message.toLowerCase()} (got ${describe(e.value)})`;
  }
}

function objectBranchErrors(e: ValueError): ValueError[] {
  for (const branch of e.errors) {
    const errors = [...branch];
    if (errors.length > 0 && errors.every((x) => x.path !== e.path)) return errors;
  }
  return [];
}

/** The schema's problems, and the paths of every error, to tell which parts are sound. */
function schemaProblems(raw: unknown): { problems: string[]; paths: string[] } {
  const seen = new Set<string>();
  const problems: string[] = [];
  const paths: string[] = [];
  for (const e of Value.Errors(ferryConfigSchema, raw)) {
    paths.push(e.path);
    // A union reports one error per branch too; the union line says it all.
    if (e.path && [...seen].some((p) => e.path === p)) continue;
    seen.add(e.path);
    // An object given where a union takes an object: its own problems say more than "not a union value".
    const inner = e.type === ValueErrorType.Union && typeof e.value === 'object' && e.value !== null ? objectBranchErrors(e) : [];
    if (inner.length > 0) problems.push(...inner.map(explain));
    else problems.push(explain(e));
  }
  return { problems, paths };
}

/**
 * The parts of a config the semantic checks may read although the schema
 * failed: the deployments whose own entries passed (by index), and whether
 * `node` did. A check that read a broken part would read wrong types.
 */
function soundParts(raw: unknown, errorPaths: readonly string[]): { deployments: number[]; node: boolean } {
  if (typeof raw !== 'object' || raw === null || errorPaths.includes('')) return { deployments: [], node: false };
  const node = !errorPaths.some((p) => p === '/node' || p.startsWith('/node/'));
  const list = (raw as { deployments?: unknown }).deployments;
  if (!Array.isArray(list) || errorPaths.includes('/deployments')) return { deployments: [], node };
  const broken = new Set(errorPaths.map((p) => /^\/deployments\/(\d+)(?:\/|$)/.exec(p)?.[1]).filter((i) => i !== undefined).map(Number));
  return { deployments: list.map((_, i) => i).filter((i) => !broken.has(i)), node };
}

function resolveBatching(b: DeploymentConfig['batching']): ResolvedBatching {
  if (b === false) return { ...DEPLOYMENT_DEFAULTS.batching, mode: 'off' };
  if (b === undefined) return { ...DEPLOYMENT_DEFAULTS.batching, mode: 'auto' };
  return { ...DEPLOYMENT_DEFAULTS.batching, ...(b === true ? {} : b), mode: 'on' };
}

function resolveRouter(router: string | undefined, multiplexed: boolean, path: (p: string) => string): { requestRouter: string; requestRouterExport: string } {
  const name = router ?? (multiplexed ? 'model-aware' : DEPLOYMENT_DEFAULTS.requestRouter);
  if (BUILT_IN_ROUTERS.includes(name)) return { requestRouter: name, requestRouterExport: 'default' };
  const hash = name.indexOf('#');
  return hash < 0 ? { requestRouter: path(name), requestRouterExport: 'default' } : { requestRouter: path(name.slice(0, hash)), requestRouterExport: name.slice(hash + 1) };
}

function resolveDeployment(d: DeploymentConfig, baseDir: string): ResolvedDeployment {
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    name: d.name,
    model: d.model === undefined ? null : path(d.model),
    models: Object.fromEntries(Object.entries(d.models ?? {}).map(([name, p]) => [name, path(p)])),
    handler: d.handler === undefined ? null : path(d.handler.split('#')[0]),
    handlerExport: d.handler?.includes('#') ? d.handler.slice(d.handler.indexOf('#') + 1) : 'default',
    userConfig: d.userConfig,
    healthCheckPeriodMs: d.healthCheckPeriodMs ?? DEPLOYMENT_DEFAULTS.healthCheckPeriodMs,
    healthCheckTimeoutMs: d.healthCheckTimeoutMs ?? DEPLOYMENT_DEFAULTS.healthCheckTimeoutMs,
    routes: (d.routes ?? []).map((r) => ({
      method: r.method ?? 'POST',
      path: r.path,
      call: r.call,
      body: r.body ?? 'json',
      response: r.response ?? 'json',
      contentType: r.contentType ?? (r.response === 'bytes' ? 'application/octet-stream' : 'application/json; charset=utf-8'),
    })),
    websockets: (d.websockets ?? []).map((w) => ({ path: w.path, call: w.call, messages: w.messages ?? 'json' })),
    routePrefix: d.routePrefix ?? null,
    ...resolveRouter(d.requestRouter, d.multiplex !== undefined, path),
    sessionAffinity: { ...DEPLOYMENT_DEFAULTS.sessionAffinity, ...d.sessionAffinity },
    multiplex: resolveMultiplex(d.multiplex, path),
    version: d.version ?? null,
    requestTimeoutMs: d.requestTimeoutMs ?? DEPLOYMENT_DEFAULTS.requestTimeoutMs,
    batchTimeoutMs: d.batchTimeoutMs ?? null,
    device: d.device ?? DEPLOYMENT_DEFAULTS.device,
    host: d.replicaHost ?? d.host ?? DEPLOYMENT_DEFAULTS.host,
    numReplicas: d.numReplicas ?? DEPLOYMENT_DEFAULTS.numReplicas,
    autoscaling: d.autoscaling ? resolveAutoscaling(d.autoscaling) : null,
    resources: { ...DEPLOYMENT_DEFAULTS.resources, ...d.resources },
    intraOpThreads: d.intraOpThreads ?? DEPLOYMENT_DEFAULTS.intraOpThreads,
    batching: resolveBatching(d.batching),
    maxOngoingRequests: d.maxOngoingRequests ?? DEPLOYMENT_DEFAULTS.maxOngoingRequests,
    maxQueuedRequests: d.maxQueuedRequests ?? DEPLOYMENT_DEFAULTS.maxQueuedRequests,
  };
}

/** Why a value is not plain JSON (a function, a class instance, a cycle...), or null. */
export function notPlainJson(value: unknown, seen = new Set<object>(), where = 'userConfig'): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${where} is ${value}`;
  if (value === undefined) return `${where} is undefined`;
  if (typeof value !== 'object') return `${where} is a ${typeof value}`;
  if (seen.has(value)) return `${where} refers to itself`;
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return `${where} is a ${proto?.constructor?.name ?? 'class instance'}, not a plain object`;
  seen.add(value);
  for (const [k, v] of Object.entries(value)) {
    const why = notPlainJson(v, seen, Array.isArray(value) ? `${where}[${k}]` : `${where}.${k}`);
    if (why) return why;
  }
  seen.delete(value);
  return null;
}

/** A deployment whose entry passed the schema: its index in the config, resolved and as given. */
interface SoundDeployment {
  i: number;
  d: ResolvedDeployment;
  raw: DeploymentConfig;
}

/**
 * A deployment that starts at zero reserves nothing at start, so the shares let
 * it through; but when what the others never give back leaves less than one of
 * its replicas, no request can ever start one, while readiness calls it ready
 * ("scaled to zero") and its requests time out.
 */
function neverStartsProblems(deployments: SoundDeployment[], node: { cpus: number; gpus: number }, cpusSettled: boolean): string[] {
  const problems: string[] = [];
  const kept = (d: ResolvedDeployment) => (d.autoscaling ? d.autoscaling.minReplicas : d.numReplicas);
  for (const { i, d } of deployments) {
    if (initialOf(d) !== 0) continue;
    for (const what of ['cpus', 'gpus'] as const) {
      // Unsettled shares leave default cpus at a placeholder; the share problems are reported instead.
      if (what === 'cpus' && !cpusSettled) continue;
      const own = d.resources[what];
      // Not fitting even an empty node is its own problem, reported already.
      if (own > node[what]) continue;
      const others = deployments.reduce((sum, o) => (o.i === i ? sum : sum + kept(o.d) * o.d.resources[what]), 0);
      // Initial replicas beyond the node wait as pending: the others never hold more than the node.
      const held = Math.min(others, node[what]);
      if (node[what] - held >= own - 1e-9) continue;
      problems.push(
        `deployments[${i}] (${d.name}) starts at zero and reserves ${amountText(own)} ${what} per replica, but the other deployments always hold ` +
          `${amountText(held)} of the node's ${node[what]} ${what}, so it could never start one: lower deployments[${i}].resources.${what}, ` +
          `another deployment's replicas or resources, or raise node.${what}`,
      );
    }
  }
  return problems;
}

/** The checks beyond the schema, over the sound deployments; those that read `node` only when it is sound. */
function semanticProblems(
  deployments: SoundDeployment[],
  node: { cpus: number; gpus: number } | null,
  opts: ValidateOptions,
): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const names = new Map<string, number>();
  const prefixes = new Map<string, number>();
  for (const { i, d, raw } of deployments) {
    const at = `deployments[${i}]`;
    const files: [string, string][] = [
      ...(d.model !== null ? [['model', d.model] as [string, string]] : []),
      ...Object.entries(d.models).map(([name, p]): [string, string] => [`models.${name}`, p]),
      ...(d.handler !== null ? [['handler', d.handler] as [string, string]] : []),
      ...(BUILT_IN_ROUTERS.includes(d.requestRouter) ? [] : [['requestRouter', d.requestRouter] as [string, string]]),
    ];
    for (const [key, file] of files) {
      if (!existsSync(file)) problems.push(`${at}.${key}: file not found: ${file}`);
      else if (!statSync(file).isFile()) problems.push(`${at}.${key}: not a file: ${file}`);
    }
    const multiplexed = multiplexProblems(at, d);
    problems.push(...multiplexed.problems);
    warnings.push(...multiplexed.warnings);
    if (d.handler === null) {
      if (d.model === null && d.multiplex === null) problems.push(`${at} (${d.name}) needs a model (an ONNX file), a multiplex folder of models, or a handler (a module of code)`);
      for (const key of ['models', 'userConfig'] as const) {
        if (raw[key] !== undefined) problems.push(`${at}.${key} is read by a handler, and the deployment has none: add ${at}.handler or remove ${key}`);
      }
    }
    const own = [...d.routes.map((r) => ({ key: 'routes', what: `${r.method} ${r.path}` })), ...d.websockets.map((w) => ({ key: 'websockets', what: `WebSocket ${w.path}` }))];
    if (own.length > 0 && d.handler === null) problems.push(`${at}.${own[0].key}: own routes are served by a handler's methods, and the deployment has none`);
    if (own.length > 0 && d.routePrefix === null) problems.push(`${at}.${own[0].key}: own routes are served under the deployment's routePrefix: set ${at}.routePrefix`);
    for (const [key, list] of [['routes', d.routes], ['websockets', d.websockets]] as const) {
      for (const r of list) {
        if (HANDLER_LIFECYCLE.includes(r.call)) problems.push(`${at}.${key}: ${r.path} calls '${r.call}', which Ferry calls itself (${HANDLER_LIFECYCLE.join(', ')}); route to a method of your own`);
      }
    }
    const seenRoutes = new Map<string, number>();
    own.forEach(({ key, what }, j) => {
      const path = what.split(' ')[1];
      if (PREFIX_ROUTES.includes(path)) problems.push(`${at}.${key}: ${path} is one of the OIP routes Ferry serves under the prefix (${PREFIX_ROUTES.join(', ')}); choose another path`);
      // Fastify allows one handler per method and path; a WebSocket route is a GET.
      const id = what.startsWith('WebSocket ') ? `GET ${path}` : what;
      const first = seenRoutes.get(id);
      if (first !== undefined) problems.push(`${at}: ${what} is declared twice`);
      else seenRoutes.set(id, j);
    });
    if (raw.userConfig !== undefined) {
      const why = notPlainJson(raw.userConfig);
      if (why) problems.push(`${at}.userConfig must be plain JSON (it is sent to every replica): ${why}`);
    }
    const sameName = names.get(d.name);
    if (sameName !== undefined) problems.push(`${at}.name ${JSON.stringify(d.name)} is already used by deployments[${sameName}]`);
    else names.set(d.name, i);
    if (d.routePrefix !== null) {
      const samePrefix = prefixes.get(d.routePrefix);
      if (samePrefix !== undefined) problems.push(`${at}.routePrefix ${d.routePrefix} is already used by deployments[${samePrefix}]`);
      else prefixes.set(d.routePrefix, i);
      const reserved = RESERVED_PREFIXES.find((p) => d.routePrefix === p || d.routePrefix!.startsWith(`${p}/`));
      if (reserved) problems.push(`${at}.routePrefix ${d.routePrefix} is inside Ferry's own ${reserved} routes`);
      // A prefix serves {prefix}/infer, /ready and /stream too: another prefix must not be one of them.
      for (const { i: j, d: other } of deployments) {
        if (j === i || other.routePrefix === null) continue;
        const sub = PREFIX_ROUTES.find((r) => d.routePrefix === `${other.routePrefix}${r}`);
        if (sub) problems.push(`${at}.routePrefix ${d.routePrefix} is the ${sub} route of deployments[${j}] (routePrefix ${other.routePrefix}); choose another prefix`);
      }
    }
    if (raw.host !== undefined) {
      if (raw.replicaHost !== undefined) problems.push(`${at}: host is the old name of replicaHost; give only replicaHost`);
      else warnings.push(`${at} (${d.name}): host is the old name of replicaHost (it reads like http.host); it still works in this release`);
    }
    const a = d.autoscaling;
    if (a && a.minReplicas === 0 && d.maxQueuedRequests === 0) {
      problems.push(`${at}: autoscaling.minReplicas 0 with maxQueuedRequests 0 refuses the request that would start a replica; allow a queue of at least 1`);
    }
    if (a && raw.numReplicas !== undefined) problems.push(`${at}: numReplicas and autoscaling exclude each other (autoscaling starts at initialReplicas)`);
    if (a && a.minReplicas > a.maxReplicas) problems.push(`${at}.autoscaling.minReplicas ${a.minReplicas} is above maxReplicas ${a.maxReplicas}`);
    if (a && (a.initialReplicas < a.minReplicas || a.initialReplicas > a.maxReplicas)) {
      problems.push(`${at}.autoscaling.initialReplicas ${a.initialReplicas} is outside [minReplicas ${a.minReplicas}, maxReplicas ${a.maxReplicas}]`);
    }
    const cpusGiven = raw.resources?.cpus !== undefined;
    if (node && ((cpusGiven && d.resources.cpus > node.cpus) || d.resources.gpus > node.gpus)) {
      const what = d.resources.gpus > node.gpus ? 'gpus' : 'cpus';
      problems.push(
        `${at} (${d.name}).resources (${d.resources.cpus} cpus, ${d.resources.gpus} gpus per replica) do not fit even an empty node ` +
          `(${node.cpus} cpus, ${node.gpus} gpus): lower ${at}.resources.${what} or raise node.${what}`,
      );
    }
    if (!BUILT_IN_ROUTERS.includes(raw.requestRouter ?? 'power-of-two-choices') && !/[./]/.test((raw.requestRouter ?? '').split('#')[0])) {
      problems.push(
        `${at}.requestRouter ${JSON.stringify(raw.requestRouter)} is neither a built-in router (${BUILT_IN_ROUTERS.join(', ')}) ` +
          `nor a module (a path with '/' or '.', e.g. './my-router.ts#MyRouter')`,
      );
    }
    const b = raw.batching;
    if (typeof b === 'object' && b.targetLatencyMs !== undefined) {
      if (b.batchWaitTimeoutMs !== undefined) warnings.push(`${at} (${d.name}): batching.batchWaitTimeoutMs is not used: with targetLatencyMs each replica chooses its own window`);
      if (d.batching.maxBatchSize === 1) warnings.push(`${at} (${d.name}): batching.targetLatencyMs with maxBatchSize 1 has nothing to batch: every call goes alone`);
    }
    const deviceProblem = opts.checkDevice?.(d.device);
    if (deviceProblem) problems.push(`${at}.device: ${deviceProblem}`);
    if (d.batching.mode !== 'off' && d.maxOngoingRequests < d.batching.maxBatchSize) {
      warnings.push(
        `${at} (${d.name}): maxOngoingRequests ${d.maxOngoingRequests} is below batching.maxBatchSize ${d.batching.maxBatchSize}, ` +
          `so a replica never holds enough calls to fill a batch`,
      );
    }
  }
  if (!node) return { problems, warnings };
  const shares = settleCpuShares(
    deployments.map((s) => s.d),
    deployments.map((s) => s.raw),
    node,
    deployments.map((s) => s.i),
  );
  const neverStarts = neverStartsProblems(deployments, node, shares.problems.length === 0);
  return { problems: [...problems, ...shares.problems, ...neverStarts], warnings: [...warnings, ...shares.warnings] };
}

/**
 * The checks against the machine that still make sense for a deployment the
 * schema failed (a model file, a device), so one round of errors lists them too.
 */
function checksBesideSchemaProblems(raw: unknown, source: string, opts: ValidateOptions, sound: readonly number[]): string[] {
  const deployments = (raw as { deployments?: unknown })?.deployments;
  if (!Array.isArray(deployments)) return [];
  const problems: string[] = [];
  deployments.forEach((d: { model?: unknown; handler?: unknown; device?: unknown } | null, i) => {
    // A sound deployment has these checks among its semantic ones.
    if (typeof d !== 'object' || d === null || sound.includes(i)) return;
    if (typeof d.model === 'string' && d.model !== '') {
      const model = isAbsolute(d.model) ? d.model : resolve(dirname(source), d.model);
      if (!existsSync(model)) problems.push(`deployments[${i}].model: file not found: ${model}`);
    }
    if (typeof d.handler === 'string' && d.handler !== '') {
      const file = d.handler.split('#')[0];
      const handler = isAbsolute(file) ? file : resolve(dirname(source), file);
      if (!existsSync(handler)) problems.push(`deployments[${i}].handler: file not found: ${handler}`);
    }
    if (d.device === 'cpu' || d.device === 'cuda') {
      const why = opts.checkDevice?.(d.device);
      if (why) problems.push(`deployments[${i}].device: ${why}`);
    }
  });
  return problems;
}

/** The model repository's real path, or why it cannot be one. */
function repositoryOf(dir: string, source: string): { path: string | null; problems: string[] } {
  const path = isAbsolute(dir) ? dir : resolve(dirname(source), dir);
  if (!existsSync(path) || !statSync(path).isDirectory()) return { path: null, problems: [`modelRepository: not a directory: ${path}`] };
  return { path: realpathSync(path), problems: [] };
}

/** True when `path` (symbolic links followed) lies inside `dir`, a real path. */
export function insideDirectory(path: string, dir: string): boolean {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    real = resolve(path);
  }
  const rel = relative(dir, real);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** A deployment's model files that lie outside the model repository. */
function outsideRepository(d: ResolvedDeployment, i: number, dir: string): string[] {
  const files = [...(d.model ? [['model', d.model]] : []), ...Object.entries(d.models).map(([id, p]) => [`models.${id}`, p])];
  return files.filter(([, p]) => !insideDirectory(p, dir)).map(([key, p]) => `deployments[${i}].${key}: ${p} is outside the model repository ${dir} (modelRepository confines model paths)`);
}

/**
 * Checks a config against the schema and the machine (model files, devices),
 * applies defaults, and returns it resolved. Throws one ConfigInvalidError
 * listing every problem, each with its path.
 */
export function validateConfig(raw: unknown, source: string, opts: ValidateOptions = {}): ResolvedConfig {
  const schema = schemaProblems(raw);
  // Semantic problems of the sound parts go in the same round as the schema's, so one fix-up clears them all.
  const sound = soundParts(raw, schema.paths);
  const config = raw as FerryConfig;
  const deployments = sound.deployments.map((i) => ({
    i,
    d: resolveDeployment(config.deployments[i], dirname(source)),
    raw: config.deployments[i],
  }));
  const node = sound.node ? { ...NODE_DEFAULTS, ...config.node } : null;
  const semantic = semanticProblems(deployments, opts.checkNode === false ? null : node, opts);
  const auth = schema.problems.some((p) => p.startsWith('auth')) ? { auth: null, problems: [] } : resolveAuth(config.auth, deployments.map((s) => s.d.name));
  const repository = typeof config?.modelRepository === 'string' ? repositoryOf(config.modelRepository, source) : { path: null, problems: [] };
  const confined = repository.path === null ? [] : deployments.flatMap((s) => outsideRepository(s.d, s.i, repository.path!));
  const problems = [
    ...schema.problems,
    ...checksBesideSchemaProblems(raw, source, opts, sound.deployments),
    ...semantic.problems,
    ...auth.problems,
    ...repository.problems,
    ...confined,
  ];
  if (problems.length > 0) {
    throw new ConfigInvalidError(source, problems.map((p) => `  - ${p}`).join('\n'));
  }
  return {
    http: { ...HTTP_DEFAULTS, ...config.http },
    node: node!,
    shutdownGraceMs: config.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
    asyncInference: { ...ASYNC_INFERENCE_DEFAULTS, ...config.asyncInference },
    auth: auth.auth,
    modelRepository: repository.path,
    tracing: config.tracing ? { serviceName: 'ferry', ...config.tracing } : null,
    admin: config.admin ? { host: config.admin.host ?? config.http?.host ?? HTTP_DEFAULTS.host, port: config.admin.port ?? 8001 } : null,
    deployments: deployments.map((s) => s.d),
    source,
    given: config,
    warnings: semantic.warnings,
  };
}
