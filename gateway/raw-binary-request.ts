import type { FastifyInstance } from 'fastify';
import { BodyInvalidError } from '../errors.js';
import { bytesPerElement } from '../replicas/index.js';
import { binaryPartOf, completeRawBody, isRawBinaryBody } from './body-framing.js';
import { OIP_DATATYPE } from './datatypes.js';
import type { InferHeader } from './infer-codec.js';
import type { InferenceTarget } from './inference-target.js';

const RAW = 'a raw binary request (Inference-Header-Content-Length: 0)';
const shapeText = (shape: readonly number[]) => `[${shape.join(',')}]`;

/**
 * The header Triton deduces for a raw binary request, whose body is the
 * tensor bytes of a model's only input: the model's declared shape, dimension
 * 0 set to 1 on a batching deployment (a raw request is batch 1), and at most
 * one other dynamic dimension, sized from the byte count. A BYTES input must
 * hold one element, the whole body; it is given its 4-byte length prefix.
 * Every output comes back binary. Throws a 400 saying why a model or body
 * does not fit. Returns the header and the bytes its input reads.
 *
 * E.g. input `x` FP32 [-1,-1] of a batching deployment, 40 bytes: shape [1,10].
 */
export function rawBinaryRequest(target: InferenceTarget, body: Buffer): { header: InferHeader; binary: Buffer } {
  const inputs = target.metadata.inputs;
  if (inputs.length !== 1) {
    throw new BodyInvalidError(
      `${RAW} needs a model with exactly one input; '${target.name}' has ${inputs.length} (${inputs.map((s) => s.name).join(', ')})`,
    );
  }
  const spec = inputs[0];
  const datatype = OIP_DATATYPE[spec.dtype];
  const what = `input '${spec.name}' ${datatype} ${shapeText(spec.shape)} of model '${target.name}'`;
  if (body.length === 0) throw new BodyInvalidError(`${RAW} has an empty body; ${what} needs its tensor bytes`);
  const shape = spec.shape.map((d, i) => (i === 0 && target.batching ? 1 : d));
  const dynamic = shape.flatMap((d, i) => (d < 0 ? [i] : []));
  if (dynamic.length > 1) {
    throw new BodyInvalidError(
      `${RAW} cannot size ${what} from the body: dimensions ${dynamic.join(' and ')} are dynamic, and at most one may be` +
        (target.batching ? ' besides the batch dimension 0' : ''),
    );
  }
  const fixedCount = shape.reduce((n, d) => (d < 0 ? n : n * d), 1);
  const binary_data_output = true;
  if (spec.dtype === 'string') {
    if (dynamic.length > 0 || fixedCount !== 1) {
      throw new BodyInvalidError(`${RAW} to a BYTES input needs the input to hold one element (shape [1] per request), as Triton does; ${what} does not`);
    }
    const prefixed = Buffer.allocUnsafe(4 + body.length);
    prefixed.writeUInt32LE(body.length, 0);
    body.copy(prefixed, 4);
    const input = { name: spec.name, datatype, shape, parameters: { binary_data_size: prefixed.length } };
    return { header: { inputs: [input], parameters: { binary_data_output } }, binary: prefixed };
  }
  const step = fixedCount * bytesPerElement(spec.dtype);
  if (dynamic.length === 0 && body.length !== step) {
    throw new BodyInvalidError(`${RAW} to ${what} needs exactly ${step} bytes (shape ${shapeText(shape)}); the body has ${body.length}`);
  }
  if (dynamic.length === 1) {
    if (step === 0 || body.length % step !== 0) {
      throw new BodyInvalidError(
        `${RAW} to ${what} needs a whole multiple of ${step} bytes (dimension ${dynamic[0]} is sized from the body); the body has ${body.length}`,
      );
    }
    shape[dynamic[0]] = body.length / step;
  }
  const input = { name: spec.name, datatype, shape, parameters: { binary_data_size: body.length } };
  return { header: { inputs: [input], parameters: { binary_data_output } }, binary: body };
}

/**
 * Gives raw binary request bodies their header before validation, by the
 * target the route serves: `/v2/models/{name}/...` or a route prefix. Other
 * routes (the repository index) refuse a raw body.
 */
export function registerRawBinaryRequests(app: FastifyInstance, targets: ReadonlyMap<string, InferenceTarget>): void {
  const byPrefixRoute = new Map<string, InferenceTarget>();
  for (const target of targets.values()) {
    if (!target.routePrefix) continue;
    byPrefixRoute.set(target.routePrefix, target);
    byPrefixRoute.set(`${target.routePrefix}/infer`, target);
  }
  app.addHook('preValidation', (req, _reply, done) => {
    const body = req.body;
    // Fastify does not parse an empty body sent without a Content-Type; such a raw request is refused all the same.
    const headerLength = req.headers['inference-header-content-length'];
    const emptyRaw = body === undefined && req.method === 'POST' && typeof headerLength === 'string' && headerLength.trim() === '0';
    if (!isRawBinaryBody(body) && !emptyRaw) return done();
    const name = (req.params as { name?: string } | undefined)?.name;
    const target = name === undefined ? byPrefixRoute.get(req.routeOptions.url ?? '') : targets.get(name);
    try {
      if (!target) {
        if (emptyRaw) return done(); // no body at all: the repository index lists every model
        throw new BodyInvalidError(`${RAW} is only for inference; ${req.method} ${req.routeOptions.url} takes a JSON body`);
      }
      const raw = isRawBinaryBody(body) ? body : null;
      // An empty body fits no model: this throws, saying why.
      const { header, binary } = rawBinaryRequest(target, (raw && binaryPartOf(raw)) ?? Buffer.alloc(0));
      if (raw) completeRawBody(raw, header, binary);
      done();
    } catch (err) {
      done(err as Error);
    }
  });
}
