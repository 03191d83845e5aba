import type { ResolvedConfig } from './config-types.js';

/**
 * The config serving now as `GET /-/config` answers it: every default
 * applied and paths absolute, its API keys by name and scope only (their
 * hashes stay in the process), without the load-time warnings.
 */
export function configJson(config: ResolvedConfig): Record<string, unknown> {
  const { warnings: _warnings, auth, ...rest } = config;
  return {
    ...rest,
    auth: auth && { ...auth, keys: auth.keys.map(({ sha256: _hash, ...key }) => key) },
  };
}
