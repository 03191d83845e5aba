import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { DeploymentConfig } from '../index.js';
import { ferry, urlOf } from './helpers/cli.js';
import { waitFor } from './helpers/ferry.js';
import { startGateway as gateway, startNode as node, TIMING_ENV } from './helpers/cluster.js';
import { startRedis } from './helpers/redis.js';

/*
 * Asynchronous jobs in a cluster: kept in a real redis-server through
 * BullMQ, run by whichever gateway is alive, surviving a gateway's death
 * and Redis's restart with its append-only file.
 */

const slow = (ms: number): DeploymentConfig => ({ name: 'slow', handler: fileURLToPath(new URL('./fixtures/handlers/slow.ts', import.meta.url)), userConfig: { ms }, maxOngoingRequests: 8 });
const body = JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] });



async function submit(url: string): Promise<{ status: number; location: string | null; body: any }> {
  const res = await fetch(`${url}/v2/models/slow/infer`, { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'respond-async' }, body });
  return { status: res.status, location: res.headers.get('location'), body: await res.json() };
}

const stateOf = async (url: string, location: string): Promise<any> => (await fetch(`${url}${location}`)).json();

async function allDone(url: string, locations: string[], ms: number): Promise<any[]> {
  let views: any[] = [];
  await waitFor(() => views.length === locations.length && views.every((v) => v.state === 'succeeded'), ms, async () => {
    views = await Promise.all(locations.map((l) => stateOf(url, l)));
  });
  return views;
}

t.test('a job in a cluster: kept in Redis, run by a gateway, its result readable from any gateway; cancel and TTL', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a');
  const one = await gateway(t, redis, [slow(300)]);
  const two = await gateway(t, redis, [slow(300)]);
  const accepted = await Promise.all([submit(one.url), submit(one.url), submit(one.url)]);
  t.ok(accepted.every((a) => a.status === 202), 'accepted');
  const views = await allDone(two.url, accepted.map((a) => a.location!), 45_000);
  t.ok(views.every((v) => v.state === 'succeeded' && v.result.outputs[0].name === 'started'), 'done, read from the other gateway');
  const short = await gateway(t, redis, [slow(50)], { asyncInference: { resultTtlMs: 1000 } });
  const brief = await submit(short.url);
  await allDone(short.url, [brief.location!], 10_000);
  let gone = false;
  t.ok(await waitFor(() => gone, 10_000, async () => void (gone = (await fetch(`${short.url}${brief.location}`)).status === 404)), 'a result past its TTL is gone');
  const late = await submit(one.url);
  const cancel = await fetch(`${two.url}${late.location}`, { method: 'DELETE' });
  t.ok([200, 409].includes(cancel.status), 'a job cancelled or, when a worker had it already, refused');
  const metrics = await (await fetch(`${one.url}/metrics`)).text();
  t.match(metrics, /ferry_async_jobs\{state="queued"\} \d+/);
});

t.test('a gateway killed with its jobs running: another gateway runs them once their lock lapses; none lost', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a');
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-jobs-')), 'ferry.config.json');
  writeFileSync(file, JSON.stringify({ http: { port: 0 }, deployments: [slow(2000)] }));
  const first = ferry(['serve', file, '--redis', redis.url], TIMING_ENV);
  t.teardown(() => void (first.child.exitCode === null && first.child.kill('SIGKILL')));
  const url = await urlOf(first);
  const accepted = await Promise.all(Array.from({ length: 4 }, () => submit(url)));
  t.ok(accepted.every((a) => a.status === 202), 'accepted by the first gateway');
  let running = 0;
  await waitFor(() => running > 0, 5000, async () => {
    running = (await Promise.all(accepted.map((a) => stateOf(url, a.location!)))).filter((v) => v.state === 'running').length;
  });
  t.ok(running > 0, 'its worker took them');
  first.child.kill('SIGKILL');
  const second = await gateway(t, redis, [slow(200)]);
  const views = await allDone(second.url, accepted.map((a) => a.location!), 40_000);
  t.equal(views.filter((v) => v.state === 'succeeded').length, 4, `all four done by the second gateway (${views.map((v) => v.state)})`);
});

t.test('a gateway stopped gracefully finishes its running jobs within the grace; one cut off by the grace is run by another, not failed', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a');
  const waitRunning = async (url: string, location: string) => {
    let view: any = null;
    await waitFor(() => view?.state === 'running', 5000, async () => void (view = await stateOf(url, location)));
    return view;
  };
  const patient = await gateway(t, redis, [slow(800)], { asyncInference: { concurrency: 1 } });
  const first = await submit(patient.url);
  t.equal((await waitRunning(patient.url, first.location!)).state, 'running');
  const reader = await gateway(t, redis, [slow(800)], { asyncInference: { concurrency: 1 } });
  await patient.close(5000);
  t.match(await stateOf(reader.url, first.location!), { state: 'succeeded' }, 'done before the gateway closed');
  const hasty = await gateway(t, redis, [slow(3000)], { asyncInference: { concurrency: 1 } });
  // The reader takes no job meanwhile: it runs one of its own, long enough.
  const second = await submit(hasty.url);
  await waitRunning(hasty.url, second.location!);
  await hasty.close(200);
  const cut = await stateOf(reader.url, second.location!);
  t.not(cut.state, 'failed', `the job cut off is not failed (${cut.state})`);
  const [done] = await allDone(reader.url, [second.location!], 30_000);
  t.equal(done.state, 'succeeded', 'another gateway ran it');
});

t.test('/metrics answers within about a second while Redis hangs, the job counts left out, and has them again once it answers', async (t) => {
  const redis = await startRedis(t);
  if (!redis) return;
  await node(t, redis, 'a');
  const server = await gateway(t, redis, [slow(50)]);
  t.match(await (await fetch(`${server.url}/metrics`)).text(), /ferry_async_jobs\{state="queued"\} 0/);
  redis.pause();
  t.teardown(() => redis.resume());
  const started = performance.now();
  const res = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const ms = performance.now() - started;
  t.equal(res.status, 200);
  t.ok(ms < 3000, `answered in ${ms.toFixed(0)} ms`);
  t.notMatch(await res.text(), /ferry_async_jobs\{/, 'the counts it could not read are left out, not made up');
  redis.resume();
  let text = '';
  t.ok(await waitFor(() => /ferry_async_jobs\{state="queued"\} 0/.test(text), 10_000, async () => void (text = await (await fetch(`${server.url}/metrics`)).text())), 'back once Redis answers');
});

t.test('Redis restarted with its append-only file: accepted jobs complete; while it is down new jobs are refused 503 at once', async (t) => {
  const redis = await startRedis(t, { aof: true });
  if (!redis) return;
  await node(t, redis, 'a');
  const server = await gateway(t, redis, [slow(1500)]);
  const accepted = await Promise.all(Array.from({ length: 6 }, () => submit(server.url)));
  t.ok(accepted.every((a) => a.status === 202));
  await redis.stop();
  const started = performance.now();
  const refused = await submit(server.url);
  t.equal(refused.status, 503, 'refused while Redis is down');
  t.ok(performance.now() - started < 2000, 'at once');
  t.equal(refused.body.code, 'FERRY_ERR_BACKEND_UNAVAILABLE');
  t.match(refused.body.error, /Redis at redis:\/\/127\.0\.0\.1:\d+: (not connected|ECONNREFUSED)/, 'names Redis and the problem');
  t.notMatch(refused.body.error, /enableOfflineQueue|writeable/, "in Ferry's words, not the client library's");
  const read = await fetch(`${server.url}${accepted[0].location}`);
  t.match({ status: read.status, body: await read.json() }, { status: 503, body: { code: 'FERRY_ERR_BACKEND_UNAVAILABLE' } }, 'reading a job while Redis is down is 503 too');
  await redis.start();
  const views = await allDone(server.url, accepted.map((a) => a.location!), 60_000);
  t.equal(views.filter((v) => v.state === 'succeeded').length, 6, `every accepted job done (${views.map((v) => v.state)})`);
});
