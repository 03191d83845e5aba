import ort from 'onnxruntime-node';
import t from 'tap';
import { OnnxGraphBuilder, OnnxType } from '../models/index.js';
import { postJson, randomRow, startFerry } from './helpers/ferry.js';

/**
 * picked[b] = data[b, idx[b]]: inputs `data` float32 ['batch', 8] and `idx`
 * int64 ['batch', 1]. onnxruntime rejects the whole run when any index is
 * outside 0..7, as models that gather by a caller's ids (embeddings, tokens) do.
 */
function buildPick(): Uint8Array {
  const g = new OnnxGraphBuilder('pick');
  const data = g.input('data', OnnxType.FLOAT, ['batch', 8]);
  const idx = g.input('idx', OnnxType.INT64, ['batch', 1]);
  g.node('GatherElements', [data, idx], { axis: 1 }, { output: 'picked' });
  g.output('picked', OnnxType.FLOAT, ['batch', 1]);
  return g.toBytes();
}

const BAD = 6;
const requests = Array.from({ length: 10 }, (_, i) => ({ data: randomRow(700 + i, 8), idx: i === BAD ? 99 : (i * 3) % 8 }));
const body = (r: (typeof requests)[number]) => ({
  inputs: [
    { name: 'data', shape: [1, 8], datatype: 'FP32', data: r.data },
    { name: 'idx', shape: [1, 1], datatype: 'INT64', data: [r.idx] },
  ],
});

t.test("a call whose values onnxruntime rejects fails alone; the calls batched with it get their answers", async (t) => {
  const dir = t.testdir({ 'pick.onnx': Buffer.from(buildPick()) });
  const session = await ort.InferenceSession.create(`${dir}/pick.onnx`);
  const direct = (rs: typeof requests) =>
    session.run({
      data: new ort.Tensor('float32', Float32Array.from(rs.flatMap((r) => r.data)), [rs.length, 8]),
      idx: new ort.Tensor('int64', BigInt64Array.from(rs.map((r) => BigInt(r.idx))), [rs.length, 1]),
    });
  await t.rejects(direct(requests), /Out of range value in index tensor/, 'onnxruntime rejects the ten as one run');

  const server = await startFerry(t, [{ name: 'pick', model: `${dir}/pick.onnx`, batching: { batchWaitTimeoutMs: 20 } }]);
  const url = `${server.url}/v2/models/pick/infer`;
  // The same ten requests with a good index share runs, so the bad one below is batched with others.
  const good = await Promise.all(requests.map((r, i) => postJson(url, body(i === BAD ? { ...r, idx: 0 } : r))));
  t.same([...new Set(good.map((a) => a.status))], [200]);
  t.ok(server.stats()[0].replicas[0].maxBatchRows > 1, `ten concurrent requests share runs (largest: ${server.stats()[0].replicas[0].maxBatchRows} rows)`);

  const answers = await Promise.all(requests.map((r) => postJson(url, body(r))));
  for (const [i, r] of requests.entries()) {
    const a = answers[i];
    if (i === BAD) {
      t.equal(a.status, 500, 'the request with index 99 fails');
      t.equal(a.body.code, 'FERRY_ERR_INFERENCE_FAILED');
      t.match(a.body.error, /^inference failed in pick: .*Out of range value in index tensor/, "with onnxruntime's message");
      continue;
    }
    t.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body).slice(0, 200)}`);
    const want = (await direct([r])).picked.data as Float32Array;
    t.same(a.body.outputs[0].data, [...want], `request ${i} equals a direct run`);
  }

  const alone = await postJson(url, body(requests[BAD]));
  t.equal(alone.status, 500, 'alone, it fails as before');
  t.match(alone.body.error, /Out of range value in index tensor/);
  const after = await postJson(url, body(requests[0]));
  t.equal(after.status, 200, 'the replica serves on');
});

t.test('a model whose outputs are not batch-major after all answers each call alone, not a 500', async (t) => {
  // Declares `total` ['batch', 4] but sums over the batch: [1, 4] whatever the batch. The
  // axis is computed from x's values (min(x)·0 = 0), so shape inference cannot see it.
  const g = new OnnxGraphBuilder('liar');
  const x = g.input('x', OnnxType.FLOAT, ['batch', 4]);
  const zero = g.node('Mul', [g.node('ReduceMin', [x], { keepdims: 0 }), g.floats('nought', [], Float32Array.of(0))]);
  const axes = g.node('Unsqueeze', [g.node('Cast', [zero], { to: OnnxType.INT64 }), g.int64s('at', [1], [0])]);
  g.node('ReduceSum', [x, axes], { keepdims: 1 }, { output: 'total' });
  g.output('total', OnnxType.FLOAT, ['batch', 4]);
  const dir = t.testdir({ 'liar.onnx': Buffer.from(g.toBytes()) });
  const server = await startFerry(t, [{ name: 'liar', model: `${dir}/liar.onnx`, batching: { batchWaitTimeoutMs: 20 } }]);
  const xs = Array.from({ length: 6 }, (_, i) => randomRow(800 + i, 4));
  const answers = await Promise.all(
    xs.map((x) => postJson(`${server.url}/v2/models/liar/infer`, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: x }] })),
  );
  for (const [i, a] of answers.entries()) {
    t.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body).slice(0, 200)}`);
    t.same(a.body.outputs[0].data, [...Float32Array.from(xs[i])], `request ${i} gets its own sum, not the batch's`);
  }
});
