import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/*
 * The compute limit: raw onnxruntime rows/s, `threads` worker threads each
 * running the model in a loop at a fixed batch size, no HTTP, no batching logic.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
(async () => {
  const s = await ort.InferenceSession.create(workerData.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = new Float32Array(workerData.batch * 784).map((_, i) => Math.sin(i));
  const feeds = { input: new ort.Tensor('float32', x, [workerData.batch, 784]) };
  for (let i = 0; i < 20; i++) await s.run(feeds);
  parentPort.postMessage('ready');
  await new Promise((r) => parentPort.once('message', r));
  const until = Date.now() + workerData.ms;
  let rows = 0;
  while (Date.now() < until) { await s.run(feeds); rows += workerData.batch; }
  parentPort.postMessage(rows);
})();
`;

/** Rows per second of `threads` workers running `model` at `batch` rows per run for `ms`. */
export async function computeLimit(model: string, threads: number, batch: number, ms: number): Promise<number> {
  const ort = fileURLToPath(import.meta.resolve('onnxruntime-node'));
  const workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { ort, model, batch, ms } }));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const started = performance.now();
  for (const w of workers) w.postMessage('go');
  const rows = await Promise.all(workers.map((w) => new Promise<number>((r) => w.once('message', r))));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(workers.map((w) => w.terminate()));
  return rows.reduce((a, b) => a + b, 0) / seconds;
}
