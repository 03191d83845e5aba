import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { dottedPath } from '../json-path.js';

const parameters = Type.Optional(Type.Record(Type.String(), Type.Unknown()));

/** Parameters with a meaning here, typed so `"yes"` or `1` is refused rather than guessed at; others pass. */
const flags = (name: string) =>
  Type.Optional(Type.Intersect([Type.Object({ [name]: Type.Optional(Type.Boolean()) }), Type.Record(Type.String(), Type.Unknown())]));

/**
 * JSON Schema of an Open Inference Protocol inference request: structure
 * only; names, shapes and data are checked against the model afterwards.
 */
export const inferRequestSchema = Type.Object({
  id: Type.Optional(Type.String()),
  parameters: flags('binary_data_output'),
  inputs: Type.Array(
    Type.Object({
      name: Type.String(),
      shape: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 16 }),
      datatype: Type.String(),
      parameters,
      data: Type.Optional(Type.Unknown()),
    }),
    { minItems: 1 },
  ),
  outputs: Type.Optional(Type.Array(Type.Object({ name: Type.String(), parameters: flags('binary_data') }))),
});

/** A request header that passed {@link inferRequestSchema}. */
export type InferRequestBody = Static<typeof inferRequestSchema>;

const compiled = TypeCompiler.Compile(inferRequestSchema);

/** Checks a header parsed outside Fastify (WebSocket messages); returns the first problem, or null. */
export function inferRequestProblem(value: unknown): string | null {
  if (compiled.Check(value)) return null;
  const first = compiled.Errors(value).First();
  if (!first) return 'the request is not an inference request';
  const where = dottedPath(first.path);
  return `${where || 'request'}: ${first.message.toLowerCase()}`;
}
