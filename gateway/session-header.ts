import type { IncomingHttpHeaders } from 'node:http';

/** A request's headers as Node gives them: merged (a repeated header joined with ', '), and each one's values apart. */
export interface RequestHeaders {
  headers: IncomingHttpHeaders;
  headersDistinct?: NodeJS.Dict<string[]>;
}

/**
 * The one value of a header, or undefined without it. Throws BadRequestError
 * (400) when it is given more than once: Node joins repeated headers with
 * ', ', which would read as one value that no client sent.
 */
export function singleHeader(req: RequestHeaders, name: string, what: string): string | undefined {
  const values = req.headersDistinct?.[name];
  if (values && values.length > 1) throw new BadRequestError(`${name} is given ${values.length} times; give one ${what}`);
  const value = req.headers[name];
  if (Array.isArray(value)) throw new BadRequestError(`${name} is given ${value.length} times; give one ${what}`);
  return value;
}
import { randomUUID } from 'node:crypto';
import { BadRequestError } from '../errors.js';

/** The header naming a request's session: where a deployment routes by session affinity, all its calls go to one replica. */
export const SESSION_HEADER = 'ferry-session-id';

/** Longest session key taken, in characters. */
const MAX_SESSION_ID = 256;

/**
 * The request's session key from `ferry-session-id`, or undefined without
 * one. Throws BadRequestError (400) for a header given twice, empty, or
 * longer than 256 characters.
 */
export function sessionIdOf(req: RequestHeaders): string | undefined {
  const value = singleHeader(req, SESSION_HEADER, 'session key');
  if (value === undefined) return undefined;
  checkSessionId(value, SESSION_HEADER);
  return value;
}

/** Throws BadRequestError (400) for a session key that is not a string of 1 to 256 characters. */
export function checkSessionId(value: unknown, what = 'sessionId'): void {
  if (typeof value !== 'string') throw new BadRequestError(`${what} must be a string (got ${typeof value})`);
  if (value.length === 0 || value.length > MAX_SESSION_ID) throw new BadRequestError(`${what} must be 1 to ${MAX_SESSION_ID} characters (got ${value.length})`);
}

/**
 * A WebSocket connection's session: the upgrade request's `ferry-session-id`
 * when it has one (a client resuming a session on a new connection), else a
 * key of its own, so each connection is one session.
 */
export function connectionSessionOf(req: RequestHeaders): string {
  return sessionIdOf(req) ?? `ws-${randomUUID()}`;
}
