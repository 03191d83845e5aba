/*
 * The HTTP limit: bare Fastify receiving the same bytes as Ferry's infer
 * routes (and binary WebSocket frames as its streams do) and answering with
 * a response of the same size, running no model.
 * `bare-server <threads>`: that many Fastify instances, each in a worker
 * thread, sharing the port with reusePort, as Ferry's ingress threads do.
 */
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { startWorker } from '../replicas/index.js';

const logits = Array.from({ length: 10 }, (_, i) => Math.sin(i));
const binaryAnswer = (() => {
  const header = Buffer.from(JSON.stringify({ model_name: 'bare', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10], parameters: { binary_data_size: 40 } }] }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return { header, body: Buffer.concat([header, Buffer.from(new Float32Array(logits).buffer)]), frame: Buffer.concat([length, header, Buffer.from(new Float32Array(logits).buffer)]) };
})();

/** Listens on `port` (0 picks one), beside other threads when `reusePort`; resolves with the address. */
function serve(port: number, reusePort: boolean): Promise<string> {
  // The same JSON parser settings as Ferry's gateway, so ratios measure Ferry's own work.
  const app = Fastify({ bodyLimit: 64 * 1024 * 1024, onProtoPoisoning: 'ignore', onConstructorPoisoning: 'ignore' });
  app.post('/infer', async (req) => {
    const body = req.body as { inputs: { data: number[] }[] };
    return { model_name: 'bare', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 10], data: logits, n: body.inputs[0].data.length }] };
  });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/binary', async (req, reply) => {
    const body = req.body as Buffer;
    // Read the JSON header as Ferry does; the tensor bytes stay where they are.
    JSON.parse(body.toString('utf8', 0, Number(req.headers['inference-header-content-length'])));
    reply.header('inference-header-content-length', String(binaryAnswer.header.length)).type('application/octet-stream');
    return binaryAnswer.body;
  });
  // Binary frames as Ferry's streams take them (4-byte header length, JSON header, tensors), answered alike.
  void app.register(websocket, { options: { maxPayload: 64 * 1024 * 1024 } });
  void app.register(async (scope) => {
    scope.get('/stream', { websocket: true }, (socket) => {
      socket.on('message', (data: Buffer) => {
        JSON.parse(data.toString('utf8', 4, 4 + data.readUInt32LE(0)));
        socket.send(binaryAnswer.frame);
      });
    });
  });
  return app.listen({ host: '127.0.0.1', port, ...(reusePort ? { reusePort: true } : {}) });
}

if (!isMainThread) {
  parentPort!.postMessage({ url: await serve((workerData as { port: number }).port, true) });
} else {
  const threads = Number(process.argv[2] ?? 1);
  let url: string;
  if (threads <= 1) url = await serve(0, false);
  else {
    const inThread = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const w = startWorker(fileURLToPath(import.meta.url), { port });
        w.once('message', (m: { url: string }) => resolve(m.url));
        w.once('error', reject);
      });
    url = await inThread(0);
    for (let i = 1; i < threads; i++) await inThread(Number(new URL(url).port));
  }
  process.send?.({ url });
  process.on('disconnect', () => process.exit(0));
}
