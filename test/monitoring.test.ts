import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { FerryMetrics } from '../metrics/index.js';
import { modelPath } from '../models/index.js';
import { postJson, randomRow, startFerry } from './helpers/ferry.js';
import { requireCommand } from './helpers/system-tool.js';

/*
 * deploy/prometheus/ferry-rules.yml: Prometheus takes it (promtool), its
 * alerts fire when they should (promtool's rule unit tests), and it names
 * only metrics a live Ferry exports.
 */

const rulesFile = fileURLToPath(new URL('../deploy/prometheus/ferry-rules.yml', import.meta.url));
const rules = readFileSync(rulesFile, 'utf8');
const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/ferry.json', import.meta.url), 'utf8')) as {
  uid: string;
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
};
/** Every PromQL expression the dashboard's panels query, Grafana's variables put to values Prometheus takes. */
const dashboardExprs = dashboard.panels
  .flatMap((p) => p.targets ?? [])
  .map((q) => q.expr.replaceAll('$deployment', '.*').replaceAll('$__rate_interval', '1m'));

/** The ferry_* metric names a PromQL text reads, histogram suffixes taken off. */
const metricNames = (text: string) => new Set([...text.matchAll(/\bferry_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));

t.test('the rules file passes promtool check rules', async (t) => {
  if (!requireCommand(t, 'promtool', 'prometheus')) return;
  const out = spawnSync('promtool', ['check', 'rules', rulesFile], { encoding: 'utf8' });
  t.equal(out.status, 0, `promtool check rules: ${out.stdout}${out.stderr}`);
  t.match(out.stdout, /SUCCESS: \d+ rules found/);
});

t.test('its alerts fire on the series that should raise them, and stay quiet otherwise', async (t) => {
  if (!requireCommand(t, 'promtool', 'prometheus')) return;
  const series = (name: string, labels: string, values: string) => ({ series: `${name}{${labels}}`, values });
  const descriptions: Record<string, string> = Object.fromEntries(
    (parse(rules).groups as { rules: { alert?: string; annotations?: { description: string } }[] }[]).flatMap((g) => g.rules.flatMap((r) => (r.alert ? [[r.alert, r.annotations!.description]] : []))),
  );
  const alert = (name: string, at: string, fired: { labels: Record<string, string>; summary: string }[]) => ({
    eval_time: at,
    alertname: name,
    exp_alerts: fired.map((f) => ({ exp_labels: f.labels, exp_annotations: { summary: f.summary, description: descriptions[name] } })),
  });
  const tests = [
    {
      interval: '15s',
      input_series: [
        series('ferry_queue_depth', 'instance="g1",deployment="mlp"', '90x80'),
        series('ferry_queue_capacity', 'instance="g1",deployment="mlp"', '100x80'),
        series('ferry_queue_depth', 'instance="g1",deployment="cnn"', '10x80'),
        series('ferry_queue_capacity', 'instance="g1",deployment="cnn"', '100x80'),
        series('ferry_autoscaler_desired_replicas', 'instance="g1",deployment="mlp"', '4x80'),
        series('ferry_autoscaler_max_replicas', 'instance="g1",deployment="mlp"', '4x80'),
        series('ferry_requests_total', 'instance="g1",deployment="mlp",code="200"', '0+60x80'),
        series('ferry_requests_total', 'instance="g1",deployment="mlp",code="500"', '0+15x80'),
        series('ferry_requests_total', 'instance="g1",deployment="cnn",code="200"', '0+60x80'),
        series('ferry_replica_restarts_total', 'instance="g1",deployment="cnn",reason="crashed"', '0 0 0 1 2 3 4 5 6 6 6 6 6 6 6 6 6 6 6 6'),
      ],
      alert_rule_test: [
        alert('FerryQueueSaturated', '1m', []),
        alert('FerryQueueSaturated', '5m', [{ labels: { severity: 'warning', deployment: 'mlp' }, summary: 'mlp: its queue is 90% full' }]),
        alert('FerryErrorRatioHigh', '8m', [{ labels: { severity: 'critical', deployment: 'mlp' }, summary: 'mlp: 20% of answers are 5xx' }]),
        alert('FerryReplicasRestarting', '3m', [{ labels: { severity: 'warning', deployment: 'cnn', reason: 'crashed' }, summary: 'cnn: 6 replicas replaced in 10 minutes (crashed)' }]),
        alert('FerryReplicasRestarting', '15m', []),
        alert('FerryScalePinnedAtMax', '9m', []),
        alert('FerryScalePinnedAtMax', '15m', [{ labels: { severity: 'warning', deployment: 'mlp' }, summary: 'mlp: the autoscaler wants its maximum and the queue still fills' }]),
      ],
    },
    {
      // Two gateways, each with a queue of its own: both 45% full is no saturation; one at 90% is.
      interval: '15s',
      input_series: [
        series('ferry_queue_depth', 'instance="g1",deployment="mlp"', '45x40'),
        series('ferry_queue_depth', 'instance="g2",deployment="mlp"', '45x40'),
        series('ferry_queue_capacity', 'instance="g1",deployment="mlp"', '100x40'),
        series('ferry_queue_capacity', 'instance="g2",deployment="mlp"', '100x40'),
        series('ferry_queue_depth', 'instance="g1",deployment="cnn"', '90x40'),
        series('ferry_queue_depth', 'instance="g2",deployment="cnn"', '10x40'),
        series('ferry_queue_capacity', 'instance="g1",deployment="cnn"', '100x40'),
        series('ferry_queue_capacity', 'instance="g2",deployment="cnn"', '100x40'),
        series('ferry_requests_total', 'instance="g1",deployment="mlp",code="200"', '0+60x40'),
      ],
      alert_rule_test: [alert('FerryQueueSaturated', '5m', [{ labels: { severity: 'warning', deployment: 'cnn' }, summary: 'cnn: its queue is 90% full' }])],
      promql_expr_test: [{ expr: 'ferry:errors:ratio1m', eval_time: '5m', exp_samples: [{ labels: 'ferry:errors:ratio1m{deployment="mlp"}', value: 0 }] }],
    },
  ];
  const dir = t.testdir({ 'ferry-rules.yml': rules, 'ferry-rules.test.yml': JSON.stringify({ rule_files: ['ferry-rules.yml'], evaluation_interval: '15s', tests }) });
  const out = spawnSync('promtool', ['test', 'rules', `${dir}/ferry-rules.test.yml`], { encoding: 'utf8' });
  t.equal(out.status, 0, `promtool test rules: ${out.stdout}${out.stderr}`);
});

t.test('the dashboard: every panel queries, and every query is PromQL that Prometheus evaluates', async (t) => {
  t.equal(dashboard.uid, 'ferry');
  const charts = dashboard.panels.filter((p) => p.type !== 'row');
  t.ok(charts.length >= 10, `${charts.length} panels`);
  for (const p of charts) t.ok((p.targets ?? []).length > 0, `${p.title} queries`);
  for (const topic of ['Requests', 'Error', 'duration', 'Queue', 'batch', 'Replicas by state', 'Autoscaler', 'restarts']) {
    t.ok(charts.some((p) => p.title.includes(topic)), `a panel on ${topic}`);
  }
  if (!requireCommand(t, 'promtool', 'prometheus')) return;
  // Over no series each query answers nothing; one Prometheus cannot parse fails the test.
  const tests = [{ interval: '15s', input_series: [], promql_expr_test: dashboardExprs.map((expr) => ({ expr, eval_time: '1m', exp_samples: [] })) }];
  const dir = t.testdir({ 'dashboard.test.yml': JSON.stringify({ rule_files: [], tests }) });
  const out = spawnSync('promtool', ['test', 'rules', `${dir}/dashboard.test.yml`], { encoding: 'utf8' });
  t.equal(out.status, 0, `promtool evaluates every query: ${out.stdout}${out.stderr}`);
});

t.test('every metric the rules and the dashboard read is one a live Ferry exports', async (t) => {
  const server = await startFerry(t, [
    { name: 'mlp', model: modelPath('mlp.onnx'), autoscaling: { minReplicas: 1, maxReplicas: 2 } },
  ]);
  t.equal((await postJson(`${server.url}/v2/models/mlp/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(1, 784) }] })).status, 200);
  // Event counters start at 0, so the alerts' increase() sees the first event.
  const before = await (await fetch(`${server.url}/metrics`)).text();
  t.match(before, /ferry_replica_restarts_total\{deployment="mlp",reason="crashed"\} 0/, 'restarts counted from 0 before the first');
  t.match(before, /ferry_autoscaler_decisions_total\{deployment="mlp",direction="up"\} 0/, 'decisions too');
  server.pools.get('mlp')!.killReplica('mlp#1');
  await new Promise((r) => setTimeout(r, 300));
  // A cluster node's registry (what `ferry node` serves on /metrics) exports its own replicas by state.
  const node = new FerryMetrics({ node: true });
  node.readFrom(() => [{ deployment: 'mlp', queueDepth: 0, ongoing: 0, replicas: { ready: 1 } }]);
  const exported = new Set([...metricNames(await (await fetch(`${server.url}/metrics`)).text()), ...metricNames((await node.expose()).text)]);
  const read = [...metricNames(`${JSON.stringify(parse(rules))} ${dashboardExprs.join(' ')}`)];
  t.ok(read.length >= 12, `the rules and the dashboard read ${read.join(', ')}`);
  for (const name of read) t.ok(exported.has(name), `${name} is exported`);
});
