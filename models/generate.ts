import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { MODEL_BUILDERS } from './model-zoo.js';

/** The model repository folder: `models/` at the package root (paths.ts owns where that is). */
export const MODELS_DIR: string = join(PACKAGE_ROOT, 'models');

/** Absolute path of a generated model, e.g. `modelPath('mlp.onnx')`. */
export function modelPath(file: string): string {
  return join(MODELS_DIR, file);
}

/**
 * Writes every generated model that is missing from `dir`. Files are written
 * to a temporary name and renamed, so concurrent callers never read half a file.
 * Returns the names it wrote.
 */
export function ensureModels(dir: string = MODELS_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, build] of Object.entries(MODEL_BUILDERS)) {
    const target = join(dir, file);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, build());
    renameSync(tmp, target);
    written.push(file);
  }
  return written;
}
