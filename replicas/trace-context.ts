import { randomBytes } from 'node:crypto';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): a `traceparent`
 * is `00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>`, all
 * lowercase, neither id all zeros. Ferry keeps a caller's trace and makes
 * each hop its own span: what it passes on has the same trace id and a new
 * parent id.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

/** A parsed `traceparent`. */
export interface TraceParent {
  traceId: string;
  parentId: string;
  /** `01` when the caller sampled the trace. */
  flags: string;
}

/** Parses a `traceparent` header; null for anything the spec says to ignore (then a new trace starts). */
export function parseTraceparent(value: unknown): TraceParent | null {
  if (typeof value !== 'string') return null;
  const m = TRACEPARENT.exec(value.trim());
  if (!m || ZEROS.test(m[1]) || ZEROS.test(m[2])) return null;
  return { traceId: m[1], parentId: m[2], flags: m[3] };
}

/** A new span id: 8 random bytes, as 16 hex. */
export function newSpanId(): string {
  return randomBytes(8).toString('hex');
}

/** A new trace id: 16 random bytes, as 32 hex. */
export function newTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** The `traceparent` naming span `spanId` of `trace` (a new trace, unsampled, when there is none). */
export function traceparentOf(trace: TraceParent | null, spanId: string = newSpanId()): string {
  return `00-${trace?.traceId ?? newTraceId()}-${spanId}-${trace?.flags ?? '00'}`;
}

/** The `traceparent` of a child span of `traceparent`: same trace, a new span id. */
export function childTraceparent(traceparent: string): string {
  return traceparentOf(parseTraceparent(traceparent));
}
