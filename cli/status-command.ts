import { parseArgs } from 'node:util';
import type { FerryStatus } from '../ferry-server.js';

export const STATUS_HELP = `Usage: ferry status [options]

Shows a running Ferry's deployments, replicas, queues and the autoscaler's
latest decisions with their reasons.

Options:
  --url <url>        the Ferry to ask (default http://127.0.0.1:8000)
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
  const lines = [`Ferry ${status.version} at ${url} — node: ${n.usedCpus}/${n.cpus} cpus, ${n.usedGpus}/${n.gpus} gpus reserved`];
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
      lines.push(`  ${r.id.padEnd(idWidth)} ${r.state.padEnd(9)} ${r.host} ${r.hostId}  ongoing ${r.ongoing}, ${r.batches} batches${r.mergedBatches ? ` (${r.mergedBatches} merged from several gateways)` : ''}, ${r.rows} rows${r.sessions ? `, ${r.sessions} sessions` : ''}`);
      // A Ferry from before multiplexing has no such field.
      if (r.modelLoads) lines.push(`  ${''.padEnd(idWidth)} models held: ${r.models.join(', ') || 'none'} (${r.modelLoads} loads, ${r.modelEvictions} evictions)`);
    }
    // A Ferry from before start failures were reported has no such field.
    if (d.startFailures?.inARow) lines.push(`  ${d.startFailures.inARow} failed start${d.startFailures.inARow > 1 ? 's' : ''} in a row, retried with back-off: ${d.startFailures.lastError}`);
    if (d.pending > 0) lines.push(`  ${d.pending} pending: no room on the node (each needs ${d.resources.cpus} cpus, ${d.resources.gpus} gpus)`);
    const latest = d.decisions?.latest;
    if (latest) lines.push(`  now ${time(latest.at)}: ${latest.reason}`);
    for (const c of (d.decisions?.changes ?? []).slice(-5)) lines.push(`  ${time(c.at)} ${c.direction} ${c.from} → ${c.to}: ${c.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `ferry status`: asks a running Ferry and prints what it says. */
export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const url = (values.url ?? 'http://127.0.0.1:8000').replace(/\/$/, '');
  let res: Response;
  try {
    res = await fetch(`${url}/-/status`);
  } catch (err) {
    throw new Error(`cannot reach Ferry at ${url}: ${(err as Error).cause ?? (err as Error).message}`);
  }
  if (!res.ok) throw new Error(`${url}/-/status answered ${res.status}`);
  const status = (await res.json()) as FerryStatus;
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status, url));
  return 0;
}
