import { InputDataError, InputDatatypeError, InputNameError, InputShapeError } from '../errors.js';
import { allocate, type ModelMetadata, type TensorDtype, type TensorMap, type TensorSpec, type TypedArray } from '../replicas/index.js';
import { DTYPE_OF, INT_RANGE, OIP_DATATYPE } from './datatypes.js';

/** One input of an inference request, as the Open Inference Protocol writes it in JSON. */
export interface JsonInput {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown;
  parameters?: Record<string, unknown>;
}

/** One output of an inference response. */
export interface JsonOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | boolean)[];
}

/** Largest number of elements one input may declare, before any allocation. */
export const MAX_ELEMENTS = 64 * 1024 * 1024;

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function checkShape(at: string, input: JsonInput, spec: TensorSpec, modelName: string): number {
  const { shape } = input;
  if (shape.length !== spec.shape.length) {
    throw new InputShapeError(
      `${at}.shape ${shapeText(shape)} has ${shape.length} dimensions; input '${spec.name}' of model '${modelName}' takes ${spec.shape.length}: ${shapeText(spec.shape)}`,
    );
  }
  let elements = 1;
  for (let d = 0; d < shape.length; d++) {
    const want = spec.shape[d];
    if (want >= 0 && shape[d] !== want) {
      throw new InputShapeError(
        `${at}.shape ${shapeText(shape)} does not fit input '${spec.name}' ${shapeText(spec.shape)}: dimension ${d} must be ${want}`,
      );
    }
    elements *= shape[d];
  }
  if (shape.length > 0 && shape[0] < 1) throw new InputShapeError(`${at}.shape ${shapeText(shape)}: dimension 0 (rows) must be at least 1`);
  if (elements > MAX_ELEMENTS) {
    throw new InputShapeError(`${at}.shape ${shapeText(shape)} holds ${elements} elements, more than the limit of ${MAX_ELEMENTS}`);
  }
  return elements;
}

/** Writes `data` (flat or nested, row-major) into a typed array of exactly `count` elements. */
function fillTensor(at: string, dtype: TensorDtype, data: unknown, count: number): TypedArray {
  if (!Array.isArray(data)) throw new InputDataError(`${at}.data must be an array`);
  const out = allocate(dtype, count);
  const range = INT_RANGE[dtype];
  const isBig = dtype === 'int64' || dtype === 'uint64';
  let n = 0;
  const bad = (v: unknown, why: string): never => {
    throw new InputDataError(`${at}.data element ${n} ${why} (got ${JSON.stringify(v) ?? String(v)})`);
  };
  const walk = (arr: unknown[]): void => {
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      if (Array.isArray(v)) {
        walk(v);
        continue;
      }
      if (n >= count) throw new InputDataError(`${at}.data has more than the ${count} elements its shape declares`);
      if (dtype === 'bool') {
        if (typeof v !== 'boolean') bad(v, 'must be true or false');
        out[n++] = v ? 1 : 0;
      } else if (typeof v !== 'number') {
        bad(v, 'must be a number');
      } else if (range) {
        if (!Number.isInteger(v)) bad(v, `must be an integer for ${OIP_DATATYPE[dtype]}`);
        if (v < range[0] || v > range[1]) bad(v, `is out of range for ${OIP_DATATYPE[dtype]}`);
        (out as Int32Array)[n++] = isBig ? (BigInt(v) as unknown as number) : v;
      } else {
        (out as Float32Array)[n++] = v;
      }
    }
  };
  walk(data);
  if (n !== count) throw new InputDataError(`${at}.data has ${n} elements but its shape declares ${count}`);
  return out;
}

/**
 * Turns a request's JSON inputs into tensors, checked against the model
 * before anything is queued: names, datatypes, shapes and every element.
 */
export function parseJsonInputs(inputs: JsonInput[], meta: ModelMetadata, modelName: string): { tensors: TensorMap; rows: number } {
  const tensors: TensorMap = {};
  let rows = -1;
  inputs.forEach((input, i) => {
    const at = `inputs[${i}]`;
    const spec = meta.inputs.find((s) => s.name === input.name);
    if (!spec) {
      throw new InputNameError(
        `${at}.name: model '${modelName}' has no input '${input.name}' (its inputs: ${meta.inputs.map((s) => s.name).join(', ')})`,
      );
    }
    if (tensors[input.name]) throw new InputNameError(`${at}.name: input '${input.name}' is given more than once`);
    const dtype = DTYPE_OF.get(input.datatype);
    if (!dtype) throw new InputDatatypeError(`${at}.datatype ${JSON.stringify(input.datatype)} is not a known datatype`);
    if (dtype !== spec.dtype) {
      throw new InputDatatypeError(`${at}.datatype is ${input.datatype} but input '${spec.name}' takes ${OIP_DATATYPE[spec.dtype]}`);
    }
    const count = checkShape(at, input, spec, modelName);
    const r = input.shape.length === 0 ? 1 : input.shape[0];
    if (rows >= 0 && r !== rows) {
      throw new InputShapeError(`${at}.shape ${shapeText(input.shape)} has ${r} rows but earlier inputs have ${rows}; all inputs share dimension 0`);
    }
    rows = r;
    tensors[input.name] = { dtype, dims: [...input.shape], data: fillTensor(at, dtype, input.data, count) };
  });
  const missing = meta.inputs.filter((s) => !tensors[s.name]).map((s) => s.name);
  if (missing.length > 0) throw new InputNameError(`model '${modelName}' needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  return { tensors, rows };
}

/** Encodes output tensors as JSON, in the model's output order, keeping only `only` when given. */
export function toJsonOutputs(outputs: TensorMap, order: readonly TensorSpec[], only: readonly string[] | null): JsonOutput[] {
  const names = only ?? order.map((s) => s.name);
  return names.map((name) => {
    const t = outputs[name];
    let data: (number | boolean)[];
    if (t.dtype === 'bool') data = Array.from(t.data as Uint8Array, (v) => v !== 0);
    else if (t.dtype === 'int64' || t.dtype === 'uint64') data = Array.from(t.data as BigInt64Array, Number);
    else data = Array.from(t.data as Float32Array);
    return { name, datatype: OIP_DATATYPE[t.dtype], shape: t.dims, data };
  });
}
