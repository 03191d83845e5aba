import type { Server } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { epochMs, parseTraceparent, traceparentOf, type CallControl, type CallServed } from '../replicas/index.js';
import type { RequestTracer } from './tracing.js';

/** How each server follows its requests: a log line per request, spans, both, or neither. */
const following = new WeakMap<Server, { log: boolean; tracer: RequestTracer | null }>();

/** When each request arrived (epoch ms), where spans are sent. */
const arrivedAt = new WeakMap<FastifyRequest, number>();

/** What the request log and the spans read of a request's call, by request. */
const served = new WeakMap<FastifyRequest, { deployment: string; call: CallServed; traceparent: string; span: Span | null }>();

/**
 * Gives `req`'s call to `deployment` its trace: the client's W3C
 * `traceparent` continued with a span of Ferry's own (the request's
 * OpenTelemetry span when tracing is on), or a new trace. When this gateway
 * logs requests or sends spans it also asks the router how the call was
 * served (replica, queue wait, batch size); otherwise the hot path pays
 * nothing for what is off.
 */
export function traceCall(req: FastifyRequest, deployment: string, control: CallControl): void {
  const parent = parseTraceparent(req.headers.traceparent);
  const follow = following.get(req.server.server);
  if (!follow) {
    control.traceparent = traceparentOf(parent);
    return;
  }
  let span: Span | null = null;
  let traceparent: string;
  if (follow.tracer) {
    // The request began before its body was read: its span does too.
    ({ span, traceparent } = follow.tracer.start(parent, deployment, arrivedAt.get(req) ?? epochMs()));
  } else traceparent = traceparentOf(parent);
  control.traceparent = traceparent;
  const call: CallServed = { replica: '', queueWaitMs: 0, batchRows: 0, enqueuedAt: 0, startedAt: 0, answeredAt: 0, inferenceMs: null };
  control.served = call;
  served.set(req, { deployment, call, traceparent, span });
}

/**
 * Follows each answered request: with `log`, a line through the gateway's
 * logger (pino) at info, labelled with the request id: method, URL, status,
 * duration, and for an inference or a handler route its deployment, trace
 * id and, once a replica answered, which one, how long the call queued and
 * the rows of its batch (all in ms). With a tracer, each call's spans end.
 * A client that left before its answer gets no line (Fastify writes none;
 * the 499 in `/metrics` counts it).
 */
export function registerRequestFollowing(app: FastifyInstance, opts: { log: boolean; tracer: RequestTracer | null }): void {
  following.set(app.server, opts);
  if (opts.tracer) {
    app.addHook('onRequest', (req, _reply, done) => {
      arrivedAt.set(req, epochMs());
      done();
    });
  }
  app.addHook('onResponse', (req, reply, done) => {
    const s = served.get(req);
    if (s?.span) opts.tracer!.finish(s.span, { method: req.method, path: req.url.split('?')[0], status: reply.statusCode }, s.call, epochMs());
    if (opts.log) {
      const line: Record<string, unknown> = { method: req.method, url: req.url, status: reply.statusCode, durationMs: Math.round(reply.elapsedTime * 1000) / 1000 };
      if (s) {
        line.deployment = s.deployment;
        line.traceId = parseTraceparent(s.traceparent)!.traceId;
        if (s.call.replica !== '') Object.assign(line, { replica: s.call.replica, queueWaitMs: s.call.queueWaitMs, batchRows: s.call.batchRows });
      }
      req.log.info(line, 'request');
    }
    done();
  });
  if (opts.tracer) app.addHook('onClose', async () => opts.tracer!.shutdown());
}
