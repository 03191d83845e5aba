import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The header a request id comes in and goes out in (as Envoy, KServe and most proxies name it). */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A client's id is kept when it is 1–128 visible ASCII characters: anything else could forge log lines or bloat them. */
const KEEPABLE = /^[\x21-\x7e]{1,128}$/;

/**
 * The id of one request: the client's `X-Request-Id` when it sent a
 * usable one (a proxy in front made it, and logs on both sides should
 * match), else a new UUID. Every answer carries it back, and the gateway's
 * log lines for the request are labelled with it.
 */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers[REQUEST_ID_HEADER];
  return typeof sent === 'string' && KEEPABLE.test(sent) ? sent : randomUUID();
}
