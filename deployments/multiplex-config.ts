import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DeploymentConfig, ResolvedDeployment, ResolvedMultiplex } from './config-types.js';
import { DEPLOYMENT_DEFAULTS } from './defaults.js';
import { onnxInterface } from './onnx-interface.js';

/** A multiplexed model's id: the file name before `.onnx`, spelled like a deployment's name. */
const MODEL_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Ids that would be read as the routes below `/v2/models/{name}/{modelId}`. */
const RESERVED_MODEL_IDS = ['ready', 'infer', 'stream', 'versions'];

/** The model ids a directory offers (its `<id>.onnx` files, sorted), and the files it skips with why. */
export function multiplexedModelIds(directory: string): { modelIds: string[]; skipped: string[] } {
  if (!existsSync(directory) || !statSync(directory).isDirectory()) return { modelIds: [], skipped: [] };
  const modelIds: string[] = [];
  const skipped: string[] = [];
  for (const file of readdirSync(directory).sort()) {
    if (!file.endsWith('.onnx')) continue;
    const id = file.slice(0, -'.onnx'.length);
    if (!MODEL_ID.test(id)) skipped.push(`${file} (a model id is letters, digits, '_', '-', '.', at most 128, starting with a letter or digit)`);
    else if (RESERVED_MODEL_IDS.includes(id)) skipped.push(`${file} ('${id}' is the name of a route under the deployment)`);
    else if (!statSync(`${directory}/${file}`).isFile()) skipped.push(`${file} (not a file)`);
    else modelIds.push(id);
  }
  return { modelIds, skipped };
}

/** A deployment's `multiplex` with defaults applied and its model ids read from the directory; null without one. */
export function resolveMultiplex(m: DeploymentConfig['multiplex'], path: (p: string) => string): ResolvedMultiplex | null {
  if (!m) return null;
  const directory = path(m.directory);
  return {
    directory,
    maxModelsPerReplica: m.maxModelsPerReplica ?? DEPLOYMENT_DEFAULTS.maxModelsPerReplica,
    modelIds: multiplexedModelIds(directory).modelIds,
  };
}

/**
 * Every model of a multiplexed deployment must declare one interface (the
 * gateway checks requests against it, whichever model they name): files
 * that are not ONNX models, and models whose inputs or outputs differ from
 * the most common interface, are named.
 */
function interfaceProblems(at: string, directory: string, modelIds: readonly string[]): string[] {
  const problems: string[] = [];
  const byInterface = new Map<string, string[]>();
  for (const id of modelIds) {
    let iface: string;
    try {
      iface = onnxInterface(join(directory, `${id}.onnx`));
    } catch (err) {
      problems.push(`${at}.multiplex.directory: ${id}.onnx is not an ONNX model (${(err as Error).message})`);
      continue;
    }
    byInterface.set(iface, [...(byInterface.get(iface) ?? []), id]);
  }
  if (byInterface.size > 1) {
    const groups = [...byInterface].sort((a, b) => b[1].length - a[1].length);
    const [common, ...others] = groups;
    const list = (ids: string[]) => (ids.length > 6 ? `${ids.slice(0, 6).join(', ')} and ${ids.length - 6} more` : ids.join(', '));
    problems.push(
      `${at}.multiplex.directory: a multiplexed deployment's models share one interface, and these differ: ` +
        `${list(common[1])} have ${common[0]}; ${others.map(([iface, ids]) => `${list(ids)} ${ids.length > 1 ? 'have' : 'has'} ${iface}`).join('; ')}`,
    );
  }
  return problems;
}

/** What is wrong with a deployment's multiplexing (problems), and what deserves a word (warnings). */
export function multiplexProblems(at: string, d: ResolvedDeployment): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const m = d.multiplex;
  if (!m) {
    if (d.requestRouter === 'model-aware') problems.push(`${at}.requestRouter 'model-aware' routes the models of a multiplexed deployment: add ${at}.multiplex`);
    return { problems, warnings };
  }
  if (d.model !== null) problems.push(`${at}: model and multiplex exclude each other (a multiplexed deployment serves the .onnx files of multiplex.directory)`);
  if (d.handler !== null) problems.push(`${at}: a handler cannot multiplex (multiplex serves the .onnx files of a directory as they are; a handler names its models in ${at}.models)`);
  if (!existsSync(m.directory)) problems.push(`${at}.multiplex.directory: folder not found: ${m.directory}`);
  else if (!statSync(m.directory).isDirectory()) problems.push(`${at}.multiplex.directory: not a folder: ${m.directory}`);
  else {
    const { modelIds, skipped } = multiplexedModelIds(m.directory);
    if (modelIds.length === 0) problems.push(`${at}.multiplex.directory: no model to serve (no <modelId>.onnx file) in ${m.directory}`);
    if (skipped.length > 0) warnings.push(`${at} (${d.name}): multiplex.directory files not served: ${skipped.join('; ')}`);
    problems.push(...interfaceProblems(at, m.directory, modelIds));
  }
  return { problems, warnings };
}
