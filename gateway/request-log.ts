import type { Server } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseTraceparent, traceparentOf, type CallControl, type CallServed } from '../replicas/index.js';

/** Servers whose gateway writes a line per request (`http.requestLog`). */
const logging = new WeakSet<Server>();

/** What the request log reads of a request's call, by request. */
const served = new WeakMap<FastifyRequest, { deployment: string; call: CallServed; traceparent: string }>();

/**
 * Gives `req`'s call to `deployment` its trace: the client's W3C
 * `traceparent` continued with a span of Ferry's own, or a new trace. When
 * this gateway logs requests it also asks the router how the call was
 * served (replica, queue wait, batch size); otherwise the hot path pays
 * nothing for a log that is off.
 */
export function traceCall(req: FastifyRequest, deployment: string, control: CallControl): void {
  const traceparent = traceparentOf(parseTraceparent(req.headers.traceparent));
  control.traceparent = traceparent;
  if (!logging.has(req.server.server)) return;
  const call: CallServed = { replica: '', queueWaitMs: 0, batchRows: 0 };
  control.served = call;
  served.set(req, { deployment, call, traceparent });
}

/**
 * One line per answered request through the gateway's logger (pino), at
 * info, labelled with the request id: method, URL, status, duration, and for
 * an inference or a handler route its deployment, trace id and, once a replica
 * answered, which one, how long the call queued and the rows of its batch.
 * Units are milliseconds. A client that left before its answer gets no line
 * (Fastify writes none; the 499 in `/metrics` counts it).
 */
export function registerRequestLog(app: FastifyInstance): void {
  logging.add(app.server);
  app.addHook('onResponse', (req, reply, done) => {
    const s = served.get(req);
    const line: Record<string, unknown> = { method: req.method, url: req.url, status: reply.statusCode, durationMs: Math.round(reply.elapsedTime * 1000) / 1000 };
    if (s) {
      line.deployment = s.deployment;
      line.traceId = parseTraceparent(s.traceparent)!.traceId;
      if (s.call.replica !== '') Object.assign(line, { replica: s.call.replica, queueWaitMs: s.call.queueWaitMs, batchRows: s.call.batchRows });
    }
    req.log.info(line, 'request');
    done();
  });
}
