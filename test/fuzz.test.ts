import t from 'tap';
import { seededRandom } from '../models/seeded-random.js';
import { postJson, randomRow, startFerry } from './helpers/ferry.js';
import { modelPath } from '../models/index.js';

const rand = seededRandom(424242);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

const row = randomRow(1, 784);
const valid = () => ({ id: 'f', inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: row.slice() }] });

type Fuzzed = { body: Buffer | string; type: string; headerLength?: string };
const asJson = (v: unknown): Fuzzed => ({ body: JSON.stringify(v), type: 'application/json' });

/** Each generator makes a request that is certainly invalid, in one way. */
const generators: Record<string, () => Fuzzed> = {
  truncatedJson: () => {
    const s = JSON.stringify(valid());
    return { body: s.slice(0, int(0, s.length - 1)), type: 'application/json' };
  },
  garbageJson: () => ({ body: pick(['{', '[]', 'null', '"x"', '{"inputs":}', 'NaN', '{"inputs":[{]}', '\u0000\u0001']), type: 'application/json' }),
  wrongShape: () => {
    const v = valid();
    v.inputs[0].shape = pick([[1, 783], [784], [1, 784, 1], [2, 784], [1, 1, 784], [0, 784], [1, int(785, 5000)]]);
    return asJson(v);
  },
  negativeDim: () => {
    const v = valid();
    v.inputs[0].shape = [int(-1e6, -1), 784];
    return asJson(v);
  },
  hugeDims: () => {
    const v = valid();
    v.inputs[0].shape = pick([[1e9, 784], [2 ** 40, 784], [int(30000, 1e6), 784], [1e300, 784]]);
    return asJson(v);
  },
  wrongDatatype: () => {
    const v = valid();
    v.inputs[0].datatype = pick(['FP64', 'INT64', 'BYTES', 'fp32', 'FLOAT', '', 'BOOL', 'FP16', 'x'.repeat(int(1, 50))]);
    return asJson(v);
  },
  nanStrings: () => {
    const v = valid() as { inputs: { data: unknown[] }[] };
    v.inputs[0].data[int(0, 783)] = pick(['NaN', 'Infinity', '1.5', null, {}, [], true]);
    return asJson(v);
  },
  wrongFieldTypes: () =>
    asJson(pick<unknown>([{ inputs: {} }, { inputs: [{}] }, { inputs: [{ ...valid().inputs[0], name: 5 }] }, { ...valid(), id: 7 }, { inputs: [null] }, { ...valid(), outputs: 'logits' }, { ...valid(), outputs: [{ name: 'nope' }] }])),
  wrongName: () => {
    const v = valid();
    v.inputs[0].name = pick(['', 'Input', 'logits', 'x'.repeat(int(1, 100))]);
    return asJson(v);
  },
  dataLength: () => {
    const v = valid();
    v.inputs[0].data = row.slice(0, int(0, 783));
    if (rand() < 0.5) v.inputs[0].data = [...row, ...row.slice(0, int(1, 100))];
    return asJson(v);
  },
  deepNesting: () => {
    let data: unknown = row;
    for (let i = 0; i < int(40, 200); i++) data = [data];
    return asJson({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data }] });
  },
  truncatedBinary: () => {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] }));
    const body = Buffer.concat([header, Buffer.alloc(int(0, 3135))]);
    return { body, type: 'application/octet-stream', headerLength: String(header.length) };
  },
  wrongHeaderLength: () => {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] }));
    const body = Buffer.concat([header, Buffer.alloc(3136)]);
    const wrong = pick([String(int(0, header.length - 1)), String(body.length + int(1, 100)), '-5', 'abc', '1.5', String(header.length + int(1, 40))]);
    return { body, type: 'application/octet-stream', headerLength: wrong };
  },
  badBinarySize: () => {
    const size = pick([-1, 1.5, 3135, 3137, 'x']);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', parameters: { binary_data_size: size } }] }));
    return { body: Buffer.concat([header, Buffer.alloc(3136)]), type: 'application/octet-stream', headerLength: String(header.length) };
  },
  randomBytes: () => ({ body: Buffer.from(Array.from({ length: int(1, 300) }, () => int(0, 255))), type: pick(['application/json', 'application/octet-stream']) }),
  // Any well-formed media type is read (Triton frames bodies by Inference-Header-Content-Length alone); a malformed one is a 415.
  malformedContentType: () => ({ body: JSON.stringify(valid()), type: pick(['text', 'nonsense', '/json', 'application/', 'json;', 'a b/c']) }),
};

t.test('2,000 malformed requests each get a 4xx with an error body; the server keeps serving', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const url = `${server.url}/v2/models/mlp/infer`;
  const names = Object.keys(generators);
  const failures: string[] = [];
  const seen = new Map<string, number>();
  const total = 2000;
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const kind = names[i % names.length];
      const req = generators[kind]();
      const headers: Record<string, string> = { 'content-type': req.type };
      if (req.headerLength !== undefined) headers['inference-header-content-length'] = req.headerLength;
      const payload = typeof req.body === 'string' ? req.body : new Uint8Array(req.body);
      const res = await fetch(url, { method: 'POST', headers, body: payload });
      const text = await res.text();
      let body: { error?: unknown; code?: unknown } = {};
      try {
        body = JSON.parse(text);
      } catch {
        // checked below
      }
      const ok = res.status >= 400 && res.status < 500 && typeof body.error === 'string' && typeof body.code === 'string' && body.code.startsWith('FERRY_ERR_');
      if (!ok) failures.push(`${kind} #${i}: ${res.status} ${text.slice(0, 160)}`);
      seen.set(`${res.status} ${body.code}`, (seen.get(`${res.status} ${body.code}`) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  t.same(failures.slice(0, 10), [], `every malformed request answered 4xx with a FERRY_ERR code (${failures.length} did not)`);
  t.comment([...seen].map(([k, n]) => `${k}: ${n}`).join(', '));
  t.equal(server.stats()[0].replicas[0].rows, 0, 'no malformed request reached the replica');
  const after = await postJson(url, valid());
  t.equal(after.status, 200, 'a valid request is served afterwards');
  t.same(after.body.outputs[0].shape, [1, 10]);
});
