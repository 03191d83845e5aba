import { BodyInvalidError, InputDataError, InputNameError } from '../errors.js';
import type { TensorMap } from '../replicas/index.js';
import { binaryToTensorData, tensorToBinary } from './binary-tensors.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { InferenceTarget } from './inference-target.js';
import { InputSetCheck, type RequestInput } from './input-checks.js';
import { reparseExact } from './json-source.js';
import { InexactNumberError, jsonToTensorData } from './json-tensors.js';
import { responseJson, tensorDataJson, type OutputJson } from './response-json.js';
import type { TensorLease } from './tensor-lease.js';

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

/** An encoded response: JSON text alone, or a JSON header (the same text as bytes) followed by binary tensors. */
export type EncodedResponse = { text: string } | { text: string; header: Buffer; binary: Buffer[] };

function selectOutputs(header: InferHeader, target: InferenceTarget): DecodedRequest['outputs'] {
  const binaryDefault = header.parameters?.binary_data_output === true;
  // An empty list asks for nothing in particular: every output, as Triton answers it.
  if (!header.outputs || header.outputs.length === 0) return target.metadata.outputs.map((o) => ({ name: o.name, binary: binaryDefault }));
  const known = new Set(target.metadata.outputs.map((o) => o.name));
  const seen = new Map<string, number>();
  return header.outputs.map((o, i) => {
    if (!known.has(o.name)) {
      throw new InputNameError(`outputs[${i}].name: model '${target.name}' has no output '${o.name}' (its outputs: ${[...known].join(', ')})`);
    }
    if (o.parameters?.classification !== undefined) {
      throw new BodyInvalidError(
        `outputs[${i}].parameters.classification: Ferry does not implement the classification extension; ask for the output itself and take its top classes`,
      );
    }
    const first = seen.get(o.name);
    if (first !== undefined) throw new InputNameError(`outputs[${i}].name: output '${o.name}' is requested twice (outputs[${first}] and outputs[${i}])`);
    seen.set(o.name, i);
    return { name: o.name, binary: o.parameters?.binary_data ?? binaryDefault };
  });
}

/**
 * Checks a request against the model and builds its tensors: JSON data, or
 * binary sections of `binary` in input order where `binary_data_size` is given.
 * INT64/UINT64 JSON integers beyond ±2^53 are taken exactly: the header is
 * read again from its source text with every digit (or refused, quoting the
 * digits, when they do not fit the datatype). With a `lease`, tensors are
 * written into (or, from a buffer not shared, copied to) shared memory the
 * lease gives back later; without one, JSON data goes into fresh tensors and
 * binary data stays a view of `binary`.
 */
export function decodeInferRequest(header: InferHeader, binary: Buffer | null, target: InferenceTarget, maxElements: number, lease?: TensorLease): DecodedRequest {
  try {
    return decodeOnce(header, binary, target, maxElements, lease);
  } catch (err) {
    if (!(err instanceof InexactNumberError)) throw err;
    let exact: InferHeader | null = null;
    try {
      exact = reparseExact(header);
    } catch {
      // Too deep for the exact reader's recursion: refused below like a request without its source.
    }
    try {
      if (exact) return decodeOnce(exact, binary, target, maxElements, lease);
    } catch (again) {
      if (!(again instanceof InexactNumberError)) throw again;
    }
    throw new InputDataError(err.message);
  }
}

function decodeOnce(header: InferHeader, binary: Buffer | null, target: InferenceTarget, maxElements: number, lease?: TensorLease): DecodedRequest {
  const meta = target.metadata;
  const outputs = selectOutputs(header, target);
  const tensors: TensorMap = {};
  const check = new InputSetCheck(meta, target.name, maxElements, target.batching);
  let offset = 0;
  header.inputs.forEach((input, i) => {
    const at = `inputs[${i}]`;
    const checked = check.add(at, input);
    const size = input.parameters?.binary_data_size;
    let data;
    if (size !== undefined) {
      if (input.data !== undefined) throw new InputDataError(`${at} has both data and parameters.binary_data_size; give one`);
      if (!Number.isSafeInteger(size) || size < 0) throw new InputDataError(`${at}.parameters.binary_data_size must be a non-negative integer`);
      if (!binary) throw new InputDataError(`${at} has binary_data_size but the request carries no binary data`);
      if (offset + size > binary.length) {
        throw new InputDataError(`${at}.parameters.binary_data_size ${size} runs past the end of the body (${binary.length - offset} bytes left)`);
      }
      const bytes = binary.subarray(offset, offset + size);
      data = binaryToTensorData(at, checked.dtype, bytes, checked.count);
      if (lease && checked.dtype !== 'string') data = lease.share(checked.dtype, bytes, checked.count) ?? data;
      offset += size;
    } else {
      if (input.data === undefined) throw new InputDataError(`${at} has neither data nor parameters.binary_data_size`);
      data = jsonToTensorData(at, checked.dtype, input.data, checked.count, input.shape, lease && ((dtype, count) => lease.take(dtype, count)));
    }
    tensors[input.name] = { dtype: checked.dtype, dims: [...input.shape], data };
  });
  if (binary && offset !== binary.length) {
    throw new InputDataError(`the body has ${binary.length - offset} bytes of binary data beyond what the inputs' binary_data_size declare`);
  }
  check.finish();
  return { tensors, rows: check.rows, outputs };
}

/** Encodes outputs as the protocol's response: JSON data, or binary sections after the JSON. A multiplexed model's `model_name` is `{deployment}/{modelId}`. */
export function encodeInferResponse(
  target: InferenceTarget,
  id: string | undefined,
  tensors: TensorMap,
  outputs: DecodedRequest['outputs'],
  modelId?: string,
): EncodedResponse {
  const head: Record<string, unknown> = { model_name: modelId === undefined ? target.name : `${target.name}/${modelId}` };
  if (target.version !== null) head.model_version = target.version;
  if (id !== undefined) head.id = id;
  const binary: Buffer[] = [];
  const parts = outputs.map(({ name, binary: asBinary }): OutputJson => {
    const t = tensors[name];
    const fields: Record<string, unknown> = { name, datatype: OIP_DATATYPE[t.dtype], shape: t.dims };
    if (!asBinary) return { fields, data: tensorDataJson(t) };
    const bytes = tensorToBinary(t);
    binary.push(bytes);
    fields.parameters = { binary_data_size: bytes.length };
    return { fields };
  });
  const text = responseJson(head, parts);
  if (binary.length === 0) return { text };
  return { text, header: Buffer.from(text, 'utf8'), binary };
}
