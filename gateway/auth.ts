import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ResolvedApiKey, ResolvedAuth } from '../deployments/index.js';
import rateLimit from '@fastify/rate-limit';
import { ForbiddenError, RateLimitedError, UnauthorizedError } from '../errors.js';

/** What a route asks of the caller's key. */
export type Need = { kind: 'open' } | { kind: 'key' } | { kind: 'admin' } | { kind: 'infer'; deployment: string };

/** The key each request came with, once checked. */
const keyOf = new WeakMap<FastifyRequest, ResolvedApiKey>();

/**
 * The key whose SHA-256 matches `token`'s, or null. Every key is compared,
 * each in constant time (`timingSafeEqual` over the two 32-byte hashes), so
 * the answer's timing tells nothing of which key, or how much of one,
 * matched. `equal` is there for the test that checks it.
 */
export function matchKey(token: string, keys: readonly ResolvedApiKey[], equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual): ResolvedApiKey | null {
  const presented = createHash('sha256').update(token).digest();
  let found: ResolvedApiKey | null = null;
  for (const key of keys) {
    if (equal(presented, hashOf(key)) && found === null) found = key;
  }
  return found;
}

/** Each key's hash as bytes, decoded from its hex once rather than on every request. */
const hashes = new WeakMap<ResolvedApiKey, Buffer>();

function hashOf(key: ResolvedApiKey): Buffer {
  let hash = hashes.get(key);
  if (!hash) hashes.set(key, (hash = Buffer.from(key.sha256, 'hex')));
  return hash;
}

/** Whether `key` may call `deployment`. */
export function mayInfer(key: ResolvedApiKey, deployment: string): boolean {
  return key.infer === '*' || key.infer.includes(deployment);
}

/**
 * Whether the request's key (from the auth hook) may call `deployment`: for
 * routes that learn their deployment late (a job read by id). True on a
 * gateway without keys.
 */
export function requestMayCall(req: FastifyRequest, deployment: string): boolean {
  const key = keyOf.get(req);
  return !key || mayInfer(key, deployment);
}

/**
 * The key a request presents: `Authorization: Bearer <key>`, or, where
 * `basic` (the pages a browser opens), HTTP Basic (RFC 7617) with the key
 * as password and any user name: how a browser signs in to the status page
 * and the API docs. '' when none.
 */
export function presentedKey(header: string | undefined, basic: boolean): string {
  if (typeof header !== 'string') return '';
  const bearer = /^Bearer\s+(.*)$/is.exec(header);
  if (bearer) return bearer[1]!.trim();
  if (!basic) return '';
  const credentials = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!credentials) return '';
  const pair = Buffer.from(credentials[1]!, 'base64').toString('utf8');
  const colon = pair.indexOf(':');
  return colon < 0 ? '' : pair.slice(colon + 1);
}

/** Pages a person opens in a browser: their 401 asks for Basic, so the browser shows its sign-in prompt. */
const BROWSER_PAGES = /^\/(-\/dashboard|docs)(\/|$|\?)/;

/**
 * API keys on every route (`auth` in the config): a request without a valid
 * key (see {@link presentedKey}; Basic only on the status page and docs)
 * gets 401 (with `WWW-Authenticate: Bearer`, or `Basic` on those pages), one whose key's scopes do not
 * cover the route gets 403, before its body is read. `need` says what each
 * route asks; health and metrics may be left open. Keys are compared by
 * hash in constant time and never logged.
 */
export function registerAuth(app: FastifyInstance, auth: ResolvedAuth, need: (req: FastifyRequest) => Need, gateways = 1): void {
  app.addHook('onRequest', async (req, reply) => {
    const wanted = need(req);
    if (wanted.kind === 'open') return;
    const page = BROWSER_PAGES.test(req.url);
    const token = presentedKey(req.headers.authorization, page);
    const scheme = page ? 'Basic' : 'Bearer';
    if (token === '') {
      reply.header('www-authenticate', `${scheme} realm="ferry"`);
      throw new UnauthorizedError(
        page ? 'this page needs an API key: sign in with the key as the password (any user name), or send Authorization: Bearer <key>' : 'this route needs an API key: send Authorization: Bearer <key>',
      );
    }
    const key = matchKey(token, auth.keys);
    if (!key) {
      reply.header('www-authenticate', scheme === 'Basic' ? 'Basic realm="ferry"' : 'Bearer realm="ferry", error="invalid_token"');
      throw new UnauthorizedError('the API key is not valid');
    }
    keyOf.set(req, key);
    if (wanted.kind === 'admin' && !key.admin) throw new ForbiddenError(`API key '${key.name}' has no admin scope, which this route needs`);
    if (wanted.kind === 'infer' && !mayInfer(key, wanted.deployment)) throw new ForbiddenError(`API key '${key.name}' may not call deployment '${wanted.deployment}'`);
  });
  if (auth.keys.some((k) => k.rateLimit)) registerRateLimits(app, gateways);
}

/**
 * Each key's rate limit (@fastify/rate-limit, counting in memory): past it,
 * 429 `FERRY_ERR_RATE_LIMITED` with Retry-After. Requests with a key that
 * has no limit, or with none, are not counted. Each of `gateways` ingress
 * threads counts its own share (the kernel spreads connections over them
 * about evenly), so the process as a whole holds the limit.
 */
function registerRateLimits(app: FastifyInstance, gateways: number): void {
  const limitOf = (req: FastifyRequest) => keyOf.get(req)?.rateLimit;
  void app.register(rateLimit, {
    global: true,
    // After the key is known (onRequest), before the body is read.
    hook: 'preParsing',
    keyGenerator: (req) => `key:${keyOf.get(req)?.name ?? ''}`,
    allowList: (req) => limitOf(req) === undefined,
    max: (req) => Math.max(1, Math.ceil(limitOf(req)!.max / gateways)),
    timeWindow: (req) => limitOf(req)!.timeWindowMs,
    errorResponseBuilder: (req, context) => {
      const limit = limitOf(req)!;
      return new RateLimitedError(`API key '${keyOf.get(req)!.name}' is over its rate limit of ${limit.max} requests per ${limit.timeWindowMs} ms; retry in ${context.after}`);
    },
  });
}

/**
 * What each route of a gateway asks: health and metrics as the config
 * leaves them; `/-/*` and the repository, admin; a model's routes (and a
 * multiplexed model's `deployment/model`), streams and each deployment's
 * own prefix, that deployment; anything else (server metadata, jobs, a
 * route that does not exist), any valid key — so an unknown path answers
 * 401 before 404, and tells a caller without a key nothing.
 */
export function routeNeeds(auth: ResolvedAuth, prefixes: ReadonlyMap<string, string>): (req: FastifyRequest) => Need {
  const open = new Set(auth.public);
  return (req) => {
    const path = (req.url.split('?')[0] ?? '').replace(/\/+$/, '');
    if (path.startsWith('/v2/health/')) return open.has('health') ? { kind: 'open' } : { kind: 'key' };
    if (path === '/metrics') return open.has('metrics') ? { kind: 'open' } : { kind: 'admin' };
    if (path.startsWith('/-/') || path === '/-' || path.startsWith('/v2/repository')) return { kind: 'admin' };
    const model = /^\/v2\/models\/([^/]+)/.exec(path);
    if (model) {
      const name = safeDecode(model[1]);
      return { kind: 'infer', deployment: name.split('/')[0] };
    }
    for (const [prefix, deployment] of prefixes) if (path === prefix || path.startsWith(`${prefix}/`)) return { kind: 'infer', deployment };
    return { kind: 'key' };
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
