import ort from 'onnxruntime-node';
import t from 'tap';
import { modelPath } from '../models/index.js';
import { bytesOf, postBinary } from './helpers/binary.js';
import { directRun, maxAbsDiff, randomRow, startFerry } from './helpers/ferry.js';

// Bodies are read into shared memory: thread replicas read the tensors in place, process replicas get them copied.
for (const replicaHost of ['thread', 'process'] as const) t.test(`concurrent large binary requests (64 rows, 200 KB each) each get their own answer (${replicaHost} replicas)`, async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), numReplicas: 2, replicaHost, batching: { maxBatchSize: 256, batchWaitTimeoutMs: 5 }, maxOngoingRequests: 256 },
  ]);
  const rows = 64;
  const inputs = Array.from({ length: 24 }, (_, i) => Float32Array.from(randomRow(1000 + i, rows * 784)));
  const header = (n: number) => ({
    id: `big-${n}`,
    inputs: [{ name: 'input', shape: [rows, 784], datatype: 'FP32', parameters: { binary_data_size: rows * 784 * 4 } }],
    parameters: { binary_data_output: true },
  });
  // Twice over, so pooled request buffers are reused while other calls still hold theirs.
  for (const round of [0, 1]) {
    const answers = await Promise.all(inputs.map((x, i) => postBinary(`${server.url}/v2/models/mlp/infer`, header(i), [bytesOf(x)])));
    for (const [i, a] of answers.entries()) {
      t.equal(a.status, 200);
      t.equal(a.json.id, `big-${i}`);
      const got = new Float32Array(a.binary.buffer.slice(a.binary.byteOffset, a.binary.byteOffset + a.binary.length));
      const want = (await directRun('mlp.onnx', { input: new ort.Tensor('float32', inputs[i], [rows, 784]) })).logits.data as Float32Array;
      t.ok(maxAbsDiff(got, want) < 1e-4, `round ${round}, request ${i}: its own 64 rows of logits`);
    }
  }
  const stats = server.stats()[0];
  t.ok(stats.replicas.some((r) => r.maxBatchRows > rows), `requests shared batches (largest ${Math.max(...stats.replicas.map((r) => r.maxBatchRows))} rows)`);
});
