import t from 'tap';
import { modelPath } from '../models/index.js';
import { startFerry } from './helpers/ferry.js';

/*
 * Every answer carries a request id: the client's own X-Request-Id when it
 * is usable, else one Ferry made, so a request can be followed from a proxy's
 * log through Ferry's.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test("a request's id: the client's kept, one made when it sent none or an unusable one; on errors and health too", async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: new Array(784).fill(0.5) }] });
  const post = (headers: Record<string, string>, payload = body) =>
    fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
  const kept = await post({ 'x-request-id': 'edge-7f3a/42' });
  t.equal(kept.status, 200);
  t.equal(kept.headers.get('x-request-id'), 'edge-7f3a/42', "the client's id comes back");
  const made = await post({});
  t.match(made.headers.get('x-request-id'), UUID, 'none sent: a UUID');
  const other = await post({});
  t.not(other.headers.get('x-request-id'), made.headers.get('x-request-id'), 'a new one each time');
  const long = await post({ 'x-request-id': 'x'.repeat(129) });
  t.match(long.headers.get('x-request-id'), UUID, 'over 128 characters: replaced');
  const spaced = await post({ 'x-request-id': 'two words' });
  t.match(spaced.headers.get('x-request-id'), UUID, 'not visible ASCII: replaced');
  const bad = await post({ 'x-request-id': 'bad-body-1' }, '{"inputs": [');
  t.equal(bad.status, 400);
  t.equal(bad.headers.get('x-request-id'), 'bad-body-1', 'an error answer carries it');
  const missing = await fetch(`${server.url}/v2/models/nope/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'nf-1' }, body });
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('x-request-id'), 'nf-1', 'so does a 404');
  const live = await fetch(`${server.url}/v2/health/live`);
  t.match(live.headers.get('x-request-id'), UUID, 'and a health answer');
});
