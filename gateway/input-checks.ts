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

/**
 * The checks one request's inputs take together, on top of each one's
 * {@link checkInput}: no name twice, dimension 0 shared by every input of a
 * batching deployment, named dimensions agreeing, and (at `finish`) none of
 * the model's inputs missing. The HTTP codecs and handle calls both use it,
 * so a call is refused the same way whichever door it came through.
 */
export class InputSetCheck {
  private readonly symbols = new DimSymbols();
  private readonly names = new Set<string>();
  private rowCount = -1;

  constructor(
    private readonly meta: ModelMetadata,
    private readonly modelName: string,
    private readonly maxElements: number,
    private readonly batching: boolean,
  ) {}

  /** The rows of the call: the inputs' shared dimension 0 when batching, else 1 (-1 before any input). */
  get rows(): number {
    return this.rowCount;
  }

  /** Checks one input (throws the registry's 400 errors) and returns what the checks learned of it. */
  add(at: string, input: RequestInput): CheckedInput {
    const checked = checkInput(at, input, this.meta, this.modelName, this.maxElements, this.batching);
    if (this.names.has(input.name)) throw new InputNameError(`${at}.name: input '${input.name}' is given more than once`);
    this.names.add(input.name);
    // Calls of a batching deployment are concatenated along dimension 0, so every input must agree on it.
    if (this.batching && this.rowCount >= 0 && checked.rows !== this.rowCount) {
      throw new InputShapeError(`${at}.shape [${input.shape}] has ${checked.rows} rows but earlier inputs have ${this.rowCount}; all inputs share dimension 0`);
    }
    this.symbols.check(at, input.shape, checked.spec);
    this.rowCount = this.batching ? checked.rows : 1;
    return checked;
  }

  /** Throws InputNameError when one of the model's inputs was not given. */
  finish(): void {
    const missing = this.meta.inputs.filter((s) => !this.names.has(s.name)).map((s) => s.name);
    if (missing.length > 0) throw new InputNameError(`model '${this.modelName}' needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  }
}
