import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { ConfigLoadError } from '../errors.js';
import type { ResolvedConfig } from './config-types.js';
import { validateConfig, type ValidateOptions } from './validate-config.js';

/**
 * Imports a config file (TypeScript, JavaScript or JSON; no build step) and
 * validates it. The default export is the config.
 */
export async function loadConfig(file: string, opts: ValidateOptions = {}): Promise<ResolvedConfig> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigLoadError(path, 'file not found');
  let mod: { default?: unknown };
  try {
    const ext = extname(path);
    if (ext === '.json') mod = await import(pathToFileURL(path).href, { with: { type: 'json' } });
    else if (ext === '.ts' || ext === '.mts' || ext === '.cts') mod = await tsImport(pathToFileURL(path).href, import.meta.url);
    else mod = await import(pathToFileURL(path).href);
  } catch (err) {
    throw new ConfigLoadError(path, (err as Error).message);
  }
  // tsImport of a CommonJS-looking file may nest the default one level deeper.
  let raw = mod.default;
  if (raw && typeof raw === 'object' && 'default' in raw && !('deployments' in raw)) raw = (raw as { default: unknown }).default;
  if (raw === undefined) throw new ConfigLoadError(path, 'the file has no default export');
  return validateConfig(raw, path, opts);
}
