import { BadRequestError, ModelNotFoundError } from '../errors.js';
import { singleHeader, type RequestHeaders } from './session-header.js';

/** The header naming the model of a multiplexed deployment a request is for (Ray Serve's `serve_multiplexed_model_id`). */
export const MODEL_ID_HEADER = 'ferry-model-id';

/** What a multiplexed deployment offers: its model ids (null for a deployment of one model). */
export interface MultiplexedTarget {
  readonly name: string;
  readonly modelIds: ReadonlySet<string> | null;
}

/** The `ferry-model-id` header's value, or undefined without one; 400 for a header given twice. */
export function modelIdHeader(req: RequestHeaders): string | undefined {
  return singleHeader(req, MODEL_ID_HEADER, 'model');
}

/**
 * The model a call to `target` is for, from the OIP name's second part
 * (`/v2/models/{deployment}/{modelId}`) or the `ferry-model-id` header (or
 * a handle call's `modelId`); undefined for a deployment of one model.
 * Throws BadRequestError (400) for a multiplexed deployment named without a
 * model, a model named to one that does not multiplex, or two different
 * models named; ModelNotFoundError (404) for a model the deployment does not
 * serve.
 */
export function modelIdFor(target: MultiplexedTarget, fromPath: string | undefined, given: unknown, what = MODEL_ID_HEADER): string | undefined {
  if (given !== undefined && typeof given !== 'string') throw new BadRequestError(`${what} must be a string (got ${typeof given})`);
  if (fromPath !== undefined && given !== undefined && given !== fromPath) {
    throw new BadRequestError(`the request names two models: '${fromPath}' in its path and '${given}' in ${what}`);
  }
  const modelId = fromPath ?? given;
  const ids = target.modelIds;
  if (!ids) {
    if (fromPath !== undefined) throw new ModelNotFoundError(`${target.name}/${fromPath}`);
    if (modelId !== undefined) throw new BadRequestError(`deployment '${target.name}' serves one model, not several: ${what} names a model of a multiplexed deployment`);
    return undefined;
  }
  if (modelId === undefined) {
    throw new BadRequestError(
      `deployment '${target.name}' serves several models: name one in ${MODEL_ID_HEADER} or as the model name '${target.name}/<modelId>' (it serves ${[...ids].slice(0, 5).join(', ')}${ids.size > 5 ? ', ...' : ''})`,
    );
  }
  if (!ids.has(modelId)) throw new ModelNotFoundError(`${target.name}/${modelId}`);
  return modelId;
}
