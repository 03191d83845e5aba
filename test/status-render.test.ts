import t from 'tap';
import { renderCluster, renderStatus } from '../cli/status-command.js';
import type { FerryStatus } from '../ferry-server.js';

/*
 * `ferry status` as a terminal table, from status documents of the shape
 * GET /-/status answers (a cluster gateway's, with adaptive batching and
 * multiplexing figures), so each line a user reads is checked.
 */

const replica = (over: Record<string, unknown>) => ({
  id: 'mlp#a-1',
  state: 'ready',
  host: 'thread',
  hostId: 3,
  ongoing: 2,
  batches: 10,
  rows: 40,
  maxBatchRows: 8,
  mergedBatches: 0,
  sessions: 0,
  batchWindowMs: 1.25,
  batchCostMs: { fixed: 0.8, perRow: 0.05 },
  latencyP99Ms: 20,
  models: [],
  modelLoads: 0,
  modelEvictions: 0,
  loadMs: 5,
  startMs: 30,
  ...over,
});

t.test('replicas with their node, p99, adaptive window and models; the cluster with nodes, heartbeats and placement', async (t) => {
  const now = Date.now();
  const status = {
    version: '0.1.0',
    ingress: { threads: 1, requested: 1, reusePort: false, note: '', connections: [3] },
    deployments: [
      {
        deployment: 'mlp',
        queueDepth: 0,
        ongoing: 2,
        target: 2,
        pending: 1,
        replicas: [replica({ node: 'a' }), replica({ id: 'mlp#b-1', node: 'b', latencyP99Ms: null, batchCostMs: { fixed: 0, perRow: 0 }, models: ['alpha'], modelLoads: 3, modelEvictions: 2 })],
        restarts: 0,
        startFailures: { inARow: 0, lastError: '' },
        retried: 0,
        cancelled: 0,
        readiness: { ready: true, reason: '' },
        batching: { enabled: true, reason: 'dynamic' },
        autoscaling: null,
        resources: { cpus: 1, gpus: 0 },
        decisions: null,
      },
    ],
    cluster: {
      gateway: 'gateway-1',
      controller: 'gateway-1',
      redis: { connected: true, unavailable: null },
      nodes: [
        { id: 'a', host: '10.0.0.1', port: 7000, cpus: 4, gpus: 0, startedAt: now - 60_000, beatAt: now - 500, replicas: [{ id: 'mlp#a-1', deployment: 'mlp', state: 'ready' }] },
        { id: 'b', host: '10.0.0.2', port: 7000, cpus: 2, gpus: 0, startedAt: now - 60_000, beatAt: now - 1500, replicas: [], failures: { big: 'model did not load' } },
      ],
      assignment: { version: 3, by: 'gateway-1', at: now, assignment: { mlp: { a: 1, b: 1 } }, pending: { mlp: 1 }, targets: { mlp: 3 } },
    },
  } as unknown as FerryStatus;
  const text = renderStatus(status, 'http://127.0.0.1:8000');
  t.match(text, /^Ferry 0\.1\.0 at http:\/\/127\.0\.0\.1:8000 — a cluster gateway\n/, 'a cluster gateway has no node of its own to show');
  t.match(text, /  1 pending: no room on any node \(each needs 1 cpus, 0 gpus\)/);
  t.match(text, /mlp#a-1 +ready +on a +ongoing 2, 10 batches, 40 rows/);
  t.match(text, /p99 ≤ 20 ms in the replica; window 1\.3 ms, batch cost 0\.80 \+ 0\.050\/row ms/);
  t.match(text, /models held: alpha \(3 loads, 2 evictions\)/);
  t.notMatch(text, /mlp#b-1[^\n]*\n[^\n]*window/, 'no window line for a replica without a fit');
  t.match(text, /cluster \(gateway gateway-1\):\ncontroller: gateway-1/);
  t.match(text, /a +10\.0\.0\.1:7000 +4 +0 +0\.5 s ago +mlp ×1/);
  t.match(text, /b +10\.0\.0\.2:7000 +2 +0 +1\.5 s ago +-/);
  t.match(text, /big fails to start on b: model did not load/);
  t.match(renderCluster({ controller: 'g', nodes: [], assignment: null, unreachable: { c: 'gateway-1: ECONNREFUSED' } }), /  c cannot be reached \(gateway-1: ECONNREFUSED\): no replica is placed there/);
  t.match(text, /placement v3 by gateway-1:\n  mlp: 3 wanted: a ×1, b ×1, 1 pending \(no node has room\)/);
  t.match(renderCluster({ controller: null, nodes: [], assignment: null, unreachable: {} }), /controller: none \(no gateway holds the lock\)\nno node beats: start one with ferry node --redis <url>/);
});
