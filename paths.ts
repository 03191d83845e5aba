import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder, whether running from source or from `dist/`. */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 3; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'examples'))) return dir;
    dir = resolve(dir, '..');
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
})();

/*
 * The one owner of "where is the package": the root, found from this file
 * whether it runs from source or from `dist/`. The model folder
 * (models/generate.ts) and the example config are placed from it.
 */

/** The example config that `ferry serve` uses when given none. */
export const EXAMPLE_CONFIG: string = join(PACKAGE_ROOT, 'examples', 'ferry.config.ts');
