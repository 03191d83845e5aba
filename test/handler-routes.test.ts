import { fileURLToPath } from 'node:url';
import t from 'tap';
import { deflateSync, gzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { startFerry } from './helpers/ferry.js';

const handler = `${fileURLToPath(new URL('./fixtures/handlers/compute-parts.ts', import.meta.url))}#Half`;

for (const replicaHost of ['thread', 'process'] as const) {
  t.test(`${replicaHost} host: own routes take JSON or bytes and answer JSON or bytes, over HTTP and WebSocket`, async (t) => {
    const server = await startFerry(t, [
      {
        name: 'parts',
        handler,
        replicaHost,
        routePrefix: '/parts',
        routes: [
          { path: '/echo/:id', call: 'echo' },
          { method: 'PUT', path: '/raw', call: 'echo', body: 'bytes' },
          { path: '/bytes', call: 'bytes', response: 'bytes', contentType: 'image/x-test' },
          { path: '/full', call: 'passOn' },
          { path: '/relay', call: 'relay' },
        ],
        websockets: [
          { path: '/ws', call: 'echo' },
          { path: '/ws-bytes', call: 'bytes', messages: 'bytes' },
        ],
      },
    ], { bodyLimitBytes: 1024 * 1024 });
    const base = `${server.url}/parts`;
    const echo = await fetch(`${base}/echo/7?q=x&q=y`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 1 }) });
    t.equal(echo.status, 200);
    t.match(echo.headers.get('content-type'), /^application\/json/);
    t.same(await echo.json(), { body: { n: 1 }, params: { id: '7' }, query: { q: 'x' }, session: null }, 'body, path parameters and the first value of each query parameter; no session');
    const withSession = await fetch(`${base}/echo/7`, { method: 'POST', headers: { 'content-type': 'application/json', 'ferry-session-id': 'user-42' }, body: '{}' });
    t.same((await withSession.json()).session, { id: 'user-42', isNew: false, movedFrom: null }, "ferry-session-id reaches the method (placement facts come with session-affinity routing)");
    const long = await fetch(`${base}/echo/7`, { method: 'POST', headers: { 'content-type': 'application/json', 'ferry-session-id': 'k'.repeat(300) }, body: '{}' });
    t.equal(long.status, 400, 'a session key past 256 characters is a 400');
    t.match(await long.json(), { code: 'FERRY_ERR_BAD_REQUEST', error: /ferry-session-id must be 1 to 256 characters \(got 300\)/ });
    const empty = await fetch(`${base}/echo/1`, { method: 'POST' });
    t.same((await empty.json()).body, undefined, 'no body: undefined');

    const zipped = await fetch(`${base}/echo/2`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify({ z: 1 })) });
    t.same((await zipped.json()).body, { z: 1 }, 'a gzip body is decoded');
    const deflated = await fetch(`${base}/echo/2`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'deflate' }, body: deflateSync(JSON.stringify({ d: 1 })) });
    t.same((await deflated.json()).body, { d: 1 }, 'and a deflate one');
    const brotli = await fetch(`${base}/echo/2`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: '{}' });
    t.equal(brotli.status, 415, 'an encoding Ferry does not decode is a 415');
    t.equal((await brotli.json()).code, 'FERRY_ERR_CONTENT_ENCODING');
    const corrupt = await fetch(`${base}/echo/2`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'not gzip' });
    t.match(await corrupt.json(), { code: 'FERRY_ERR_BODY_INVALID', error: /gzip body does not decode/ });
    const bomb = await fetch(`${base}/raw`, { method: 'PUT', headers: { 'content-encoding': 'gzip' }, body: gzipSync(Buffer.alloc(4 * 1024 * 1024)) });
    t.equal(bomb.status, 413, 'a body that decodes beyond the limit is a 413');

    const raw = await fetch(`${base}/raw`, { method: 'PUT', headers: { 'content-type': 'application/x-anything' }, body: new Uint8Array([1, 2, 3]) });
    t.same((await raw.json()).body, { 0: 1, 1: 2, 2: 3 }, 'a bytes body reaches the method as a Uint8Array of exactly its bytes');

    const bytes = await fetch(`${base}/bytes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify('view') });
    t.equal(bytes.headers.get('content-type'), 'image/x-test', "the route's Content-Type");
    t.same([...new Uint8Array(await bytes.arrayBuffer())], [2, 3], 'and the bytes the method returned');

    const relayed = await fetch(`${base}/relay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: 'parts', method: 'echo', body: [1, 'two'] }) });
    t.same(await relayed.json(), { body: [1, 'two'], params: {}, query: {}, session: null }, "a replica's handle calls a method of a deployment (here its own) and gets its JSON answer");
    const relay = (method: string) =>
      fetch(`${base}/relay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: 'parts', method }) }).then((r) => r.json());
    t.match(await relay('nope'), { code: 'FERRY_ERR_NOT_SERVED', error: /^handler \w+ has no method 'nope'$/ }, "calling a method the class lacks is the caller's 404, passed through once, not wrapped again");
    for (const inherited of ['constructor', 'toString', '__proto__']) t.match(await relay(inherited), { code: 'FERRY_ERR_NOT_SERVED', error: /has no method/ }, `'${inherited}' is not a method to call`);
    const lost = await fetch(`${base}/relay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ target: 'nowhere', method: 'echo' }) });
    t.equal(lost.status, 404, "a handle call's 404 passes through the method that made it");

    const full = await fetch(`${base}/full`, { method: 'POST' });
    t.equal(full.status, 503, "a handle call's 503 the method let through stays a 503");
    t.equal(full.headers.get('retry-after'), '1');
    t.match(await full.json(), { code: 'FERRY_ERR_QUEUE_FULL', error: 'downstream is full' });
    const wrong = await fetch(`${base}/bytes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"number"' });
    t.match(await wrong.json(), { code: 'FERRY_ERR_HANDLER_FAILED', error: /must return a Uint8Array/ });

    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const got = new Promise<any[]>((resolve) => {
      const all: any[] = [];
      ws.on('message', (d: Buffer) => all.push(JSON.parse(d.toString())) === 2 && resolve(all));
    });
    ws.send(JSON.stringify({ hello: 1 }));
    ws.send(Buffer.from([1, 2]), { binary: true });
    const answers = await got;
    t.match(answers.find((a) => 'body' in a), { body: { hello: 1 }, params: {}, query: {}, session: { id: /^ws-[0-9a-f-]{36}$/, isNew: false, movedFrom: null } }, 'a WebSocket connection is a session of its own');
    t.match(answers.find((a) => 'error' in a), { code: 'FERRY_ERR_MESSAGE_INVALID', error: /takes JSON text messages/ });
    ws.close();

    const wsBytes = new WebSocket(`${base.replace('http', 'ws')}/ws-bytes`);
    await new Promise((resolve, reject) => wsBytes.once('open', resolve).once('error', reject));
    const frame = new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => wsBytes.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
    wsBytes.send(Buffer.from('text'), { binary: true });
    const answer = await frame;
    t.ok(answer.isBinary, 'a bytes WebSocket answers with a binary frame');
    t.equal(answer.data.toString(), 'text', 'carrying what the method returned');
    const failed = new Promise<Buffer>((resolve) => wsBytes.once('message', (data: Buffer) => resolve(data)));
    wsBytes.send(Buffer.from('other'), { binary: true });
    t.match(JSON.parse((await failed).toString()), { code: 'FERRY_ERR_HANDLER_FAILED', status: 500 }, 'an error is a JSON message and the socket stays open');
    wsBytes.close();
  });
}
