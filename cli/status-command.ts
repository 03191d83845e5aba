import { parseArgs } from 'node:util';
import { ClusterStore } from '../cluster/cluster-store.js';
import type { ClusterStatus } from '../cluster/cluster-gateway.js';
import { describeChanges } from '../deployments/index.js';
import type { FerryStatus } from '../ferry-server.js';

export const STATUS_HELP = `Usage: ferry status [options]

Shows a running Ferry's deployments, replicas, queues and the autoscaler's
latest decisions with their reasons.

Options:
  --url <url>        the Ferry to ask (default http://127.0.0.1:8000)
  --redis <url>      show a cluster from its Redis instead: nodes, their resources
                     and heartbeats, the controller, and where each deployment's
                     replicas run
  --key <key>        the API key to send (Authorization: Bearer), when the Ferry has
                     auth.apiKeys: one with the admin scope; FERRY_API_KEY too
  --json             print the raw JSON of GET /-/status
  -h, --help         show this help
`;

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

const time = (at: number) => new Date(at).toISOString().slice(11, 19);

/** The status as a terminal table. */
export function renderStatus(status: FerryStatus, url: string): string {
  const n = status.node;
  // A cluster gateway runs no replica: its machine's cores are not what its replicas reserve (the cluster section says that).
  const lines = [!n ? `Ferry ${status.version} at ${url} — a cluster gateway` : `Ferry ${status.version} at ${url} — node: ${n.usedCpus}/${n.cpus} cpus, ${n.usedGpus}/${n.gpus} gpus reserved`];
  const g = status.ingress;
  // A Ferry from before ingress threads has no such field.
  if (g) {
    const where = g.reusePort ? `${g.threads} ingress threads sharing the port` : 'one gateway in the main thread';
    lines.push(`gateways: ${where}, connections accepted ${g.connections.join(' / ')}${g.note ? ` (${g.note})` : ''}`);
  }
  lines.push('');
  const rows = [['DEPLOYMENT', 'READY/TARGET', 'PENDING', 'QUEUED', 'ONGOING', 'AUTOSCALING']];
  for (const d of status.deployments) {
    const ready = d.replicas.filter((r) => r.state === 'ready').length;
    const a = d.autoscaling;
    rows.push([
      d.deployment,
      `${ready}/${d.target}`,
      String(d.pending),
      String(d.queueDepth),
      String(d.ongoing),
      a ? `${a.minReplicas}..${a.maxReplicas}, ${a.targetOngoingRequests} per replica` : 'fixed',
    ]);
  }
  lines.push(pad(rows), '');
  for (const d of status.deployments) {
    lines.push(`${d.deployment}:`);
    if (d.batching) lines.push(`  ${d.batching.enabled ? 'batches' : 'runs each request alone'}: ${d.batching.reason}`);
    const idWidth = Math.max(14, ...d.replicas.map((r) => r.id.length));
    for (const r of d.replicas) {
      lines.push(`  ${r.id.padEnd(idWidth)} ${r.state.padEnd(9)} ${r.node ? `on ${r.node}` : `${r.host} ${r.hostId}`}  ongoing ${r.ongoing}, ${r.batches} batches${r.mergedBatches ? ` (${r.mergedBatches} merged from several gateways)` : ''}, ${r.rows} rows${r.sessions ? `, ${r.sessions} sessions` : ''}`);
      const adaptive = d.batching && (r.batchCostMs?.fixed || r.batchCostMs?.perRow);
      const timing = [
        ...(r.latencyP99Ms !== null && r.latencyP99Ms !== undefined ? [`p99 ≤ ${r.latencyP99Ms} ms in the replica`] : []),
        ...(adaptive ? [`window ${r.batchWindowMs.toFixed(1)} ms, batch cost ${r.batchCostMs.fixed.toFixed(2)} + ${r.batchCostMs.perRow.toFixed(3)}/row ms`] : []),
      ];
      if (timing.length > 0) lines.push(`  ${''.padEnd(idWidth)} ${timing.join('; ')}`);
      // A Ferry from before multiplexing has no such field.
      if (r.modelLoads) lines.push(`  ${''.padEnd(idWidth)} models held: ${r.models.join(', ') || 'none'} (${r.modelLoads} loads, ${r.modelEvictions} evictions)`);
    }
    // A Ferry from before start failures were reported has no such field.
    if (d.startFailures?.inARow) lines.push(`  ${d.startFailures.inARow} failed start${d.startFailures.inARow > 1 ? 's' : ''} in a row, retried with back-off: ${d.startFailures.lastError}`);
    if (d.pending > 0) lines.push(`  ${d.pending} pending: no room on ${n ? 'the node' : 'any node'} (each needs ${d.resources.cpus} cpus, ${d.resources.gpus} gpus)`);
    const latest = d.decisions?.latest;
    if (latest) lines.push(`  now ${time(latest.at)}: ${latest.reason}`);
    for (const c of (d.decisions?.changes ?? []).slice(-5)) lines.push(`  ${time(c.at)} ${c.direction} ${c.from} → ${c.to}: ${c.reason}`);
  }
  // A Ferry from before config updates has no such field.
  const updates = (status.updates ?? []).slice(-5);
  if (updates.length > 0) lines.push('', 'config updates (latest 5):');
  for (const u of updates) {
    const changes = describeChanges(u.changes);
    const what = u.result === 'applied' ? changes || 'nothing to change' : changes ? `would have: ${changes}` : '';
    const why = u.reason.replace(/\s*\n\s*/g, ' ');
    lines.push(`  ${time(u.at)} ${u.origin}: ${u.result} in ${u.durationMs} ms${[what, why].filter(Boolean).map((x) => `: ${x}`).join('')}`);
  }
  if (status.cluster) lines.push('', `cluster (gateway ${status.cluster.gateway}${status.cluster.redis.unavailable ? `; ${status.cluster.redis.unavailable}` : ''}):`, renderCluster(status.cluster).trimEnd());
  return `${lines.join('\n')}\n`;
}

/** A cluster as a terminal table: the controller, each node with its resources, heartbeat and replicas, and the placement. */
export function renderCluster(c: Omit<ClusterStatus, 'gateway' | 'redis'>, now = Date.now()): string {
  const lines = [`controller: ${c.controller ?? 'none (no gateway holds the lock)'}`];
  const rows = [['NODE', 'ADDRESS', 'CPUS', 'GPUS', 'HEARTBEAT', 'REPLICAS']];
  for (const n of c.nodes) {
    const byDeployment = new Map<string, number>();
    for (const r of n.replicas) if (r.state === 'ready') byDeployment.set(r.deployment, (byDeployment.get(r.deployment) ?? 0) + 1);
    rows.push([
      n.id,
      `${n.host}:${n.port}`,
      String(n.cpus),
      String(n.gpus),
      `${((now - n.beatAt) / 1000).toFixed(1)} s ago`,
      [...byDeployment].map(([d, k]) => `${d} ×${k}`).join(', ') || '-',
    ]);
  }
  lines.push(c.nodes.length > 0 ? pad(rows) : 'no node beats: start one with ferry node --redis <url>');
  for (const n of c.nodes) for (const [d, why] of Object.entries(n.failures ?? {})) lines.push(`  ${d} fails to start on ${n.id}: ${why}`);
  // A Ferry from before reachability was reported has no such field.
  for (const [node, why] of Object.entries(c.unreachable ?? {})) lines.push(`  ${node} cannot be reached (${why}): no replica is placed there`);
  const a = c.assignment;
  if (a) {
    lines.push('', `placement v${a.version} by ${a.by}:`);
    for (const [d, target] of Object.entries(a.targets)) {
      const on = Object.entries(a.assignment[d] ?? {}).map(([node, k]) => `${node} ×${k}`);
      const pending = a.pending[d] ? `, ${a.pending[d]} pending (no node has room)` : '';
      lines.push(`  ${d}: ${target} wanted: ${on.join(', ') || 'none placed'}${pending}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The cluster as its Redis holds it. */
async function clusterFromRedis(url: string): Promise<Omit<ClusterStatus, 'gateway' | 'redis'>> {
  const store = new ClusterStore(url);
  try {
    await store.connect();
  } catch (err) {
    throw new Error(`cannot reach Redis at ${url}: ${(err as Error).message}`);
  }
  try {
    const [controller, nodes, assignment, unreachable] = await Promise.all([store.lockHolder(), store.nodes(), store.assignment(), store.unreachableNodes()]);
    return { controller, nodes, assignment, unreachable: Object.fromEntries([...unreachable].map(([node, why]) => [node, why.join('; ')])) };
  } finally {
    await store.close();
  }
}

/** `ferry status`: asks a running Ferry and prints what it says. */
export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, redis: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  if (values.redis) {
    const cluster = await clusterFromRedis(values.redis);
    process.stdout.write(values.json ? `${JSON.stringify(cluster, null, 2)}\n` : renderCluster(cluster));
    return 0;
  }
  const url = (values.url ?? 'http://127.0.0.1:8000').replace(/\/$/, '');
  let res: Response;
  try {
    const key = values.key ?? process.env.FERRY_API_KEY;
    res = await fetch(`${url}/-/status`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  } catch (err) {
    throw new Error(`cannot reach Ferry at ${url}: ${(err as Error).cause ?? (err as Error).message}`);
  }
  if (res.status === 401 || res.status === 403) {
    const why = ((await res.json().catch(() => ({}))) as { error?: string }).error ?? '';
    throw new Error(`${url}/-/status answered ${res.status}${why ? `: ${why}` : ''}; give an admin key with --key or FERRY_API_KEY`);
  }
  if (!res.ok) throw new Error(`${url}/-/status answered ${res.status}`);
  const status = (await res.json()) as FerryStatus;
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status, url));
  return 0;
}
