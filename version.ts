import { readFileSync } from 'node:fs';

/** Ferry's version, from its package.json (one folder up from the build, or beside the source). */
export const VERSION: string = (() => {
  for (const rel of ['./package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferry-serve' && pkg.version) return pkg.version;
    } catch {
      // not at this level; try the next
    }
  }
  return '0.0.0';
})();
