import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { modelPath } from '../models/index.js';
import { postJson, randomRow, startFerry } from './helpers/ferry.js';

// onnxruntime's telemetry writes mat-debug-<pid>.log into the temp folder of each process that creates a session.
const telemetryLog = (pid: number) => [join(tmpdir(), `mat-debug-${pid}.log`), `/tmp/mat-debug-${pid}.log`];

t.test("onnxruntime's telemetry is off: no replica, thread or process, leaves a log file behind", async (t) => {
  const server = await startFerry(t, [
    { name: 'thread', model: modelPath('mlp.onnx') },
    { name: 'process', model: modelPath('mlp.onnx'), replicaHost: 'process' },
  ]);
  const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(4, 784) }] };
  for (const name of ['thread', 'process']) t.equal((await postJson(`${server.url}/v2/models/${name}/infer`, body)).status, 200);
  const child = server.stats().find((s) => s.deployment === 'process')!.replicas[0].hostId;
  for (const pid of [process.pid, child]) {
    for (const file of telemetryLog(pid)) t.notOk(existsSync(file), `${file} was not written`);
  }
});
