import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { requireCommand } from './helpers/system-tool.js';

/*
 * The way operators run Ferry: docker-compose (checked by Debian's
 * docker-compose, no engine needed) and Kubernetes manifests (checked
 * against the Kubernetes and KEDA schemas by kubernetes-models).
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const k8s = fileURLToPath(new URL('../deploy/kubernetes/', import.meta.url));
const KINDS: Record<string, new (data: never) => { validate(): void }> = { ConfigMap, Service, Deployment, StatefulSet, ScaledObject } as never;

t.test('docker-compose.yml: Redis with AOF, a gateway, two nodes, Prometheus scraping them all with the rules, Grafana with the dashboard', async (t) => {
  if (!requireCommand(t, 'docker-compose', 'docker-compose', { whole: true })) return;
  const out = execFileSync('docker-compose', ['-f', `${root}docker-compose.yml`, 'config'], { encoding: 'utf8', cwd: root });
  const config = parseAllDocuments(out)[0].toJS() as { services: Record<string, { command?: string[]; volumes?: unknown[]; stop_grace_period?: string }> };
  t.same(Object.keys(config.services).sort(), ['gateway', 'grafana', 'node-1', 'node-2', 'prometheus', 'redis']);
  t.match(config.services.redis.command!.join(' '), /--appendonly yes/, 'Redis keeps an append-only file');
  t.match(config.services.gateway.command!.join(' '), /serve .* --redis redis:\/\/redis:6379/);
  for (const n of ['node-1', 'node-2']) t.match(config.services[n].command!.join(' '), /^node --redis redis:\/\/redis:6379 --id node-\d --listen 0\.0\.0\.0 --port 7000 --advertise node-\d .*--metrics-port 9100/);
  const prometheus = readFileSync(`${root}deploy/prometheus/prometheus.yml`, 'utf8');
  for (const target of ['gateway:8000', 'node-1:9100', 'node-2:9100']) t.match(prometheus, target, `Prometheus scrapes ${target}`);
  t.equal(config.services.gateway.stop_grace_period, '35s', "stopping gives Ferry's 30 s shutdown grace time");
  t.match(prometheus, /rule_files:\n  - ferry-rules\.yml/, 'Prometheus loads the rules');
  t.match(JSON.stringify(config.services.prometheus.volumes), /ferry-rules\.yml/, 'mounted beside its config');
  t.match(JSON.stringify(config.services.grafana.volumes), /deploy\/grafana\/ferry\.json/, 'Grafana mounts the dashboard');
  t.match(JSON.stringify(config.services.grafana.volumes), /deploy\/grafana\/provisioning/, 'and its provisioning (the data source, the dashboard folder)');
});

t.test('Kubernetes manifests validate against the Kubernetes and KEDA schemas, with health probes and the shutdown grace', async (t) => {
  const docs = readdirSync(k8s)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(`${k8s}${f}`, 'utf8')).map((d) => ({ file: f, doc: d.toJS() as { kind: string; metadata: { name: string }; spec?: any } })));
  t.ok(docs.length >= 6, `${docs.length} manifests`);
  for (const { file, doc } of docs) {
    const Kind = KINDS[doc.kind];
    t.ok(Kind, `${file}: ${doc.kind} is a kind the test knows`);
    if (!Kind) continue;
    t.doesNotThrow(() => new Kind(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata.name} is valid`);
  }
  const deployments = docs.filter((d) => d.doc.kind === 'Deployment').map((d) => d.doc);
  for (const d of deployments) {
    const pod = d.spec.template.spec;
    t.equal(pod.terminationGracePeriodSeconds, 35, `${d.metadata.name}: Ferry's shutdown grace and a little more`);
    const c = pod.containers[0];
    t.equal(c.readinessProbe.httpGet.path, '/v2/health/ready', `${d.metadata.name}: ready on Ferry's route`);
    t.equal(c.livenessProbe.httpGet.path, '/v2/health/live', `${d.metadata.name}: live on Ferry's route`);
  }
  for (const set of docs.filter((d) => d.doc.kind === 'StatefulSet').map((d) => d.doc)) {
    const service = docs.find((d) => d.doc.kind === 'Service' && d.doc.metadata.name === set.spec.serviceName)?.doc;
    t.equal(service?.spec.clusterIP, 'None', `${set.metadata.name}: its serviceName names a headless Service`);
  }
  const scaled = docs.find((d) => d.doc.kind === 'ScaledObject')!.doc;
  t.equal(scaled.spec.triggers[0].type, 'prometheus', 'KEDA scales on a Prometheus trigger');
  t.match(scaled.spec.triggers[0].metadata.query, /ferry_queue_depth/, "on Ferry's queue metric");
});

t.test("KEDA's query, evaluated by promtool over two gateways' series: queues summed, the cluster's jobs counted once, a missing series counted as 0", async (t) => {
  if (!requireCommand(t, 'promtool', 'prometheus')) return;
  const scaled = parseAllDocuments(readFileSync(`${k8s}keda-scaledobject.yaml`, 'utf8')).map((d) => d.toJS()).find((d) => d.kind === 'ScaledObject');
  const query: string = scaled.spec.triggers[0].metadata.query;
  const series = (name: string, labels: string, value: number) => ({ series: `${name}{${labels}}`, values: String(value) });
  const queues = [
    series('ferry_queue_depth', 'instance="g1",deployment="mlp"', 3),
    series('ferry_queue_depth', 'instance="g2",deployment="mlp"', 2),
    series('ferry_ongoing_requests', 'instance="g1",deployment="mlp"', 4),
    series('ferry_ongoing_requests', 'instance="g2",deployment="mlp"', 0),
  ];
  const jobs = [series('ferry_async_jobs', 'instance="g1",state="queued"', 8), series('ferry_async_jobs', 'instance="g2",state="queued"', 8), series('ferry_async_jobs', 'instance="g1",state="running"', 5)];
  const test = (input: object[], value: number) => ({ interval: '15s', input_series: input, promql_expr_test: [{ expr: query, eval_time: '0s', exp_samples: [{ labels: '{}', value }] }] });
  const dir = t.testdir({ 'keda-query.test.yml': JSON.stringify({ rule_files: [], tests: [test([...queues, ...jobs], 3 + 2 + 4 + 8), test(queues, 9), test(jobs, 8)] }) });
  const out = spawnSync('promtool', ['test', 'rules', `${dir}/keda-query.test.yml`], { encoding: 'utf8' });
  t.equal(out.status, 0, `promtool test rules: ${out.stdout}${out.stderr}`);
});
