import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseTrace, rateAt, resolveAutoscaling, simulate } from '../autoscaler/index.js';
import { modelPath } from '../models/index.js';
import { TSX } from './helpers/cli.js';

const STEP = parseTrace('time_s,requests_per_s\n0,20\n30,20\n30,200\n120,200\n120,20\n200,20\n');

t.test('traces: linear between points, a repeated time is a step, bad lines are named', async (t) => {
  t.equal(rateAt(STEP, 10), 20);
  t.equal(rateAt(STEP, 30), 200, 'the step takes effect at its time');
  t.equal(rateAt(STEP, 500), 20, 'the last rate holds after the end');
  t.equal(rateAt(parseTrace('0,0\n10,100'), 2.5), 25, 'linear ramp');
  t.throws(() => parseTrace('0,1\n5,x\n'), /trace:2: expected "seconds,requests_per_second"/);
  t.throws(() => parseTrace('0,1\n5,2\n3,2\n'), /trace:3: time 3 goes backwards/);
  t.throws(() => parseTrace('0,1\n'), /at least two points/);
});

t.test('a step through the real policy: scales up after the delay, down after the longer one, numbers add up', async (t) => {
  const config = resolveAutoscaling({
    minReplicas: 1, maxReplicas: 6, targetOngoingRequests: 2, metricsIntervalMs: 1000,
    lookBackPeriodMs: 5000, upscaleDelayMs: 3000, downscaleDelayMs: 20000,
  });
  const { steps, summary, reasons } = simulate(STEP, config, { replicaRps: 50, serviceMs: 20, coldStartMs: 500 });
  const at = (time: number) => steps.find((s) => s.t >= time - 1e-9)!;
  t.equal(at(29).target, 1, 'one replica for 20 req/s');
  t.equal(at(32).target, 1, 'the upscale waits its 3 s delay');
  t.ok(at(60).ready >= 4, `enough replicas for 200 req/s at 50 each (${at(60).ready})`);
  t.equal(at(60).queue < 1, true, 'the queue drained once scaled');
  const up = reasons.find((r) => /scale up/.test(r.reason))!;
  t.ok(up.t >= 33, `first upscale at ${up.t}s, at least 3 s after the step`);
  const waited = (re: RegExp) => reasons.filter((r) => re.test(r.reason)).map((r) => Number(r.reason.match(/after ([\d.]+)s/)![1]));
  t.ok(waited(/scale down/).length > 0 && waited(/scale down/).every((s) => s >= 20), `every downscale waited 20 s (${waited(/scale down/)})`);
  t.ok(waited(/scale up/).every((s) => s >= 3), `every upscale waited 3 s (${waited(/scale up/)})`);
  t.equal(steps[steps.length - 1].target, 1, 'back to one replica');
  const replicaSeconds = steps.reduce((n, s) => n + s.ready * 0.1, 0);
  t.ok(Math.abs(replicaSeconds - summary.replicaSeconds) < 1e-6, 'replica-seconds is the area under ready replicas');
  t.ok(Math.abs(summary.offered - (20 * 30 + 200 * 90 + 20 * 80)) < 30, `offered ${summary.offered.toFixed(0)} matches the trace`);
  t.ok(summary.served <= summary.offered + 1e-6);
  t.ok(summary.maxQueue > 0 && summary.timeOverTargetS > 0, 'the step overloaded the single replica for a while');
  t.equal(summary.decisions, reasons.length);
});

t.test('ferry simulate writes the chart and prints the summary', async (t) => {
  const dir = t.testdir({
    'ferry.config.ts': `export default { deployments: [{ name: 'm', model: ${JSON.stringify(modelPath('mlp.onnx'))},
      autoscaling: { minReplicas: 1, maxReplicas: 4, targetOngoingRequests: 2, upscaleDelayMs: 2000, downscaleDelayMs: 5000 } }] };`,
  });
  const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const trace = fileURLToPath(new URL('../examples/traces/step.csv', import.meta.url));
  const run = spawnSync(process.execPath, ['--import', TSX, cli, 'simulate', '--config', `${dir}/ferry.config.ts`, '--trace', trace, '--out', `${dir}/chart.svg`, '--replica-rps', '60'], { encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  t.match(run.stdout, /simulated m over .*step\.csv: 420 s, \d+ scaling decisions/);
  t.match(run.stdout, /max queue\s+[\d.]+ requests/);
  t.match(run.stdout, /replica-seconds\s+\d+ \(max 4 replicas\)/);
  const svg = readFileSync(`${dir}/chart.svg`, 'utf8');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.equal(svg.match(/<polyline/g)?.length, 4, 'load, queue, ready and target lines');
  for (const title of ['offered load', 'queue depth', 'replicas']) t.match(svg, title);
  const bad = spawnSync(process.execPath, ['--import', TSX, cli, 'simulate', '--config', `${dir}/ferry.config.ts`], { encoding: 'utf8' });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /needs --trace/);
  t.notMatch(run.stderr, /simulating/, 'a short trace shows no progress');

  // Two hours of trace: long enough to show progress, a line at each quarter where stderr is not a terminal.
  writeFileSync(`${dir}/long.csv`, '0,10\n3600,200\n7200,10\n');
  const long = spawnSync(process.execPath, ['--import', TSX, cli, 'simulate', '--config', `${dir}/ferry.config.ts`, '--trace', `${dir}/long.csv`, '--out', `${dir}/long.svg`], { encoding: 'utf8' });
  t.equal(long.status, 0, long.stderr);
  t.same(long.stderr.match(/ferry: simulating \d+% of 7200 s/g), ['ferry: simulating 25% of 7200 s', 'ferry: simulating 50% of 7200 s', 'ferry: simulating 75% of 7200 s', 'ferry: simulating 100% of 7200 s']);
  t.match(long.stdout, /simulated m over .*long\.csv: 7200 s/);
});

t.test('simulate reports its progress from within the run, a hundredth at a time, ending at the whole', async (t) => {
  const seen: number[] = [];
  simulate([{ t: 0, rps: 5 }, { t: 100, rps: 5 }], resolveAutoscaling({ minReplicas: 1, maxReplicas: 2 }), { replicaRps: 10, serviceMs: 10, coldStartMs: 100 }, 100, (d) => seen.push(d));
  t.equal(seen[0], 0);
  t.equal(seen.at(-1), 1);
  t.ok(seen.length >= 100 && seen.length <= 102, `${seen.length} reports`);
  t.ok(seen.every((d, i) => i === 0 || d >= seen[i - 1]), 'never going back');
});
