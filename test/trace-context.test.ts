import { fileURLToPath } from 'node:url';
import t from 'tap';
import { childTraceparent, parseTraceparent, traceparentOf } from '../replicas/index.js';
import { startFerry } from './helpers/ferry.js';

/*
 * W3C Trace Context: a client's traceparent is continued, each hop with a
 * span of its own, through handles from one deployment to the next.
 */

const fixture = fileURLToPath(new URL('./fixtures/handlers/traced.ts', import.meta.url));
const CLIENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

t.test('parsing: what the spec says to ignore is ignored; a child keeps the trace and flags with a new span', async (t) => {
  t.same(parseTraceparent(CLIENT), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' });
  for (const bad of [undefined, '', 'garbage', CLIENT.toUpperCase(), `01${CLIENT.slice(2)}`, '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', `${CLIENT}-extra`]) {
    t.equal(parseTraceparent(bad), null, `ignored: ${String(bad)}`);
  }
  const child = parseTraceparent(childTraceparent(CLIENT))!;
  t.equal(child.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.equal(child.flags, '01');
  t.not(child.parentId, '00f067aa0ba902b7');
  const fresh = parseTraceparent(traceparentOf(null))!;
  t.match(fresh, { traceId: /^[0-9a-f]{32}$/, parentId: /^[0-9a-f]{16}$/, flags: '00' }, 'a new trace, not sampled');
});

for (const replicaHost of ['thread', 'process'] as const) {
  t.test(`${replicaHost} host: a request's traceparent reaches a deployment, and its handle call's reaches the next, one trace throughout`, async (t) => {
    const server = await startFerry(t, [
      { name: 'front', handler: `${fixture}#Front`, replicaHost },
      { name: 'back', handler: `${fixture}#Back`, replicaHost },
    ]);
    const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] });
    const ask = async (headers: Record<string, string>) => {
      const res = await fetch(`${server.url}/v2/models/front/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      t.equal(res.status, 200);
      return ((await res.json()) as { outputs: { data: string[] }[] }).outputs[0].data.map((v) => parseTraceparent(v)!);
    };
    const [front, back] = await ask({ traceparent: CLIENT });
    t.equal(front.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', "the front deployment sees the client's trace");
    t.equal(back.traceId, front.traceId, 'the next deployment too');
    t.equal(back.flags, '01', 'sampled, as the client said');
    t.not(front.parentId, '00f067aa0ba902b7', "the gateway's span is its own");
    t.not(back.parentId, front.parentId, "the handle call's span is its own");
    const [newFront, newBack] = await ask({});
    t.ok(newFront && newBack, 'without one, a trace is made');
    t.equal(newBack.traceId, newFront.traceId);
    t.not(newFront.traceId, front.traceId);
    const [badFront] = await ask({ traceparent: 'not-a-trace' });
    t.not(badFront.traceId, front.traceId, 'an unusable one starts a new trace');
  });
}
