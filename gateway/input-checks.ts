import { InputDatatypeError, InputNameError, InputShapeError } from '../errors.js';
import type { ModelMetadata, TensorDtype, TensorSpec } from '../replicas/index.js';
import { DTYPE_OF, OIP_DATATYPE } from './datatypes.js';

/** One input of an inference request as the Open Inference Protocol writes it (data may be absent when binary). */
export interface RequestInput {
  name: string;
  shape: number[];
  datatype: string;
  data?: unknown;
  parameters?: { binary_data_size?: number; [key: string]: unknown };
}

/** What the checks learn of an input: its model spec, dtype, element count and rows. */
export interface CheckedInput {
  spec: TensorSpec;
  dtype: TensorDtype;
  count: number;
  rows: number;
}

/** Largest number of elements one input may declare, checked before anything is allocated. */
export const DEFAULT_MAX_TENSOR_ELEMENTS = 16 * 1024 * 1024;

const shapeText = (shape: readonly number[]) => `[${shape.join(',')}]`;

/**
 * The sizes a request gives the model's named dimensions: where two inputs
 * share a symbol (ONNX `dim_param`, e.g. 'batch' or 'seq'), their sizes must
 * agree, or onnxruntime would refuse the run after it was queued.
 */
export class DimSymbols {
  private readonly seen = new Map<string, { size: number; at: string }>();

  /** Records `shape`'s named dimensions; throws InputShapeError when one contradicts an earlier input. */
  check(at: string, shape: readonly number[], spec: TensorSpec): void {
    spec.dimParams.forEach((symbol, d) => {
      if (symbol === null) return;
      const earlier = this.seen.get(symbol);
      if (!earlier) this.seen.set(symbol, { size: shape[d], at });
      else if (earlier.size !== shape[d]) {
        throw new InputShapeError(
          `${at}.shape ${shapeText(shape)} gives dimension '${symbol}' (dimension ${d} of input '${spec.name}') size ${shape[d]}, but ${earlier.at} gave it ${earlier.size}`,
        );
      }
    });
  }
}

/**
 * Checks an input's name, datatype and shape against the model, and its
 * element count against `maxElements`, before any data is read. A batching
 * deployment needs at least one row; a model that does not batch may take
 * empty dimensions as it declares them.
 */
export function checkInput(
  at: string,
  input: RequestInput,
  meta: ModelMetadata,
  modelName: string,
  maxElements: number,
  batching = true,
): CheckedInput {
  const spec = meta.inputs.find((s) => s.name === input.name);
  if (!spec) {
    throw new InputNameError(
      `${at}.name: model '${modelName}' has no input '${input.name}' (its inputs: ${meta.inputs.map((s) => s.name).join(', ')})`,
    );
  }
  const dtype = DTYPE_OF.get(input.datatype);
  if (!dtype) throw new InputDatatypeError(`${at}.datatype ${JSON.stringify(input.datatype)} is not a known datatype`);
  if (dtype !== spec.dtype) {
    throw new InputDatatypeError(`${at}.datatype is ${input.datatype} but input '${spec.name}' takes ${OIP_DATATYPE[spec.dtype]}`);
  }
  const { shape } = input;
  if (shape.length !== spec.shape.length) {
    throw new InputShapeError(
      `${at}.shape ${shapeText(shape)} has ${shape.length} dimensions; input '${spec.name}' of model '${modelName}' takes ${spec.shape.length}: ${shapeText(spec.shape)}`,
    );
  }
  let count = 1;
  for (let d = 0; d < shape.length; d++) {
    const want = spec.shape[d];
    if (want >= 0 && shape[d] !== want) {
      throw new InputShapeError(`${at}.shape ${shapeText(shape)} does not fit input '${spec.name}' ${shapeText(spec.shape)}: dimension ${d} must be ${want}`);
    }
    if (shape[d] > maxElements) {
      throw new InputShapeError(`${at}.shape ${shapeText(shape)}: dimension ${d} is ${shape[d]}, more than the limit of ${maxElements} elements for a whole tensor`);
    }
    count *= shape[d];
  }
  if (batching && shape.length > 0 && shape[0] < 1) throw new InputShapeError(`${at}.shape ${shapeText(shape)}: dimension 0 (rows) must be at least 1`);
  if (count > maxElements) {
    throw new InputShapeError(`${at}.shape ${shapeText(shape)} holds ${count} elements, more than the limit of ${maxElements}`);
  }
  return { spec, dtype, count, rows: shape.length === 0 ? 1 : shape[0] };
}
