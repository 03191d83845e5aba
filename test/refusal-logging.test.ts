import t from 'tap';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath, OnnxGraphBuilder, OnnxType } from '../models/index.js';
import { captureLog, postJson, randomRow } from './helpers/ferry.js';

t.test('an overload logs its 503s at debug without stacks; a real fault is still an error', async (t) => {
  // picked = data[idx]: an index out of range makes onnxruntime fail the run.
  const g = new OnnxGraphBuilder('pick');
  const data = g.input('data', OnnxType.FLOAT, ['batch', 8]);
  const idx = g.input('idx', OnnxType.INT64, ['batch', 1]);
  g.node('GatherElements', [data, idx], { axis: 1 }, { output: 'picked' });
  g.output('picked', OnnxType.FLOAT, ['batch', 1]);
  const dir = t.testdir({ 'pick.onnx': Buffer.from(g.toBytes()) });
  const { lines, stream } = captureLog();
  const config = validateConfig(
    {
      http: { port: 0 },
      node: { cpus: 2 },
      deployments: [
        // One call at a time, held 200 ms by the wait window, and no queue: most of a burst is refused.
        { name: 'mlp', model: modelPath('mlp.onnx'), maxOngoingRequests: 1, maxQueuedRequests: 0, batching: { batchWaitTimeoutMs: 200 } },
        { name: 'pick', model: `${dir}/pick.onnx` },
      ],
    },
    modelPath('ferry.config.ts'),
  );
  const server = await FerryServer.start(config, { logger: { level: 'info', stream } });
  t.teardown(() => server.close(2000));
  const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(1, 784) }] };
  const answers = await Promise.all(Array.from({ length: 30 }, () => postJson(`${server.url}/v2/models/mlp/infer`, body)));
  const refused = answers.filter((a) => a.status === 503);
  t.ok(refused.length >= 20, `most of the burst was refused (${refused.length} of 30)`);
  t.equal(refused[0].body.code, 'FERRY_ERR_QUEUE_FULL');
  t.same(lines.filter((l) => l.level >= 40), [], 'no warning or error lines for the expected 503s');

  // A fault, not a refusal: onnxruntime failing a request is logged as an error, with its stack.
  const fault = await postJson(`${server.url}/v2/models/pick/infer`, {
    inputs: [
      { name: 'data', shape: [1, 8], datatype: 'FP32', data: randomRow(2, 8) },
      { name: 'idx', shape: [1, 1], datatype: 'INT64', data: [99] },
    ],
  });
  t.equal(fault.status, 500);
  const errors = lines.filter((l) => l.level >= 50);
  t.equal(errors.length, 1, 'one error line for the one fault');
  t.match(errors[0]?.err?.stack, /InferenceError|inference failed/);
});
