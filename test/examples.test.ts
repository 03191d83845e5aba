import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { FerryServer, loadConfig } from '../index.js';
import { directRun, maxAbsDiff } from './helpers/ferry.js';

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}.config.ts`, import.meta.url));

/** Serves an example config as `ferry serve` would, on a free port; closed when the test ends. */
async function serveExample(t: Test, name: string): Promise<FerryServer> {
  const server = await FerryServer.start(await loadConfig(example(name)), { listen: { port: 0 } });
  t.teardown(() => server.close(2000));
  return server;
}

async function json(res: Promise<Response>): Promise<{ status: number; body: any }> {
  const r = await res;
  return { status: r.status, body: await r.json() };
}

t.test('counter: the state lives in its replica; incremented and read over HTTP and over a WebSocket', async (t) => {
  const server = await serveExample(t, 'counter');
  const base = `${server.url}/counter`;
  const post = (body?: unknown) =>
    json(fetch(`${base}/increment`, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) }));
  t.same(await post(), { status: 200, body: { value: 1 } }, 'no body: by one');
  t.same(await post({ by: 5 }), { status: 200, body: { value: 6 } });
  t.same(await json(fetch(`${base}/value`)), { status: 200, body: { value: 6 } }, 'read back');
  const bad = await post({ by: 'x' });
  t.equal(bad.status, 400, "the handler says it is the client's mistake");
  t.match(bad.body, { code: 'FERRY_ERR_BODY_INVALID', error: /by must be an integer/ });
  const broken = await json(fetch(`${base}/increment`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }));
  t.match(broken, { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID' } });
  t.same((await json(fetch(`${base}/value`))).body, { value: 6 }, 'errors changed nothing');

  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const answers: any[] = [];
  const three = new Promise<void>((resolve) => ws.on('message', (d: Buffer) => answers.push(JSON.parse(d.toString())) === 3 && resolve()));
  ws.send(JSON.stringify({ by: 1 }));
  ws.send('not json');
  ws.send(JSON.stringify({ by: 10 }));
  await three;
  ws.close();
  t.same(answers.filter((a) => 'value' in a).map((a) => a.value).sort((a, b) => a - b), [7, 17], 'each message incremented the same counter');
  t.match(answers.find((a) => 'error' in a), { code: 'FERRY_ERR_MESSAGE_INVALID', status: 400 });
  t.same((await server.handle('counter').call('get')) as unknown, { value: 17 }, "an embedder's handle calls the method too");
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /ferry_requests_total\{deployment="counter",code="200"\} [1-9]/, 'own routes are counted per deployment');
});

t.test("compute-sum: Ray's compute_sum as Ferry code: chunks summed on a pool through a handle, in parallel, and gathered", async (t) => {
  const server = await serveExample(t, 'compute-sum');
  const numbers = Array.from({ length: 1000 }, (_, i) => i + 1);
  const answer = await json(fetch(`${server.url}/sum/compute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ numbers, chunkSize: 100 }) }));
  t.equal(answer.status, 200);
  t.equal(answer.body.total, 500500);
  t.equal(answer.body.chunks, 10);
  t.same(answer.body.replicas, ['sum-chunk#1', 'sum-chunk#2'], "the chunks were spread over the pool's two replicas");
  const bad = await json(fetch(`${server.url}/sum/compute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ numbers: ['x'] }) }));
  t.match(bad, { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID', error: /numbers must be an array of numbers/ } });
});

/** A deterministic 28×28 grayscale digit-like image. */
const pixels = (seed: number) => Uint8Array.from({ length: 784 }, (_, i) => ((i * 37 + seed * 101) % 251) * ((i % 28) > 6 && (i % 28) < 22 ? 1 : 0.2));

async function cnnProbabilities(images: Uint8Array[]): Promise<Float32Array[]> {
  const data = new Float32Array(images.length * 784);
  images.forEach((img, n) => img.forEach((p, i) => (data[n * 784 + i] = p / 255)));
  const out = await directRun('mnist-cnn.onnx', { image: new ort.Tensor('float32', data, [images.length, 1, 28, 28]) });
  const logits = out.logits.data as Float32Array;
  return images.map((_, n) => softmax(logits.subarray(n * 10, n * 10 + 10)));
}

function softmax(row: Float32Array): Float32Array {
  const max = Math.max(...row);
  const exp = row.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

/** A gray PNG of the image, each pixel drawn `scale`×`scale`. */
function png(img: Uint8Array, scale: number): Buffer {
  const side = 28 * scale;
  const out = new PNG({ width: side, height: side });
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = img[Math.floor(y / scale) * 28 + Math.floor(x / scale)];
      out.data.set([v, v, v, 255], (y * side + x) * 4);
    }
  }
  return PNG.sync.write(out);
}

t.test('digits: a pipeline from PNG or raw bytes, through preprocessing code and the CNN, to the top-k labels', async (t) => {
  const server = await serveExample(t, 'digits');
  const img = pixels(3);
  const [expected] = await cnnProbabilities([img]);
  const ranked = [...expected].map((probability, label) => ({ label: String(label), probability })).sort((a, b) => b.probability - a.probability);
  const classify = (body: Uint8Array, k = 3) => json(fetch(`${server.url}/digits/classify?k=${k}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: body as BodyInit }));
  for (const [what, body] of [
    ['a 28×28 PNG', png(img, 1)],
    ['a 56×56 PNG', png(img, 2)],
    ['784 raw bytes', img],
  ] as const) {
    const answer = await classify(body);
    t.equal(answer.status, 200, what);
    t.same(answer.body.top.map((x: { label: string }) => x.label), ranked.slice(0, 3).map((x) => x.label), `${what}: the CNN's top 3 labels`);
    t.ok(Math.abs(answer.body.top[0].probability - ranked[0].probability) < 1e-5, `${what}: with its probability`);
  }
  t.equal((await classify(img, 5)).body.top.length, 5, 'k picks how many');
  const bad = await classify(new Uint8Array(10));
  t.match(bad, { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID', error: /expected a PNG or 784 raw grayscale bytes, got 10 bytes/ } });
  // A tiny file declaring a huge image is refused from its header, before any pixel is decoded.
  const huge = png(img, 1);
  huge.writeUInt32BE(12000, 16);
  huge.writeUInt32BE(12000, 20);
  t.match(await classify(huge), { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID', error: /the PNG is 12000×12000; at most 4096×4096 is decoded/ } });
  const interlaced = png(img, 1);
  interlaced[28] = 1;
  t.match(await classify(interlaced), { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID', error: /interlaced PNGs are not read/ } }, 'an interlaced PNG is refused before pngjs inflates it unbounded');
  t.match(await classify(png(img, 1).subarray(0, 40)), { status: 400, body: { code: 'FERRY_ERR_BODY_INVALID', error: /the PNG does not decode/ } }, 'a truncated PNG is the client\'s mistake');
  t.match(await classify(img, 11), { status: 400, body: { error: /k must be an integer from 1 to 10/ } });
});

t.test('ensemble: two named models in one handler, their probabilities averaged', async (t) => {
  const server = await serveExample(t, 'ensemble');
  const images = [pixels(1), pixels(2)];
  const data = images.flatMap((img) => [...img].map((p) => p / 255));
  const answer = await json(
    fetch(`${server.url}/v2/models/ensemble/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'image', shape: [2, 784], datatype: 'FP32', data }] }),
    }),
  );
  t.equal(answer.status, 200);
  const cnn = await cnnProbabilities(images);
  const mlpOut = await directRun('mlp.onnx', { input: new ort.Tensor('float32', Float32Array.from(data), [2, 784]) });
  const mlp = [0, 1].map((n) => softmax((mlpOut.logits.data as Float32Array).subarray(n * 10, n * 10 + 10)));
  const expected = [0, 1].flatMap((n) => [...mlp[n]].map((v, i) => (v + cnn[n][i]) / 2));
  t.ok(maxAbsDiff(answer.body.outputs[0].data, expected) < 1e-5, 'the mean of the MLP and CNN probabilities, row by row');
});

t.test('classify: pre- and post-processing around the CNN in one batched handler', async (t) => {
  const server = await serveExample(t, 'classify');
  const requests = Array.from({ length: 12 }, (_, i) => [pixels(10 + i), ...(i % 3 === 0 ? [pixels(50 + i)] : [])]);
  const answers = await Promise.all(
    requests.map((images) =>
      json(
        fetch(`${server.url}/v2/models/classify/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'pixels', shape: [images.length, 28, 28], datatype: 'UINT8', data: images.flatMap((img) => [...img]) }] }),
        }),
      ),
    ),
  );
  for (const [i, answer] of answers.entries()) {
    t.equal(answer.status, 200);
    const expected = await cnnProbabilities(requests[i]);
    const label = answer.body.outputs.find((o: { name: string }) => o.name === 'label').data;
    const probability = answer.body.outputs.find((o: { name: string }) => o.name === 'probability').data;
    t.same(label, expected.map((p) => p.indexOf(Math.max(...p))), `request ${i}: the CNN's most likely label for each of its images`);
    t.ok(maxAbsDiff(probability, expected.map((p) => Math.max(...p))) < 1e-5, `request ${i}: with its probability`);
  }
  const replica = server.pools.get('classify')!.stats().replicas[0];
  t.ok(replica.batches < requests.length, `the ${requests.length} concurrent requests ran in ${replica.batches} batches`);
});
