import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { randomRow, TEST_INGRESS_THREADS, waitFor } from './helpers/ferry.js';

/*
 * OpenTelemetry: with `tracing`, each request to a deployment is a span sent
 * over OTLP/HTTP (JSON) to a collector — here a real HTTP server that keeps
 * what it is sent — continuing the client's trace, with its queue and
 * inference as children.
 */

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

async function collector(t: Test): Promise<{ url: string; spans: OtlpSpan[]; services: Set<string> }> {
  const spans: OtlpSpan[] = [];
  const services = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const sent = JSON.parse(body) as { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const r of sent.resourceSpans) {
        for (const a of r.resource.attributes) if (a.key === 'service.name') services.add(String(a.value.stringValue));
        for (const s of r.scopeSpans) spans.push(...s.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/traces`, spans, services };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v && (v.stringValue ?? v.intValue ?? v.doubleValue);
};

t.test("a request's spans reach the collector: its trace continued, its queue and inference as children", async (t) => {
  const otlp = await collector(t);
  const config = validateConfig(
    {
      http: { port: 0, ingressThreads: TEST_INGRESS_THREADS },
      node: { cpus: 16 },
      tracing: { otlpEndpoint: otlp.url, serviceName: 'ferry-test' },
      deployments: [
        { name: 'mlp', model: modelPath('mlp.onnx') },
        { name: 'front', handler: `${fileURLToPath(new URL('./fixtures/handlers/traced.ts', import.meta.url))}#Front` },
        { name: 'back', handler: `${fileURLToPath(new URL('./fixtures/handlers/traced.ts', import.meta.url))}#Back` },
      ],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config);
  const client = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const res = await fetch(`${server.url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: client },
    body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(9, 784) }] }),
  });
  t.equal(res.status, 200);
  const piped = await fetch(`${server.url}/v2/models/front/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: client },
    body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] }),
  });
  const [frontSaw, backSaw] = ((await piped.json()) as { outputs: { data: string[] }[] }).outputs[0].data;
  const post = (model: string, x: number) =>
    fetch(`${server.url}/v2/models/${model}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [x] }] }) });
  t.equal((await post('back', -1)).status, 500, 'a handler that throws');
  const failedCall = await fetch(`${server.url}/v2/models/front/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: '00-11111111111111111111111111111111-2222222222222222-01' },
    body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [-1] }] }),
  });
  t.equal(failedCall.status, 500, 'a handle call that fails fails its caller');
  t.equal((await fetch(`${server.url}/v2/models/back/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2] }] }) })).status, 400, 'a request refused before any replica');
  // Closing flushes what is left to send.
  await server.close(2000);
  t.ok(await waitFor(() => otlp.spans.filter((s) => s.name === 'ferry.request').length >= 4, 5000), `spans came (${otlp.spans.map((s) => s.name)})`);
  t.same([...otlp.services], ['ferry-test'], 'as the configured service');
  const request = otlp.spans.find((s) => s.name === 'ferry.request' && attr(s, 'ferry.deployment') === 'mlp')!;
  t.equal(request.traceId, '0af7651916cd43dd8448eb211c80319c', "in the client's trace");
  t.equal(request.parentSpanId, 'b7ad6b7169203331', "under the client's span");
  t.equal(attr(request, 'http.response.status_code'), 200);
  t.match(attr(request, 'ferry.replica'), /^mlp#/);
  const children = otlp.spans.filter((s) => s.parentSpanId === request.spanId).map((s) => s.name).sort();
  t.same(children, ['ferry.batch', 'ferry.queue'], 'its queue and batch');
  const queue = otlp.spans.find((s) => s.name === 'ferry.queue' && s.parentSpanId === request.spanId)!;
  const batch = otlp.spans.find((s) => s.name === 'ferry.batch' && s.parentSpanId === request.spanId)!;
  const inference = otlp.spans.find((s) => s.name === 'ferry.inference' && s.parentSpanId === batch.spanId)!;
  t.ok(inference, 'and onnxruntime’s run within the batch');
  t.ok(BigInt(inference.endTimeUnixNano) <= BigInt(batch.endTimeUnixNano), 'inference ends within its batch');
  t.equal(attr(batch, 'ferry.batch_rows'), 1);
  const ns = (v: string) => BigInt(v);
  t.ok(ns(request.startTimeUnixNano) <= ns(queue.startTimeUnixNano) + 1_000_000n, 'the request began before its queue (within a ms of clocks)');
  t.ok(ns(queue.endTimeUnixNano) <= ns(inference.startTimeUnixNano) + 1n, 'queue, then inference');
  t.ok(ns(inference.endTimeUnixNano) <= ns(request.endTimeUnixNano) + 1_000_000n, 'inference within the request');
  const front = otlp.spans.find((s) => s.name === 'ferry.request' && attr(s, 'ferry.deployment') === 'front')!;
  t.equal(frontSaw.split('-')[2], front.spanId, "the front deployment's code sees the request span as its parent");
  t.equal(backSaw.split('-')[1], front.traceId, 'and its handle call carries the same trace on');
  const handle = otlp.spans.find((s) => s.name === 'ferry.handle' && s.traceId === front.traceId);
  t.ok(handle, 'the handle call from front to back has a span of its own in the same trace');
  t.equal(handle?.parentSpanId, front.spanId, 'under the request span the front code was serving');
  t.equal(attr(handle!, 'ferry.deployment'), 'back');
  t.equal(backSaw.split('-')[2], handle?.spanId, "the back deployment's code sees the handle call's span as its parent");
  t.same(
    otlp.spans.filter((s) => s.parentSpanId === handle?.spanId).map((s) => s.name).sort(),
    ['ferry.batch', 'ferry.queue'],
    'with the back deployment’s queue and batch beneath',
  );
  const failedHandle = otlp.spans.find((s) => s.name === 'ferry.handle' && s.traceId === '11111111111111111111111111111111') as (OtlpSpan & { status?: { code?: number } }) | undefined;
  t.equal(attr(failedHandle!, 'error.type'), 'FERRY_ERR_HANDLER_FAILED', "a failed handle call's span names its error");
  t.equal(failedHandle?.status?.code, 2, 'with the error status');
  const backs = otlp.spans.filter((s) => s.name === 'ferry.request' && attr(s, 'ferry.deployment') === 'back');
  const failed = backs.find((s) => attr(s, 'http.response.status_code') === 500) as (OtlpSpan & { status?: { code?: number } }) | undefined;
  t.equal(failed?.status?.code, 2, 'a 5xx span has the error status');
  t.not(failed?.traceId, '0af7651916cd43dd8448eb211c80319c', 'without a traceparent, a trace of its own');
  const refused = backs.find((s) => attr(s, 'http.response.status_code') === 400)!;
  t.same(otlp.spans.filter((s) => s.parentSpanId === refused.spanId), [], 'a request no replica saw has no queue or inference');
});

t.test('off by default: nothing is sent', async (t) => {
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 16 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] }, modelPath('ferry.config.ts'));
  t.equal(config.tracing, null);
});
