import t from 'tap';
import { planConfigChange, validateConfig, type ResolvedDeployment } from '../deployments/index.js';
import { modelPath } from '../models/index.js';

/* How a config update is planned, deployment by deployment, before anything starts. */

const source = modelPath('ferry.config.ts');
const mlp = modelPath('mlp.onnx');
const cnn = modelPath('mnist-cnn.onnx');
const resolve = (deployments: unknown[], extra: Record<string, unknown> = {}) => validateConfig({ node: { cpus: 64 }, ...extra, deployments }, source);
const serving = (changed: string[] = [], most = 16) => ({ modelFilesChanged: (d: ResolvedDeployment) => changed.includes(d.name), mostReplicas: () => most });

t.test('each deployment: unchanged, adjusted in place, replaced, added or removed', async (t) => {
  const from = resolve([
    { name: 'same', model: mlp },
    { name: 'window', model: mlp, batching: { maxBatchSize: 4 } },
    { name: 'adaptive', model: mlp, batching: { targetLatencyMs: 20 } },
    { name: 'model', model: mlp },
    { name: 'host', model: mlp },
    { name: 'file', model: mlp },
    { name: 'gone', model: mlp },
  ]);
  const to = resolve([
    { name: 'new', model: mlp },
    { name: 'same', model: mlp },
    { name: 'window', model: mlp, batching: { maxBatchSize: 8, batchWaitTimeoutMs: 3 }, maxQueuedRequests: 7, requestTimeoutMs: 999 },
    { name: 'adaptive', model: mlp, batching: { targetLatencyMs: 40 } },
    { name: 'model', model: cnn },
    { name: 'host', model: mlp, host: 'process' },
    { name: 'file', model: mlp },
  ]);
  const plan = planConfigChange(from, to, serving(['file']));
  t.same(plan.refused, []);
  t.same(plan.changes, [
    { deployment: 'new', action: 'add' },
    { deployment: 'window', action: 'adjust', fields: ['requestTimeoutMs', 'batching', 'maxQueuedRequests'] },
    { deployment: 'adaptive', action: 'replace', fields: ['batching'] },
    { deployment: 'model', action: 'replace', fields: ['model'] },
    { deployment: 'host', action: 'replace', fields: ['replicaHost'] },
    { deployment: 'file', action: 'replace', fields: ['files on disk'] },
    { deployment: 'gone', action: 'remove' },
  ]);
});

t.test('more replicas than a pool holds need a new one; within it, in place', async (t) => {
  const from = resolve([{ name: 'a', model: mlp, numReplicas: 1 }]);
  const to = resolve([{ name: 'a', model: mlp, numReplicas: 20 }]);
  t.same(planConfigChange(from, to, serving([], 16)).changes, [{ deployment: 'a', action: 'replace', fields: ['numReplicas', 'replica count beyond what its pool holds'] }]);
  t.same(planConfigChange(from, to, serving([], 20)).changes, [{ deployment: 'a', action: 'adjust', fields: ['numReplicas'] }]);
});

t.test('what is fixed at start refuses the whole update, each reason given', async (t) => {
  const from = resolve([{ name: 'a', model: mlp, routePrefix: '/a' }]);
  const to = resolve([{ name: 'a', model: mlp, routePrefix: '/b' }, { name: 'b', model: mlp, routes: [], routePrefix: '/c' }], { http: { port: 9999 }, admin: { port: 9001 } });
  const plan = planConfigChange(from, to, serving());
  t.match(plan.refused, [/^http: fixed while Ferry serves/, /^admin: fixed/, /^deployment 'a': its routePrefix is fixed while it serves/, /^deployment 'b': one added while serving is served under \/v2\/models\/b/]);
});
