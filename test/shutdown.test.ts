import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { randomRow, waitFor } from './helpers/ferry.js';

const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }] });

/** One POST on `agent`'s keep-alive connections: status, headers and JSON body. */
function post(url: string, agent: Agent): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function start(batchWaitTimeoutMs: number, shutdownGraceMs?: number): Promise<FerryServer> {
  const config = validateConfig(
    { http: { port: 0 }, node: { cpus: 2 }, shutdownGraceMs, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: { batchWaitTimeoutMs } }] },
    modelPath('ferry.config.ts'),
  );
  return FerryServer.start(config);
}

t.test('shutdown answers what is in flight (HTTP and WebSocket), refuses what arrives in Ferry\'s form, and closes no socket under a request', async (t) => {
  // Calls are held 1.5 s by the batch window: longer than the 500 ms the shutdown keeps idle sockets.
  const server = await start(1500);
  const url = `${server.url}/v2/models/mlp/infer`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal((await post(url, agent)).status, 200, 'the keep-alive connection is open');

  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/stream`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const wsAnswer = new Promise<any>((resolve) => ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))));
  const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send(JSON.stringify({ id: 'in-flight', inputs: JSON.parse(body).inputs }));
  const otherAgent = new Agent({ keepAlive: true });
  t.teardown(() => otherAgent.destroy());
  const httpInFlight = post(url, otherAgent);
  await new Promise((r) => setTimeout(r, 100)); // both held by the batch window

  const closing = server.close(5000);
  await new Promise((r) => setTimeout(r, 50));
  const late = await post(url, agent);
  t.equal(late.status, 503, 'a request arriving on an open keep-alive connection during shutdown');
  t.equal(late.body.code, 'FERRY_ERR_SHUTTING_DOWN');
  t.equal(late.headers['retry-after'], '1');
  t.equal(late.headers.connection, 'close', 'and the connection is closed after it');
  const ready = await new Promise<number>((resolve) => request(`${server.url}/v2/health/ready`, (res) => (res.resume(), resolve(res.statusCode ?? 0))).end());
  t.equal(ready, 503, 'readiness turns 503 at once');

  t.equal((await httpInFlight).status, 200, 'the HTTP request in flight is answered');
  const answered = await wsAnswer;
  t.equal(answered.id, 'in-flight');
  t.ok(Array.isArray(answered.outputs), 'the WebSocket call in flight is answered, not cancelled');
  t.equal(await wsClosed, 1001, 'then the stream closes with 1001 (going away)');
  await closing;
});

t.test('a call still held when the grace ends is answered 503, and close() returns within the grace', async (t) => {
  // The batch window (10 s) holds the call longer than the grace (300 ms), given to close() or by the config.
  for (const [server, close] of [
    [await start(10_000), (s: FerryServer) => s.close(300)],
    [await start(10_000, 300), (s: FerryServer) => s.close()],
  ] as const) {
    const agent = new Agent({ keepAlive: false });
    const held = post(`${server.url}/v2/models/mlp/infer`, agent);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await close(server);
    const tookMs = Date.now() - started;
    const answer = await held;
    t.equal(answer.status, 503);
    t.equal(answer.body.code, 'FERRY_ERR_SHUTTING_DOWN');
    t.ok(tookMs < 2000, `close returned after ${tookMs} ms`);
  }
});

/** Sends a request's head and the first half of its body on a raw socket; `rest()` sends the other half; `answer` is the raw response. */
function halfSent(url: string, path: string, payload: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let raw = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (raw += d));
  const answer = new Promise<string>((resolve) => socket.on('close', () => resolve(raw)));
  const half = Math.floor(payload.length / 2);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload.slice(0, half)}`);
  return { rest: () => socket.write(payload.slice(half)), answer };
}

t.test('a request already admitted when the shutdown begins is served: its body still arriving, or its call waiting for a replica from zero', async (t) => {
  const config = validateConfig(
    {
      http: { port: 0 },
      node: { cpus: 2 },
      deployments: [
        { name: 'mlp', model: modelPath('mlp.onnx') },
        { name: 'zero', model: modelPath('mlp.onnx'), autoscaling: { minReplicas: 0, maxReplicas: 1 } },
      ],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config);
  const uploading = halfSent(server.url, '/v2/models/mlp/infer', body);
  const waking = halfSent(server.url, '/v2/models/zero/infer', body);
  waking.rest();
  t.ok(await waitFor(() => server.pools.get('zero')!.stats().target === 1), 'the request to the deployment at zero asked for a replica');
  await new Promise((r) => setTimeout(r, 100)); // the uploading request's head has been read
  const closed = server.close(10_000);
  await new Promise((r) => setTimeout(r, 300));
  uploading.rest();
  const [a, b] = await Promise.all([uploading.answer, waking.answer]);
  t.match(a, /^HTTP\/1\.1 200 /, 'the body that finished arriving after the signal got its answer');
  t.match(a, /connection: close/i);
  t.match(b, /^HTTP\/1\.1 200 /, 'the call queued for a replica from zero got its answer');
  await closed;
});

t.test('a WebSocket upgrade refused during shutdown does not hold the shutdown open', async (t) => {
  const server = await FerryServer.start(
    validateConfig({ http: { port: 0, ingressThreads: 2 }, node: { cpus: 4 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] }, modelPath('x.ts')),
  );
  const began = performance.now();
  const closed = server.close(10_000);
  await new Promise((r) => setTimeout(r, 50));
  const refused = await new Promise<string>((resolve) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/stream`);
    ws.on('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
    ws.on('error', (err) => resolve(err.message));
    ws.on('open', () => resolve('opened'));
  });
  t.match(refused, /status 503|ECONNREFUSED|ECONNRESET|socket hang up/, `refused (${refused})`);
  await closed;
  const took = performance.now() - began;
  t.ok(took < 3000, `the shutdown ended in ${Math.round(took)} ms, not at the end of its 10 s grace`);
});

/** A raw connection that has sent `text` and then says nothing more; `closed` settles when the server ends it, `received` is what it answered. */
async function stalled(url: string, text: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (received += d));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(text);
  return { socket, closed, received: () => received };
}

t.test('clients that stall do not hold the shutdown past its grace: an unfinished body, an unfinished head, a WebSocket that never answers the close', async (t) => {
  for (const ingressThreads of [1, 2]) {
    const server = await FerryServer.start(
      validateConfig({ http: { port: 0, ingressThreads }, node: { cpus: 4 }, deployments: [{ name: 'mlp', model: modelPath('mlp.onnx') }] }, modelPath('x.ts')),
    );
    const host = new URL(server.url).host;
    const clients = [
      await stalled(server.url, `POST /v2/models/mlp/infer HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 100)}`),
      await stalled(server.url, `POST /v2/models/mlp/infer HTTP/1.1\r\nHost: ${host}\r\n`),
      await stalled(
        server.url,
        `GET /v2/models/mlp/stream HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    ];
    const deaf = clients[2];
    t.ok(await waitFor(() => deaf.received().startsWith('HTTP/1.1 101')), `the WebSocket is open (${ingressThreads} ingress)`);
    const began = performance.now();
    await server.close(300);
    const took = performance.now() - began;
    // Without the cut, Node's headersTimeout (60 s) and requestTimeout, and ws's 30 s close handshake, held it.
    t.ok(took < 2500, `close(300) returned in ${Math.round(took)} ms (${ingressThreads} ingress)`);
    await Promise.all(clients.map((c) => c.closed));
    t.pass(`the server ended every stalled connection (${ingressThreads} ingress)`);
  }
});
