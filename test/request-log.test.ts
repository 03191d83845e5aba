import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { FerryServer, validateConfig, type DeploymentConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { captureLog, randomRow, TEST_INGRESS_THREADS, waitFor, type LogLine } from './helpers/ferry.js';

/*
 * http.requestLog: a line per request through the gateway's logger, with
 * its id and, for a deployment's calls, how the call was served.
 */

type RequestLine = LogLine & { reqId: string; method: string; url: string; status: number; durationMs: number; deployment?: string; replica?: string; queueWaitMs?: number; batchRows?: number };

const deployments: DeploymentConfig[] = [
  { name: 'mlp', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 8, batchWaitTimeoutMs: 20 } },
  { name: 'parts', handler: `${fileURLToPath(new URL('./fixtures/handlers/compute-parts.ts', import.meta.url))}#Half`, routePrefix: '/parts', routes: [{ path: '/echo/:id', call: 'echo' }] },
];
const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(3, 784) }] });

async function start(t: Test, requestLog: boolean, ingressThreads: number) {
  const log = captureLog();
  const config = validateConfig({ http: { port: 0, ingressThreads, ...(requestLog ? { requestLog } : {}) }, node: { cpus: 16 }, deployments }, modelPath('ferry.config.ts'));
  const server = await FerryServer.start(config, { logger: { level: 'info', stream: log.stream } });
  t.teardown(() => server.close(2000));
  return { server, lines: () => log.lines.filter((l) => l.msg === 'request') as RequestLine[] };
}

for (const threads of [1, TEST_INGRESS_THREADS]) {
  t.test(`${threads} ingress thread(s): one line per request, with its id, status and duration; a call's replica, queue wait and batch rows`, async (t) => {
    const { server, lines } = await start(t, true, threads);
    const post = (id: string) => fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': id }, body });
    // Eight at once: with a 20 ms window they share batches.
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => post(`burst-${i}`)));
    t.ok(answers.every((a) => a.status === 200));
    const route = await fetch(`${server.url}/parts/echo/3`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'route-1' }, body: '{}' });
    t.equal(route.status, 200);
    const missing = await fetch(`${server.url}/v2/models/nope/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'nf-1' }, body });
    t.equal(missing.status, 404);
    t.ok(await waitFor(() => lines().length >= 10, 5000), `ten lines (${lines().length})`);
    const burst = lines().filter((l) => l.reqId.startsWith('burst-'));
    t.equal(burst.length, 8, 'one per request');
    const replicaIds = server.stats().find((s) => s.deployment === 'mlp')!.replicas.map((r) => r.id);
    for (const l of burst) {
      t.match(l, { method: 'POST', url: '/v2/models/mlp/infer', status: 200, deployment: 'mlp' });
      t.ok(replicaIds.includes(l.replica!), `the replica that answered (${l.replica})`);
      t.ok(l.durationMs > 0 && l.queueWaitMs! >= 0 && l.queueWaitMs! <= l.durationMs, `queue wait ${l.queueWaitMs} ms within ${l.durationMs} ms`);
      t.ok(l.batchRows! >= 1 && l.batchRows! <= 8, `batch rows ${l.batchRows}`);
    }
    t.ok(burst.some((l) => l.batchRows! > 1), `calls that came together shared a batch (${burst.map((l) => l.batchRows)})`);
    t.match(lines().find((l) => l.reqId === 'route-1'), { url: '/parts/echo/3', status: 200, deployment: 'parts', batchRows: 1 }, "a handler route's call");
    const notFound = lines().find((l) => l.reqId === 'nf-1')!;
    t.match(notFound, { status: 404 });
    t.notOk('deployment' in notFound, 'an unknown model names no deployment');
  });
}

t.test('off by default: no request lines', async (t) => {
  const { server, lines } = await start(t, false, 1);
  t.equal((await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 200);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(lines().length, 0);
});
