import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ResolvedTracing } from '../deployments/index.js';
import type { CallServed, TraceParent } from '../replicas/index.js';
import { VERSION } from '../version.js';

/** How often spans are sent to the collector, in ms. */
const EXPORT_EVERY_MS = 1000;

/**
 * OpenTelemetry spans of the requests a gateway serves, sent over OTLP/HTTP
 * (JSON) to a collector. A request to a deployment is a SERVER span
 * `ferry.request`, continuing the client's W3C trace (and its sampling
 * decision) or starting one; once a replica answered it has two children,
 * `ferry.queue` (admission to the start of its batch) and `ferry.batch` (the
 * batch's run until the answer reached the gateway), and under the batch
 * `ferry.inference` (onnxruntime's own time on it; a handler's whole run). The replica's code
 * sees the request span as its parent, so spans its handle calls make join
 * the same trace.
 */
export class RequestTracer {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;

  constructor(config: ResolvedTracing) {
    const exporter = new OTLPTraceExporter({ url: config.otlpEndpoint });
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': VERSION }),
      spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: EXPORT_EVERY_MS })],
    });
    this.tracer = this.provider.getTracer('ferry', VERSION);
  }

  /** Starts a request's span at `startTime` (epoch ms) under `parent`; returns it and the traceparent calls carry on. */
  start(parent: TraceParent | null, deployment: string, startTime: number): { span: Span; traceparent: string } {
    const ctx = parent
      ? trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parseInt(parent.flags, 16), isRemote: true })
      : ROOT_CONTEXT;
    const span = this.tracer.startSpan('ferry.request', { kind: SpanKind.SERVER, startTime, attributes: { 'ferry.deployment': deployment } }, ctx);
    const sc = span.spanContext();
    return { span, traceparent: `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, '0')}` };
  }

  /**
   * Starts a handle call's span, `ferry.handle` (CLIENT), under the calling
   * replica's traceparent: a deployment called from another's code
   * (`handles.get(name)`) shows in the trace the request began, with its own
   * queue, batch and inference beneath. Returns it and the traceparent the call carries on.
   */
  startHandle(parent: TraceParent, deployment: string, method: string | null): { span: Span; traceparent: string } {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parseInt(parent.flags, 16), isRemote: true });
    const span = this.tracer.startSpan('ferry.handle', { kind: SpanKind.CLIENT, attributes: { 'ferry.deployment': deployment, ...(method ? { 'ferry.method': method } : {}) } }, ctx);
    const sc = span.spanContext();
    return { span, traceparent: `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, '0')}` };
  }

  /** Ends a handle call's span with its outcome (the registry code of its error, if any), and its queue, batch and inference spans. */
  finishHandle(span: Span, error: { code?: string; statusCode?: number } | null, served: CallServed): void {
    if (error) {
      span.setAttributes({ 'error.type': error.code ?? 'FERRY_ERR_INTERNAL' });
      if ((error.statusCode ?? 500) >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.finishCall(span, served, Date.now());
  }

  /** Ends a request's span (at `endTime`, epoch ms) with its answer, and its queue, batch and inference spans once a replica answered. */
  finish(span: Span, answer: { method: string; path: string; status: number }, served: CallServed, endTime: number): void {
    span.setAttributes({ 'http.request.method': answer.method, 'url.path': answer.path, 'http.response.status_code': answer.status });
    if (answer.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    this.finishCall(span, served, endTime);
  }

  private finishCall(span: Span, served: CallServed, endTime: number): void {
    if (served.replica !== '') {
      span.setAttributes({ 'ferry.replica': served.replica, 'ferry.batch_rows': served.batchRows });
      const under = trace.setSpan(ROOT_CONTEXT, span);
      this.tracer.startSpan('ferry.queue', { kind: SpanKind.INTERNAL, startTime: served.enqueuedAt }, under).end(served.startedAt);
      const attributes = { 'ferry.replica': served.replica, 'ferry.batch_rows': served.batchRows };
      const batch = this.tracer.startSpan('ferry.batch', { kind: SpanKind.INTERNAL, startTime: served.startedAt, attributes }, under);
      // onnxruntime's own time where a model ran the batch; a handler's code is its inference, the batch's whole run.
      const ranUntil = served.inferenceMs === null ? served.answeredAt : Math.min(served.answeredAt, served.startedAt + served.inferenceMs);
      this.tracer.startSpan('ferry.inference', { kind: SpanKind.INTERNAL, startTime: served.startedAt, attributes }, trace.setSpan(ROOT_CONTEXT, batch)).end(ranUntil);
      batch.end(served.answeredAt);
    }
    span.end(endTime);
  }

  /** Sends what is left and stops. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => {});
  }
}
