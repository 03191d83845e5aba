import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { ConfigLoadError } from '../errors.js';
import type { ResolvedConfig } from './config-types.js';
import { validateConfig, type ValidateOptions } from './validate-config.js';

/** Loads of changed config files so far: each is imported under a URL of its own. */
let reloads = 0;

/**
 * Imports a config file (TypeScript, JavaScript or JSON; no build step) and
 * validates it. The default export is the config. With `fresh`, the file
 * is imported anew (the module cache keeps the first import of a URL):
 * `ferry serve --watch` reads a changed file so; modules the config itself
 * imports are not read again.
 */
export async function loadConfig(file: string, opts: ValidateOptions & { fresh?: boolean } = {}): Promise<ResolvedConfig> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigLoadError(path, 'file not found');
  let mod: { default?: unknown };
  try {
    const ext = extname(path);
    const url = pathToFileURL(path).href + (opts.fresh ? `?ferry-reload=${++reloads}` : '');
    if (ext === '.json') mod = await import(url, { with: { type: 'json' } });
    else if (ext === '.ts' || ext === '.mts' || ext === '.cts') mod = await tsImport(url, import.meta.url);
    else mod = await import(url);
  } catch (err) {
    throw new ConfigLoadError(path, (err as Error).message);
  }
  // tsImport of a CommonJS-looking file may nest the default one level deeper.
  let raw = mod.default;
  if (raw && typeof raw === 'object' && 'default' in raw && !('deployments' in raw)) raw = (raw as { default: unknown }).default;
  if (raw === undefined) throw new ConfigLoadError(path, 'the file has no default export');
  return validateConfig(raw, path, opts);
}
