import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { FastifySchemaCompiler } from 'fastify';
import { BodyInvalidError } from '../errors.js';
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

/**
 * Fastify's validator for the inference routes: the same compiled check and
 * the same words as WebSocket messages get, so one mistake reads the same on
 * both. The schema stays on the routes as their description.
 */
export const inferRequestValidator: FastifySchemaCompiler<unknown> = () => (data: unknown) => {
  const problem = inferRequestProblem(data);
  return problem === null ? { value: data } : { error: new BodyInvalidError(problem) };
};

const TYPE_WORDS: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.Integer]: 'must be an integer',
  [ValueErrorType.Number]: 'must be a number',
  [ValueErrorType.String]: 'must be a string',
  [ValueErrorType.Boolean]: 'must be true or false',
  [ValueErrorType.Array]: 'must be an array',
  [ValueErrorType.Object]: 'must be an object',
};

/** One schema error as a person reads it: the field's path, then what it must be. */
function describeError(e: ValueError): string {
  const where = dottedPath(e.path) || 'the request';
  const s = e.schema as { minimum?: number; minItems?: number; maxItems?: number };
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `${where} is required`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `${where} must be >= ${s.minimum} (got ${JSON.stringify(e.value)})`;
    case ValueErrorType.ArrayMinItems:
      return `${where} must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`;
    case ValueErrorType.ArrayMaxItems:
      return `${where} must have at most ${s.maxItems} items`;
    default:
      return `${where} ${TYPE_WORDS[e.type] ?? `is invalid: ${e.message.toLowerCase()}`} (got ${JSON.stringify(e.value) ?? 'nothing'})`;
  }
}

/** Checks a request header; returns the first problem, or null. */
export function inferRequestProblem(value: unknown): string | null {
  if (compiled.Check(value)) return null;
  const first = compiled.Errors(value).First();
  return first ? describeError(first) : 'the request is not an inference request';
}
