/*
 * `npm run bench -- overload [seconds]`: `ferry serve` (logging at info to a
 * pipe this bench reads) under about 10× its capacity — 400 connections
 * against 8 held + 32 queued calls — for two minutes by default. Prints the
 * answers by status and the server's RSS after 10 s and at the end: expected
 * refusals must not grow memory (they are logged at debug, without stacks).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelPath } from '../models/index.js';
import { runLoad } from './bench-kit.js';
import { jsonRequest } from './payloads.js';

const SECONDS = Number(process.argv[3] ?? 120);
const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const cli = fileURLToPath(new URL(`../cli/main${ext}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ferry-overload-'));
const config = join(dir, 'ferry.config.json');
writeFileSync(
  config,
  JSON.stringify({
    http: { port: 0 },
    deployments: [{ name: 'mlp', model: modelPath('mlp.onnx'), batching: { maxBatchSize: 8 }, maxOngoingRequests: 8, maxQueuedRequests: 32 }],
  }),
);
const child = spawn(process.execPath, [...process.execArgv, cli, 'serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
let head = '';
let logBytes = 0;
child.stdout.on('data', (d: Buffer) => {
  logBytes += d.length;
  if (head.length < 4096) head += d;
});
child.stderr.on('data', (d: Buffer) => (logBytes += d.length));
const url = await new Promise<string>((resolve) => {
  const poll = setInterval(() => {
    const m = head.match(/listening on (http:\/\/\S+)/);
    if (m) (clearInterval(poll), resolve(m[1]));
  }, 20);
});
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const samples: [number, number][] = [];
const started = performance.now();
const sampler = setInterval(() => samples.push([(performance.now() - started) / 1000, rssMiB()]), 1000);
const result = await runLoad(
  { url: `${url}/v2/models/mlp/infer`, body: jsonRequest(1), headers: { 'content-type': 'application/json' }, connections: 400 },
  SECONDS,
);
clearInterval(sampler);
// The server's own view of its answer times: did any accepted request take longer than the client's 10 s timeout?
const metrics = await (await fetch(`${url}/metrics`)).text();
const sample = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
const answered = sample(/^ferry_request_duration_seconds_count\{deployment="mlp"\} (\d+)/m);
const within10 = sample(/^ferry_request_duration_seconds_bucket\{le="10",deployment="mlp"\} (\d+)/m);
const within1 = sample(/^ferry_request_duration_seconds_bucket\{le="1",deployment="mlp"\} (\d+)/m);
child.kill('SIGTERM');

const at10 = samples.find(([s]) => s >= 10)?.[1] ?? NaN;
const end = samples.at(-1)?.[1] ?? NaN;
const peak = Math.max(...samples.map(([, r]) => r));
console.log(`\nFerry overload bench — mlp, 8 held + 32 queued, 400 connections (~10× capacity), ${SECONDS} s, one run`);
console.log(`  client: ${result.requests.total} answers, ${result.non2xx} of them non-2xx (503 FERRY_ERR_QUEUE_FULL), ${result.errors} errors, ${result.timeouts} client timeouts (10 s)`);
console.log(`  server: ${answered} answered, ${within1} within 1 s, ${answered - within10} after more than 10 s`);
console.log(`  server RSS: ${at10.toFixed(0)} MiB at 10 s, ${end.toFixed(0)} MiB at the end (${(((end - at10) / at10) * 100).toFixed(1)}%), peak ${peak.toFixed(0)} MiB`);
console.log(`  log written: ${(logBytes / 1024).toFixed(0)} KiB`);
