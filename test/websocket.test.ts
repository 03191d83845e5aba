import t from 'tap';
import WebSocket from 'ws';
import { startFerry } from './helpers/ferry.js';
import { bytesOf } from './helpers/binary.js';
import { modelPath } from '../models/index.js';

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Collects `n` messages, text parsed as JSON, binary split into { json, binary }. */
function collect(ws: WebSocket, n: number): Promise<any[]> {
  const got: any[] = [];
  return new Promise((resolve) => {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) got.push(JSON.parse(data.toString()));
      else {
        const length = data.readUInt32LE(0);
        got.push({ ...JSON.parse(data.toString('utf8', 4, 4 + length)), binary: data.subarray(4 + length) });
      }
      if (got.length === n) resolve(got);
    });
  });
}

const request = (i: number) => ({
  id: `r${i}`,
  inputs: [
    { name: 'x', shape: [1, 4], datatype: 'FP32', data: [i, -i, 0.5, 1] },
    { name: 'k', shape: [1, 1], datatype: 'INT64', data: [i % 7] },
  ],
});

t.test('1,000 pipelined requests on one socket are all answered with their ids and values', async (t) => {
  const server = await startFerry(t, [{ name: 'mixed', model: modelPath('mixed-inputs.onnx'), routePrefix: '/mixed' }]);
  const ws = await open(`${server.url.replace('http', 'ws')}/v2/models/mixed/stream`);
  t.teardown(() => ws.close());
  const n = 1000;
  const answers = collect(ws, n);
  for (let i = 0; i < n; i++) ws.send(JSON.stringify(request(i)));
  const got = await answers;
  const byId = new Map(got.map((m) => [m.id, m]));
  t.equal(byId.size, n, 'one answer per id');
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const m = byId.get(`r${i}`);
    const k = i % 7;
    const ok =
      m?.model_name === 'mixed' &&
      JSON.stringify(m.outputs[0].data) === JSON.stringify([i * k, -i * k || 0, 0.5 * k, k].map((v) => (Object.is(v, -0) ? 0 : v))) &&
      m.outputs[1].data[0] === k + 1;
    if (!ok) wrong++;
  }
  t.equal(wrong, 0, 'every answer carries its own values');
  t.ok(server.stats()[0].replicas[0].maxBatchRows > 1, 'pipelined requests were batched');
});

t.test('binary frames, bad messages and the route prefix', async (t) => {
  const server = await startFerry(t, [{ name: 'mixed', model: modelPath('mixed-inputs.onnx'), routePrefix: '/mixed' }], { bodyLimitBytes: 4096 });
  const ws = await open(`${server.url.replace('http', 'ws')}/mixed/stream`);
  const answers = collect(ws, 5);

  const header = Buffer.from(
    JSON.stringify({
      id: 'bin',
      inputs: [
        { name: 'x', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } },
        { name: 'k', shape: [1, 1], datatype: 'INT64', parameters: { binary_data_size: 8 } },
      ],
      parameters: { binary_data_output: true },
    }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  ws.send(Buffer.concat([length, header, bytesOf(Float32Array.from([1, 2, 3, 4])), bytesOf(BigInt64Array.from([3n]))]));
  ws.send('{"id": "broken", "inputs": [');
  ws.send(JSON.stringify({ id: 'bad-shape', inputs: [{ name: 'x', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] }));
  ws.send(Buffer.from([1, 2]));
  ws.send(JSON.stringify(request(3)));
  const got = await answers;
  const byId = new Map(got.map((m) => [m.id, m]));

  const bin = byId.get('bin');
  t.same(bin.outputs.map((o: { parameters: { binary_data_size: number } }) => o.parameters.binary_data_size), [16, 8]);
  t.same(Array.from(new Float32Array(bin.binary.buffer.slice(bin.binary.byteOffset, bin.binary.byteOffset + 16))), [3, 6, 9, 12]);
  t.equal(bin.binary.readBigInt64LE(16), 4n);
  t.match(byId.get('bad-shape'), { code: 'FERRY_ERR_INPUT_SHAPE', status: 400 });
  // Neither unreadable message has an id to echo.
  const anonymous = got.filter((m) => m.id === undefined).map((m) => m.error).sort();
  t.equal(anonymous.length, 2);
  t.match(anonymous[0], /4-byte header length/);
  t.match(anonymous[1], /not valid JSON/);
  t.ok(got.every((m) => m.id === 'bin' || m.id === 'r3' || m.code === 'FERRY_ERR_MESSAGE_INVALID' || m.code === 'FERRY_ERR_INPUT_SHAPE'));
  t.same(byId.get('r3').outputs[1].data, [4], 'the socket stayed open and kept serving');

  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send('x'.repeat(5000));
  t.equal(await closed, 1009, 'a message over the size limit closes the socket with 1009 (message too big)');
});

t.test('an unknown model refuses the upgrade with 404', async (t) => {
  const server = await startFerry(t, [{ name: 'mixed', model: modelPath('mixed-inputs.onnx') }]);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/nope/stream`);
  ws.on('error', () => {}); // the refused handshake also surfaces as an error event
  const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  t.equal(status, 404);
  ws.terminate();
});
