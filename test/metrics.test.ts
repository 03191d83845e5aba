import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { postJson, randomRow, startFerry, waitFor } from './helpers/ferry.js';
import { freePort, requireCommand } from './helpers/system-tool.js';
import { modelPath } from '../models/index.js';

const body = { inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: randomRow(4, 784) }] };

/** The value of one sample line, e.g. `ferry_requests_total{deployment="mlp",code="200"}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = line.match(/^([a-z_]+)(\{(.*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

t.test('/metrics counts requests by code, and replica-side figures flow back from the threads', async (t) => {
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx'), routePrefix: '/mlp' }]);
  await Promise.all(Array.from({ length: 20 }, () => postJson(`${server.url}/v2/models/mlp/infer`, body)));
  await postJson(`${server.url}/mlp/infer`, body);
  await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ ...body.inputs[0], shape: [1, 3] }] });
  await postJson(`${server.url}/v2/models/not-a-model/infer`, body);
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/mlp/stream`);
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify(body));
  await new Promise((r) => ws.once('message', r));
  ws.close();

  const res = await fetch(`${server.url}/metrics`);
  t.match(res.headers.get('content-type'), /text\/plain/);
  const text = await res.text();
  t.equal(sample(text, 'ferry_requests_total', { deployment: 'mlp', code: '200' }), 22, '20 + 1 by prefix + 1 over WebSocket');
  t.equal(sample(text, 'ferry_requests_total', { deployment: 'mlp', code: '400' }), 1);
  t.notOk(text.includes('not-a-model'), 'an unknown model never becomes a label');
  t.equal(sample(text, 'ferry_request_duration_seconds_count', { deployment: 'mlp' }), 23);
  const stats = server.stats()[0].replicas[0];
  t.equal(sample(text, 'ferry_batch_size_count', { deployment: 'mlp' }), stats.batches, 'one batch-size observation per batch the replica ran');
  t.equal(sample(text, 'ferry_batch_size_sum', { deployment: 'mlp' }), stats.rows, 'rows as the replica counted them');
  t.equal(sample(text, 'ferry_model_inference_seconds_count', { deployment: 'mlp' }), stats.batches);
  t.ok(sample(text, 'ferry_model_inference_seconds_sum', { deployment: 'mlp' })! > 0, 'inference time measured inside the replica');
  t.equal(sample(text, 'ferry_queue_wait_seconds_count', { deployment: 'mlp' }), 22, 'every call that reached a replica');
  t.equal(sample(text, 'ferry_replicas', { deployment: 'mlp', state: 'ready' }), 1);
  t.equal(sample(text, 'ferry_queue_depth', { deployment: 'mlp' }), 0);
  t.equal(sample(text, 'ferry_ongoing_requests', { deployment: 'mlp' }), 0);
  t.ok(sample(text, 'process_cpu_seconds_total') !== undefined, "Node's default metrics");

  if (requireCommand(t, 'promtool', 'prometheus')) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    t.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
  }
});

t.test('a real Prometheus scrapes Ferry and answers ferry_requests_total', async (t) => {
  if (!requireCommand(t, 'prometheus', 'prometheus', { whole: true })) return;
  const server = await startFerry(t, [{ name: 'mlp', model: modelPath('mlp.onnx') }]);
  for (let i = 0; i < 5; i++) await postJson(`${server.url}/v2/models/mlp/infer`, body);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-prometheus-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ferry\n    static_configs:\n      - targets: ['${new URL(server.url).host}']\n`,
  );
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: 'ignore',
  });
  t.teardown(() => {
    prom.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let value: string | undefined;
  const query = encodeURIComponent('ferry_requests_total{deployment="mlp",code="200"}');
  const found = await waitFor(() => value !== undefined, 30_000, async () => {
    try {
      const res = await (await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${query}`)).json();
      value = res.data?.result?.[0]?.value?.[1];
    } catch {
      // not up yet
    }
  });
  t.ok(found, 'Prometheus answered the query');
  t.equal(value, '5', 'the count Ferry served, read back through Prometheus');
});
