import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import fastify, { type FastifyError, type FastifyRequest } from 'fastify';
import t from 'tap';
import { ContentEncodingError } from '../errors.js';
import { binaryPartOf, giveBodyBuffer, isRawBinaryBody, takeBodyBuffer } from '../gateway/body-framing.js';
import { contentEncodingOf, registerRequestBodies } from '../gateway/request-body.js';

// Large enough that bodies of 16 KiB and more come from the shared BufferPool.
const LIMIT = 64 * 1024;
const SMALL = 16;
const TOO_LARGE = { code: 'FERRY_ERR_BODY_TOO_LARGE', message: `request body is larger than ${LIMIT} bytes` };
const jsonOf = (bytes: number, fill = 'a') => Buffer.from(JSON.stringify(fill.repeat(bytes - 2)));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The sizes of the chunks the parser saw, for requests marked x-record: proof that a split write arrived split.
const chunkSizes = new WeakMap<FastifyRequest, number[]>();

// The parser reads req.routeOptions.bodyLimit: the route's own, else the server's.
// Fastify warns when a parser calls done twice (a reply sent twice): the last test checks there were none.
const warnings: string[] = [];
const app = fastify({ bodyLimit: LIMIT, logger: { level: 'warn', stream: { write: (line: string) => warnings.push(line) } } });
registerRequestBodies(app);
app.addHook('preParsing', async (req, _reply, payload) => {
  if (req.headers['x-record'] === undefined) return payload;
  const sizes: number[] = [];
  chunkSizes.set(req, sizes);
  return payload.pipe(new Transform({ transform: (chunk: Buffer, _enc, cb) => (sizes.push(chunk.length), cb(null, chunk)) }));
});
app.setErrorHandler((err: FastifyError, _req, reply) => reply.code(err.statusCode ?? 500).send({ code: err.code ?? null, message: err.message }));
const echo = async (req: FastifyRequest) => ({
  body: req.body === undefined ? '(none)' : req.body,
  binary: binaryPartOf(req.body)?.toString('hex') ?? null,
  raw: isRawBinaryBody(req.body),
  chunks: chunkSizes.get(req) ?? null,
});
app.post('/echo', echo);
app.post('/small', { bodyLimit: SMALL }, echo);
t.teardown(() => app.close());

type Payload = string | Buffer | Readable;
async function post(headers: Record<string, string>, payload?: Payload, extra: { url?: string; simulate?: { split?: boolean; error?: boolean } } = {}) {
  const simulate = extra.simulate && { end: true, split: false, error: false, close: false, ...extra.simulate };
  const res = await app.inject({ method: 'POST', url: extra.url ?? '/echo', headers, payload, simulate });
  return { status: res.statusCode, json: res.json() };
}
const json = { 'content-type': 'application/json' };
// A stream payload carries no Content-Length: the body arrives as if chunked.
const streamOf = (bytes: Buffer) => Readable.from([bytes]);

t.test('contentEncodingOf reads identity, gzip and deflate, and refuses the rest with a 415', async (t) => {
  const cases: [string | undefined, string][] = [
    [undefined, 'identity'], ['', 'identity'], ['identity', 'identity'], [' IDENTITY , ', 'identity'],
    ['gzip', 'gzip'], ['GZIP', 'gzip'], ['x-gzip', 'gzip'], ['X-Gzip', 'gzip'], ['gzip, identity', 'gzip'],
    ['identity,x-gzip', 'gzip'], ['deflate', 'deflate'], [' Deflate ', 'deflate'], ['identity, deflate', 'deflate'],
  ];
  for (const [raw, want] of cases) t.equal(contentEncodingOf(raw), want, JSON.stringify(raw));
  const refused: [string, string][] = [
    ['br', '"br": Ferry decodes request bodies in gzip, deflate or identity'],
    ['compress', '"compress": Ferry decodes request bodies in gzip, deflate or identity'],
    ['gzip, deflate', '"gzip, deflate" (stacked encodings): Ferry decodes request bodies in one of gzip, deflate or identity'],
    ['x-gzip, gzip', '"x-gzip, gzip" (stacked encodings): Ferry decodes request bodies in one of gzip, deflate or identity'],
    ['br, gzip', '"br, gzip" (stacked encodings): Ferry decodes request bodies in one of gzip, deflate or identity'],
  ];
  for (const [raw, message] of refused) {
    t.throws(() => contentEncodingOf(raw), { code: 'FERRY_ERR_CONTENT_ENCODING', statusCode: 415, message: `unsupported Content-Encoding ${message}` }, raw);
  }
  t.throws(() => contentEncodingOf('br'), ContentEncodingError);
  const res = await post({ ...json, 'content-encoding': 'br' }, '{}');
  t.same(res, { status: 415, json: { code: 'FERRY_ERR_CONTENT_ENCODING', message: 'unsupported Content-Encoding "br": Ferry decodes request bodies in gzip, deflate or identity' } });
});

t.test('every content type, and none, goes through the same JSON framing', async (t) => {
  for (const type of ['application/json', 'application/json; charset=utf-8', 'application/octet-stream', 'application/x-www-form-urlencoded', 'text/plain', undefined]) {
    const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
    const ok = await post(headers, '{"a":[1,2]}');
    t.same(ok, { status: 200, json: { body: { a: [1, 2] }, binary: null, raw: false, chunks: null } }, `${type}: parsed as JSON`);
    const bad = await post(headers, 'a=1');
    t.equal(bad.status, 400, `${type}: a form body is not JSON`);
    t.equal(bad.json.code, 'FERRY_ERR_BODY_INVALID');
    t.match(bad.json.message, /^the body is not valid JSON: /);
  }
  t.same((await post(json, '')).json.body, '(none)', 'an empty body parses to nothing');
});

t.test('gzip, zlib-wrapped deflate and raw deflate bodies are decoded', async (t) => {
  const body = Buffer.from('{"inputs":[{"name":"x","data":[1,2,3]}]}');
  const value = JSON.parse(body.toString());
  // Raw deflate whose first two bytes pass one half of the zlib header test but not the other.
  const storedNibble8 = Buffer.concat([Buffer.from([0x08, 5, 0, 0xfa, 0xff]), Buffer.from('[1,2]'), Buffer.from([1, 0, 0, 0xff, 0xff])]);
  const word = Buffer.from('"xxxxxxxxxxxxxxxxxxxxx"');
  const storedMod31 = Buffer.concat([Buffer.from([0x01, word.length, 0, ~word.length & 0xff, 0xff]), word]);
  const cases: [string, string, Buffer, unknown][] = [
    ['gzip', 'gzip', gzipSync(body), value],
    ['x-gzip', 'x-gzip', gzipSync(body), value],
    ['zlib deflate', 'deflate', deflateSync(body), value],
    ['raw deflate', 'deflate', deflateRawSync(body), value],
    ['raw deflate, method nibble 8', 'deflate', storedNibble8, [1, 2]],
    ['raw deflate, header % 31 == 0', 'deflate', storedMod31, 'x'.repeat(21)],
  ];
  for (const [what, encoding, bytes, want] of cases) {
    t.same(await post({ ...json, 'content-encoding': encoding }, bytes), { status: 200, json: { body: want, binary: null, raw: false, chunks: null } }, what);
  }
  // inject's split sends the first byte alone, so the head waits for the next chunk.
  const split = await post({ ...json, 'content-encoding': 'deflate' }, deflateSync(body), { simulate: { split: true } });
  t.same(split.json.body, value, 'a deflate body whose first chunk is one byte');
});

t.test('empty, truncated and corrupt compressed bodies', async (t) => {
  for (const encoding of ['gzip', 'deflate']) {
    t.same(await post({ ...json, 'content-encoding': encoding, 'content-length': '0' }), { status: 200, json: { body: '(none)', binary: null, raw: false, chunks: null } }, `empty ${encoding}`);
    // The first byte of a real stream: decoding starts at the end, from a head of one byte.
    const short = await post({ ...json, 'content-encoding': encoding }, Buffer.from([encoding === 'gzip' ? 0x1f : 0x78]));
    t.same(short, { status: 400, json: { code: 'FERRY_ERR_BODY_INVALID', message: `the ${encoding} body cannot be decoded: unexpected end of file` } }, `one-byte ${encoding}`);
    const corrupt = await post({ ...json, 'content-encoding': encoding }, 'this is not compressed');
    t.equal(corrupt.status, 400);
    t.equal(corrupt.json.code, 'FERRY_ERR_BODY_INVALID');
    t.match(corrupt.json.message, new RegExp(`^the ${encoding} body cannot be decoded: \\w`), `corrupt ${encoding}`);
  }
  const cut = gzipSync('{"a":1}');
  const truncated = await post({ ...json, 'content-encoding': 'gzip' }, cut.subarray(0, cut.length - 4));
  t.same(truncated.json, { code: 'FERRY_ERR_BODY_INVALID', message: 'the gzip body cannot be decoded: unexpected end of file' });
});

t.test('the limit holds for the declared, received and decoded sizes', async (t) => {
  const exact = jsonOf(LIMIT);
  t.equal((await post(json, exact)).json.body.length, LIMIT - 2, 'a body of exactly the limit');
  // Declared too large: refused at once, so the short payload never counts as "shorter than its Content-Length".
  t.same(await post({ ...json, 'content-length': String(LIMIT + 1) }, '{}'), { status: 413, json: TOO_LARGE });
  t.equal((await post(json, streamOf(exact))).json.body.length, LIMIT - 2, 'received exactly the limit, no Content-Length');
  t.same(await post(json, streamOf(jsonOf(LIMIT + 1))), { status: 413, json: TOO_LARGE }, 'received past the limit');
  // Stored (level 0) gzip is larger than what it decodes to: only the received bytes pass the limit.
  const stored = gzipSync(jsonOf(LIMIT - 10), { level: 0 });
  t.ok(stored.length > LIMIT);
  t.same(await post({ ...json, 'content-encoding': 'gzip' }, streamOf(stored)), { status: 413, json: TOO_LARGE }, 'compressed bytes past the limit');
  t.equal((await post({ ...json, 'content-encoding': 'gzip' }, gzipSync(exact))).json.body.length, LIMIT - 2, 'decodes to exactly the limit');
  t.same(await post({ ...json, 'content-encoding': 'gzip' }, gzipSync(jsonOf(LIMIT + 1))), { status: 413, json: TOO_LARGE }, 'decodes one byte past');
  const bomb = gzipSync(jsonOf(64 * LIMIT));
  t.ok(bomb.length < LIMIT / 8);
  t.same(await post({ ...json, 'content-encoding': 'gzip' }, bomb), { status: 413, json: TOO_LARGE }, 'a zip bomb');
  t.same(await post({ ...json, 'content-encoding': 'deflate' }, deflateRawSync(jsonOf(64 * LIMIT))), { status: 413, json: TOO_LARGE }, 'a raw deflate bomb');
});

t.test("a route's own bodyLimit overrides the gateway's", async (t) => {
  t.same((await post(json, jsonOf(SMALL), { url: '/small' })).json.body, 'a'.repeat(SMALL - 2));
  const tooBig = { status: 413, json: { code: 'FERRY_ERR_BODY_TOO_LARGE', message: `request body is larger than ${SMALL} bytes` } };
  t.same(await post(json, jsonOf(SMALL + 1), { url: '/small' }), tooBig);
  t.same(await post({ ...json, 'content-encoding': 'gzip' }, gzipSync(jsonOf(SMALL + 1)), { url: '/small' }), tooBig, 'decoded size too');
});

t.test('an identity body must match its Content-Length', async (t) => {
  const invalid = (message: string) => ({ status: 400, json: { code: 'FERRY_ERR_BODY_INVALID', message } });
  t.same(await post({ ...json, 'content-length': '5' }, '[1,2]'), { status: 200, json: { body: [1, 2], binary: null, raw: false, chunks: null } });
  t.same(await post({ ...json, 'content-length': '6' }, '[1,2]'), invalid('the body is shorter than its Content-Length'));
  t.same(await post({ ...json, 'content-length': '4' }, '[1,2]'), invalid('the body is longer than its Content-Length'));
  // Only inject can send this (Node's parser refuses it); it is no size to read into.
  t.same((await post({ ...json, 'content-length': '2.5' }, '[1]')).json.body, [1], 'a fractional Content-Length');
  // A compressed body's Content-Length counts compressed bytes, not the decoded ones.
  t.same((await post({ ...json, 'content-encoding': 'gzip' }, gzipSync(jsonOf(300)))).json.body.length, 298);
});

t.test('pooled body buffers go back to the pool, on success and on error', async (t) => {
  // The pool hands out the buffer given back last, old bytes and all; a fresh buffer would be zeros.
  const lastPooled = (bytes: number) => {
    const buffer = takeBodyBuffer(bytes);
    giveBodyBuffer(buffer);
    return buffer.toString('latin1');
  };
  const good = jsonOf(20000, 'g');
  t.equal((await post(json, good)).status, 200);
  t.equal(lastPooled(20000), good.toString('latin1'), 'a JSON body is given back once parsed');
  const [a, b] = [takeBodyBuffer(20000), takeBodyBuffer(20000)];
  t.not(a.buffer, b.buffer, 'and only once');
  giveBodyBuffer(a);
  giveBodyBuffer(b);
  const short = jsonOf(20000, 's').subarray(0, 19999);
  t.equal((await post({ ...json, 'content-length': '20000' }, short)).status, 400);
  t.equal(lastPooled(20000).slice(0, 19999), short.toString('latin1'), 'a short body is given back');
  const long = Buffer.concat([jsonOf(20000, 'l'), Buffer.from(' ')]);
  t.equal((await post({ ...json, 'content-length': '20000' }, long)).status, 400);
  t.notOk(lastPooled(20000).includes('l'), 'a long body is refused before a byte is copied');
  // A body read without a Content-Length is in a buffer of its own, which must not enter the pool.
  const chunked = jsonOf(32768, 'c');
  t.equal((await post(json, streamOf(chunked))).status, 200);
  t.not(lastPooled(32768), chunked.toString('latin1'), 'an unpooled body is not given to the pool');
});

t.test('Inference-Header-Content-Length frames a JSON header and binary tensors', async (t) => {
  const header = Buffer.from('{"inputs":[]}');
  const bytes = Buffer.concat([header, Buffer.from([1, 2, 3, 255])]);
  const framed = { status: 200, json: { body: { inputs: [] }, binary: '010203ff', raw: false, chunks: null } };
  const ihcl = { 'inference-header-content-length': String(header.length) };
  t.same(await post({ 'content-type': 'application/octet-stream', ...ihcl }, bytes), framed);
  t.same(await post(ihcl, bytes), framed, 'with no content type');
  t.same(await post({ ...ihcl, 'content-encoding': 'gzip' }, gzipSync(bytes)), framed, 'framed after decoding');
  t.same(await post({ 'inference-header-content-length': '0' }, Buffer.from([9, 8])), { status: 200, json: { body: {}, binary: '0908', raw: true, chunks: null } });
  const bad = await post({ 'inference-header-content-length': '7' }, Buffer.from([9, 8]));
  t.same(bad, { status: 400, json: { code: 'FERRY_ERR_BODY_INVALID', message: 'Inference-Header-Content-Length must be an integer from 0 to the body\'s 2 bytes (got "7")' } });
});

t.test('a body sent to an unknown route is dropped, and the answer is 404', async (t) => {
  for (const headers of [{ ...json, 'content-encoding': 'br' }, json, { ...json, 'content-length': String(LIMIT + 1) }]) {
    const res = await post(headers, 'not json', { url: '/nowhere' });
    t.equal(res.status, 404, JSON.stringify(headers));
    t.equal(res.json.message, 'Route POST:/nowhere not found');
  }
});

t.test('a stream error while reading is a 400 carrying its message', async (t) => {
  const res = await post(json, '{"a":1}', { simulate: { error: true } });
  t.same(res, { status: 400, json: { code: null, message: 'Simulated' } });
});

t.test('over a socket: split chunks and a Content-Length refused before its body', async (t) => {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  // Writes raw HTTP, pausing between pieces so each arrives as its own chunk.
  const raw = (headers: Record<string, string | number>, pieces: Buffer[]) =>
    new Promise<{ status: number; json: { [key: string]: unknown } }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      const got: Buffer[] = [];
      socket.on('data', (d) => got.push(d));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(got).toString();
        const split = text.indexOf('\r\n\r\n');
        resolve({ status: Number(text.split(' ')[1]), json: JSON.parse(text.slice(split + 4)) });
      });
      socket.on('connect', async () => {
        const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.write(`POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n${lines}\r\n`);
        for (const piece of pieces) {
          await sleep(30);
          socket.write(piece);
        }
      });
    });
  const value = { inputs: [{ name: 'x', data: Array.from({ length: 50 }, (_, i) => i) }] };
  const body = Buffer.from(JSON.stringify(value));
  const cut = (bytes: Buffer, ...at: number[]) => [0, ...at].map((from, i) => bytes.subarray(from, [...at, bytes.length][i]));
  const cases: [string, Buffer[]][] = [
    ['identity', cut(body, 3, 40)],
    ['gzip', cut(gzipSync(body), 1, 6, 20)],
    ['deflate', cut(deflateSync(body), 1, 2, 20)], // a head of exactly two bytes, from two chunks
    ['deflate', cut(deflateRawSync(body), 1, 2, 20)],
  ];
  for (const [encoding, pieces] of cases) {
    const sizes = pieces.map((p) => p.length);
    const length = sizes.reduce((a, b) => a + b);
    const res = await raw({ 'content-encoding': encoding, 'content-length': length, 'x-record': 1 }, pieces);
    t.same(res, { status: 200, json: { body: value, binary: null, raw: false, chunks: sizes } }, `${encoding} in chunks of ${sizes}`);
  }
  // No body follows the headers: a 413 answered anyway shows nothing was waited for.
  t.same(await raw({ 'content-length': LIMIT + 1 }, []), { status: 413, json: TOO_LARGE });
});

t.test('no request was answered twice', async (t) => {
  await sleep(50);
  t.same(warnings, []);
});
