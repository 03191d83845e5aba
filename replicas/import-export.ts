import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * One export of a user's module (a handler, a request router), TypeScript
 * loaded without a build step, as the config is. Rejects with the import's
 * error (file missing, syntax); resolves with undefined for an export the
 * module lacks.
 */
export async function importExport(path: string, name: string): Promise<unknown> {
  const url = pathToFileURL(path).href;
  const ext = extname(path);
  const mod: { default?: unknown } =
    ext === '.ts' || ext === '.mts' || ext === '.cts' ? await (await import('tsx/esm/api')).tsImport(url, import.meta.url) : await import(url);
  let exported = (mod as Record<string, unknown>)[name];
  // tsImport of a CommonJS-looking file may nest the default one level deeper.
  if (name === 'default' && exported && typeof exported === 'object' && 'default' in exported) exported = (exported as { default: unknown }).default;
  return exported;
}
