import { InputDataError, InputNameError, InputShapeError } from '../errors.js';
import type { TensorMap } from '../replicas/index.js';
import { binaryToTensorData, tensorToBinary } from './binary-tensors.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { InferenceTarget } from './inference-target.js';
import { checkInput, DimSymbols, type RequestInput } from './input-checks.js';
import { jsonToTensorData, tensorToJsonData } from './json-tensors.js';

/** An inference request's JSON part (all of it, without binary tensors). */
export interface InferHeader {
  id?: string;
  parameters?: { binary_data_output?: boolean; [key: string]: unknown };
  inputs: RequestInput[];
  outputs?: { name: string; parameters?: { binary_data?: boolean; [key: string]: unknown } }[];
}

/** A request checked and turned into tensors, with the outputs to return. */
export interface DecodedRequest {
  tensors: TensorMap;
  rows: number;
  outputs: { name: string; binary: boolean }[];
}

/** An encoded response: JSON alone, or JSON followed by binary tensors. */
export type EncodedResponse = { json: Record<string, unknown> } | { json: Record<string, unknown>; header: Buffer; binary: Buffer[] };

function selectOutputs(header: InferHeader, target: InferenceTarget): DecodedRequest['outputs'] {
  const binaryDefault = header.parameters?.binary_data_output === true;
  if (!header.outputs) return target.metadata.outputs.map((o) => ({ name: o.name, binary: binaryDefault }));
  const known = new Set(target.metadata.outputs.map((o) => o.name));
  return header.outputs.map((o, i) => {
    if (!known.has(o.name)) {
      throw new InputNameError(`outputs[${i}].name: model '${target.name}' has no output '${o.name}' (its outputs: ${[...known].join(', ')})`);
    }
    return { name: o.name, binary: o.parameters?.binary_data ?? binaryDefault };
  });
}

/**
 * Checks a request against the model and builds its tensors: JSON data, or
 * binary sections of `binary` in input order where `binary_data_size` is given.
 */
export function decodeInferRequest(header: InferHeader, binary: Buffer | null, target: InferenceTarget, maxElements: number): DecodedRequest {
  const meta = target.metadata;
  const outputs = selectOutputs(header, target);
  const tensors: TensorMap = {};
  const symbols = new DimSymbols();
  let rows = -1;
  let offset = 0;
  header.inputs.forEach((input, i) => {
    const at = `inputs[${i}]`;
    const checked = checkInput(at, input, meta, target.name, maxElements, target.batching);
    if (tensors[input.name]) throw new InputNameError(`${at}.name: input '${input.name}' is given more than once`);
    symbols.check(at, input.shape, checked.spec);
    // Calls of a batching deployment are concatenated along dimension 0, so every input must agree on it.
    if (target.batching && rows >= 0 && checked.rows !== rows) {
      throw new InputShapeError(`${at}.shape [${input.shape}] has ${checked.rows} rows but earlier inputs have ${rows}; all inputs share dimension 0`);
    }
    rows = target.batching ? checked.rows : 1;
    const size = input.parameters?.binary_data_size;
    let data;
    if (size !== undefined) {
      if (!Number.isSafeInteger(size) || size < 0) throw new InputDataError(`${at}.parameters.binary_data_size must be a non-negative integer`);
      if (!binary) throw new InputDataError(`${at} has binary_data_size but the request carries no binary data`);
      if (offset + size > binary.length) {
        throw new InputDataError(`${at}.parameters.binary_data_size ${size} runs past the end of the body (${binary.length - offset} bytes left)`);
      }
      data = binaryToTensorData(at, checked.dtype, binary.subarray(offset, offset + size), checked.count);
      offset += size;
    } else {
      if (input.data === undefined) throw new InputDataError(`${at} has neither data nor parameters.binary_data_size`);
      data = jsonToTensorData(at, checked.dtype, input.data, checked.count);
    }
    tensors[input.name] = { dtype: checked.dtype, dims: [...input.shape], data };
  });
  if (binary && offset !== binary.length) {
    throw new InputDataError(`the body has ${binary.length - offset} bytes of binary data beyond what the inputs' binary_data_size declare`);
  }
  const missing = meta.inputs.filter((s) => !tensors[s.name]).map((s) => s.name);
  if (missing.length > 0) throw new InputNameError(`model '${target.name}' needs input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  return { tensors, rows, outputs };
}

/** Encodes outputs as the protocol's response: JSON data, or binary sections after the JSON. */
export function encodeInferResponse(
  target: InferenceTarget,
  id: string | undefined,
  tensors: TensorMap,
  outputs: DecodedRequest['outputs'],
): EncodedResponse {
  const json: Record<string, unknown> = { model_name: target.name };
  if (target.version !== null) json.model_version = target.version;
  if (id !== undefined) json.id = id;
  const binary: Buffer[] = [];
  json.outputs = outputs.map(({ name, binary: asBinary }) => {
    const t = tensors[name];
    const base = { name, datatype: OIP_DATATYPE[t.dtype], shape: t.dims };
    if (!asBinary) return { ...base, data: tensorToJsonData(t) };
    const bytes = tensorToBinary(t);
    binary.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.length } };
  });
  if (binary.length === 0) return { json };
  return { json, header: Buffer.from(JSON.stringify(json), 'utf8'), binary };
}
