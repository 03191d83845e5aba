import { Writable } from 'node:stream';
import ort from 'onnxruntime-node';
import type { Test } from 'tap';
import { applyOrtEnvironment } from '../../constants.js';
import { FerryServer, validateConfig, type DeploymentConfig, type FerryConfig, type FerryServerOptions, type HttpConfig } from '../../index.js';
import { modelPath } from '../../models/index.js';
import type { TensorMap } from '../../replicas/index.js';

/**
 * Gateways every test server asks for: two ingress threads sharing the port
 * where the runtime can (Node ≥ 22.12 on Linux), so the suite runs in that
 * mode there; one gateway in the main thread elsewhere (Node 20), the fallback.
 */
export const TEST_INGRESS_THREADS = 2;

/** Starts a Ferry on a free port with these deployments; closed when the test ends. */
export async function startFerry(
  t: Test,
  deployments: DeploymentConfig[],
  http: Omit<HttpConfig, 'host' | 'port'> = {},
  extra: Omit<FerryConfig, 'deployments' | 'http'> = {},
  options: FerryServerOptions = {},
): Promise<FerryServer> {
  // Tests are not about capacity unless they say so: room for every replica they start.
  const config = validateConfig(
    { http: { port: 0, ingressThreads: TEST_INGRESS_THREADS, ...http }, node: { cpus: 16 }, ...extra, deployments },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config, options);
  t.teardown(() => server.close(2000));
  return server;
}

/** One line of Ferry's pino log, as JSON. */
export interface LogLine {
  level: number;
  msg: string;
  cause?: string;
  err?: { stack?: string };
}

/** A stream for Fastify's `logger.stream` that keeps every log line, parsed. */
export function captureLog(): { lines: LogLine[]; stream: Writable } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

/** POSTs JSON and returns status, headers and parsed body. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the assertion message
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** A deterministic pseudo-random float32 row of `n` values in [-1, 1). */
export function randomRow(seed: number, n: number): number[] {
  let s = seed * 2654435761 >>> 0;
  return Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** Runs a model directly with onnxruntime in the test process: the reference answer. */
export async function directRun(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const path = modelPath(file);
  applyOrtEnvironment();
  if (!sessions.has(path)) sessions.set(path, ort.InferenceSession.create(path));
  const session = await sessions.get(path)!;
  return session.run(feeds);
}

/** Largest absolute difference between two numeric arrays (Infinity when lengths differ). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(Number(a[i]) - Number(b[i])));
  return worst;
}

/** Polls `check` until it is true or `ms` passes; `poll` runs before each check (e.g. a fetch). */
export async function waitFor(check: () => boolean, ms = 10_000, poll?: () => Promise<void>): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await poll?.();
    if (check()) return true;
    await new Promise((r) => setTimeout(r, poll ? 250 : 5));
  }
  return check();
}

export type { TensorMap };
