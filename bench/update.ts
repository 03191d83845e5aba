/*
 * `npm run bench -- update`: `ferry serve` under steady keep-alive load from
 * 32 clients over two deployments while three config updates are applied
 * through `PUT /-/config`, one after another: a batching change (in place),
 * a model file replaced (new replicas, traffic moved, old ones drained), and
 * a deployment added with another removed. Prints, for the steady load
 * before, during each update and after, the requests answered 2xx, those
 * answered otherwise, connection errors, and latency percentiles; and each
 * update's time from the PUT until its old replicas had drained.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelPath } from '../models/index.js';
import { serveCli } from './bench-kit.js';
import { jsonRequest } from './payloads.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-update-bench-'));
copyFileSync(modelPath('mlp.onnx'), join(dir, 'mlp-v1.onnx'));
copyFileSync(modelPath('mlp.onnx'), join(dir, 'mlp-v2.onnx'));
const deployment = (name: string, file: string, maxBatchSize = 8) => ({ name, model: join(dir, file), batching: { maxBatchSize } });
const configs = [
  { http: { ingressThreads: 1 }, deployments: [deployment('a', 'mlp-v1.onnx'), deployment('b', 'mlp-v1.onnx'), deployment('c', 'mlp-v1.onnx')] },
  { http: { ingressThreads: 1 }, deployments: [deployment('a', 'mlp-v1.onnx', 32), deployment('b', 'mlp-v1.onnx'), deployment('c', 'mlp-v1.onnx')] },
  { http: { ingressThreads: 1 }, deployments: [deployment('a', 'mlp-v1.onnx', 32), deployment('b', 'mlp-v2.onnx'), deployment('c', 'mlp-v1.onnx')] },
  { http: { ingressThreads: 1 }, deployments: [deployment('a', 'mlp-v1.onnx', 32), deployment('b', 'mlp-v2.onnx'), deployment('d', 'mlp-v2.onnx')] },
];
const file = join(dir, 'ferry.config.json');
writeFileSync(file, JSON.stringify(configs[0]));

const { child, url } = await serveCli([file, '--port', '0']);

/** What the load saw in one phase. */
interface Phase {
  ok: number;
  other: Map<string, number>;
  errors: number;
  latencies: number[];
}
const newPhase = (): Phase => ({ ok: 0, other: new Map(), errors: 0, latencies: [] });
let phase = newPhase();
const phases: [string, Phase][] = [];
let names = ['a', 'b', 'c'];
let running = true;
const body = jsonRequest(1);

function post(agent: Agent, name: string): Promise<void> {
  const p = phase;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(`${url}/v2/models/${name}/infer`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        if (res.statusCode! < 300) {
          p.ok++;
          p.latencies.push(performance.now() - t0);
        } else {
          const key = `${name} ${res.statusCode} ${(JSON.parse(text) as { code?: string }).code}`;
          p.other.set(key, (p.other.get(key) ?? 0) + 1);
        }
        resolve();
      });
    });
    req.on('error', () => {
      p.errors++;
      resolve();
    });
    req.end(body);
  });
}

const clients = Array.from({ length: 32 }, async (_, c) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = c; running; i++) await post(agent, names[i % names.length]);
  agent.destroy();
});

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const close = (name: string) => {
  phases.push([name, phase]);
  phase = newPhase();
};
const put = async (config: unknown): Promise<{ status: number; durationMs: number; changes: string }> => {
  const res = await fetch(`${url}/-/config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  const record = (await res.json()) as { durationMs: number; changes: { deployment: string; action: string }[] };
  return { status: res.status, durationMs: record.durationMs, changes: record.changes.map((c) => `${c.deployment} ${c.action}`).join(', ') };
};

await settle(3000);
close('steady, before');
const updates: string[] = [];
for (const [i, label] of ['batching of a changed (in place)', 'model file of b replaced', 'd added, c removed'].entries()) {
  // Requests stop going to a deployment once its removal is asked for; those in flight still count.
  if (i === 2) names = ['a', 'b'];
  const r = await put(configs[i + 1]);
  updates.push(`  ${label.padEnd(36)} ${r.status} in ${String(r.durationMs).padStart(5)} ms (${r.changes})`);
  close(`during: ${label}`);
  if (i === 2) names = ['a', 'b', 'd'];
  await settle(1000);
  close(`steady, after it`);
}
running = false;
await Promise.all(clients);
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
rmSync(dir, { recursive: true, force: true });

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
console.log('\nFerry config update bench — 32 keep-alive JSON clients over mlp deployments, three updates by PUT /-/config, one run');
console.log('  updates (status, time from the PUT until old replicas drained):');
for (const u of updates) console.log(u);
console.log(`  ${'phase'.padEnd(44)} ${'2xx'.padStart(6)} ${'non-2xx'.padStart(8)} ${'conn err'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`);
let bad = 0;
for (const [name, p] of phases) {
  const other = [...p.other.values()].reduce((a, b) => a + b, 0);
  bad += other + p.errors;
  console.log(`  ${name.padEnd(44)} ${String(p.ok).padStart(6)} ${String(other).padStart(8)} ${String(p.errors).padStart(9)} ${pct(p.latencies, 0.5).toFixed(1).padStart(7)} ${pct(p.latencies, 0.99).toFixed(1).padStart(7)}`);
  for (const [k, n] of p.other) console.log(`    ${k}: ${n}`);
}
console.log(`  requests not answered 2xx, over every phase: ${bad}`);
