import { createHash } from 'node:crypto';

/** Routes that may be left open when API keys are configured. */
export type PublicRoute = 'health' | 'metrics';

/** One API key, as a config names it. Give `sha256` or `fromEnv`, not both. */
export interface ApiKeyConfig {
  /** The key's name: in logs, metrics and errors (never the key itself). */
  name: string;
  /** The key's SHA-256 as 64 hex characters (`printf %s "$KEY" | sha256sum`): the config holds no secret. */
  sha256?: string;
  /** An environment variable holding the key itself, read (and hashed) when the config is loaded. */
  fromEnv?: string;
  /**
   * What it may do: `admin` (everything, the admin routes included), `infer`
   * (inference, streams, handler routes and jobs on every deployment), or
   * `infer:<deployment>` (on that deployment only).
   */
  scopes: string[];
  /** At most `max` requests per `timeWindowMs` with this key; past it, 429 with Retry-After. @default no limit */
  rateLimit?: { max: number; timeWindowMs: number };
}

/** API keys (bearer tokens) and the routes left open. */
export interface AuthConfig {
  apiKeys: ApiKeyConfig[];
  /** Routes served without a key. @default [] (every route needs one) */
  public?: PublicRoute[];
}

/** A key as the gateway checks it: its hash, and its scopes read. */
export interface ResolvedApiKey {
  name: string;
  /** SHA-256 of the key, hex. */
  sha256: string;
  admin: boolean;
  /** Deployments it may call, or '*' for every one. */
  infer: '*' | string[];
  /** Its rate limit, or absent for none. */
  rateLimit?: { max: number; timeWindowMs: number };
}

/** Auth with every default applied; null in a config without keys (every route open). */
export interface ResolvedAuth {
  keys: ResolvedApiKey[];
  public: PublicRoute[];
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Resolves `auth` (already checked against the schema): each key's hash,
 * from the config or from its environment variable, and its scopes. Returns
 * the problems found, each with its path, beside what could be resolved.
 */
export function resolveAuth(auth: AuthConfig | undefined, deployments: readonly string[], env: NodeJS.ProcessEnv = process.env): { auth: ResolvedAuth | null; problems: string[] } {
  if (!auth) return { auth: null, problems: [] };
  const problems: string[] = [];
  const keys: ResolvedApiKey[] = [];
  const names = new Set<string>();
  auth.apiKeys.forEach((k, i) => {
    const at = `auth.apiKeys[${i}]`;
    if (names.has(k.name)) problems.push(`${at}.name: '${k.name}' names another key too`);
    names.add(k.name);
    let sha256 = '';
    if ((k.sha256 === undefined) === (k.fromEnv === undefined)) problems.push(`${at}: give sha256 (the key's hash) or fromEnv (a variable holding the key), one of them`);
    else if (k.sha256 !== undefined) {
      if (!HEX_SHA256.test(k.sha256)) problems.push(`${at}.sha256: 64 lowercase hex characters, the SHA-256 of the key (printf %s "$KEY" | sha256sum)`);
      sha256 = k.sha256;
    } else {
      const value = env[k.fromEnv!];
      if (!value) problems.push(`${at}.fromEnv: the environment variable ${k.fromEnv} is not set (or empty)`);
      else sha256 = createHash('sha256').update(value).digest('hex');
    }
    let admin = false;
    let infer: '*' | string[] = [];
    for (const [j, scope] of k.scopes.entries()) {
      if (scope === 'admin') admin = true;
      else if (scope === 'infer') infer = '*';
      else if (scope.startsWith('infer:') && deployments.includes(scope.slice(6))) {
        if (infer !== '*') infer.push(scope.slice(6));
      } else {
        problems.push(`${at}.scopes[${j}]: '${scope}' is not a scope: admin, infer, or infer:<deployment> (${deployments.join(', ')})`);
      }
    }
    keys.push({ name: k.name, sha256, admin, infer: admin ? '*' : infer, ...(k.rateLimit ? { rateLimit: { ...k.rateLimit } } : {}) });
  });
  return { auth: { keys, public: [...new Set(auth.public ?? [])] }, problems };
}
