import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import ora from 'ora';
import { drawsSpinner } from './start-progress.js';
import { parseTrace, renderChart, resolveAutoscaling, simulate } from '../autoscaler/index.js';
import { simulateCluster, type ClusterScenario, type ClusterSimulation } from '../cluster/cluster-simulation.js';
import { CLUSTER_TIMING } from '../cluster/timing.js';
import { loadConfig } from '../deployments/index.js';
import { ensureModels } from '../models/index.js';
import { EXAMPLE_CONFIG } from '../paths.js';

export const SIMULATE_HELP = `Usage: ferry simulate --trace <csv> [options]

Replays a request-rate trace through the autoscaling policy Ferry runs,
with a simple service model, and writes an SVG chart (load, queue depth,
replicas over time) and a summary.

Options:
  --trace <csv>          lines of "seconds,requests_per_second" (rate linear between points)
  --config <file>        the config whose deployment's autoscaling to use (default: the example)
  --deployment <name>    which deployment (default: the first with autoscaling)
  --replica-rps <n>      requests per second one replica completes (default 100)
  --service-ms <n>       time one request spends in a replica (default 20)
  --cold-start-ms <n>    time for a new replica to start serving (default 250)
  --out <file.svg>       where to write the chart (default simulation.svg)
  --json                 print the summary and decisions as JSON
  -h, --help             show this help

Example traces: examples/traces/step.csv and examples/traces/daily-wave.csv.

Cluster mode (ferry simulate --cluster): node deaths replayed through the
controller's own placement, with the cluster's timing (FERRY_HEARTBEAT_TTL_MS,
FERRY_CONTROL_INTERVAL_MS): how long its replicas take to be placed again and
serve, and the requests queued meanwhile.
  --cluster              simulate a cluster instead of a trace
  --nodes <n>            nodes (default 100)
  --cpus-per-node <n>    cpus each offers (default 16)
  --replicas <n>         replicas of one deployment, one cpu each (default 1000)
  --rps <n>              requests per second offered (default: 24.9 per replica, just
                         under what they serve)
  --replica-rps <n>      as above (default 25 in cluster mode)
  --cold-start-ms <n>    as above (default 2000 in cluster mode)
  --deaths <n>           nodes that die, one at a time (default 10)
  --every-ms <n>         time between deaths (default 5000)
`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number (got ${raw})`);
  return n;
}

/** `ferry simulate`: the real policy over a trace, drawn. */
export async function simulateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      trace: { type: 'string' },
      config: { type: 'string' },
      deployment: { type: 'string' },
      'replica-rps': { type: 'string' },
      'service-ms': { type: 'string' },
      'cold-start-ms': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      cluster: { type: 'boolean' },
      nodes: { type: 'string' },
      'cpus-per-node': { type: 'string' },
      replicas: { type: 'string' },
      rps: { type: 'string' },
      deaths: { type: 'string' },
      'every-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SIMULATE_HELP);
    return 0;
  }
  if (values.cluster) {
    if (values.trace !== undefined) throw new Error('--cluster replays node deaths, not a trace: give one or the other');
    const whole = (name: string, raw: string | undefined, fallback: number, least: number) => {
      const n = positive(name, raw, fallback);
      if (!Number.isInteger(n) || n < least) throw new Error(`--${name} must be a whole number of at least ${least} (got ${raw})`);
      return n;
    };
    const nodeCount = whole('nodes', values.nodes, 100, 1);
    const deaths = whole('deaths', values.deaths, 10, 0);
    if (deaths > nodeCount) throw new Error(`--deaths ${deaths} is more than the ${nodeCount} nodes`);
    const every = positive('every-ms', values['every-ms'], 5000);
    const replicas = whole('replicas', values.replicas, 1000, 1);
    const replicaRps = positive('replica-rps', values['replica-rps'], 25);
    const scenario: ClusterScenario = {
      nodes: nodeCount,
      cpusPerNode: positive('cpus-per-node', values['cpus-per-node'], 16),
      replicas,
      // Just under what the replicas serve, so the queue that builds is the deaths' doing.
      rps: positive('rps', values.rps, replicas * replicaRps * 0.996),
      replicaRps,
      coldStartMs: positive('cold-start-ms', values['cold-start-ms'], 2000),
      deaths: Array.from({ length: deaths }, (_, i) => ({ atMs: 2000 + i * every, nodes: 1 })),
      durationMs: 2000 + deaths * every + 10_000,
      timing: CLUSTER_TIMING,
    };
    const result = simulateCluster(scenario);
    if (values.json) process.stdout.write(`${JSON.stringify({ scenario, ...result }, null, 2)}\n`);
    else process.stdout.write(renderClusterSimulation(scenario, result));
    return 0;
  }
  if (!values.trace) throw new Error('ferry simulate needs --trace <csv> (see ferry simulate --help)');
  const configFile = values.config ?? EXAMPLE_CONFIG;
  if (configFile === EXAMPLE_CONFIG) ensureModels();
  const config = await loadConfig(configFile);
  const deployment = values.deployment
    ? config.deployments.find((d) => d.name === values.deployment)
    : config.deployments.find((d) => d.autoscaling !== null);
  if (!deployment) throw new Error(values.deployment ? `no deployment '${values.deployment}' in ${config.source}` : `no deployment in ${config.source} has autoscaling`);
  const autoscaling = deployment.autoscaling ?? resolveAutoscaling({ minReplicas: deployment.numReplicas, maxReplicas: deployment.numReplicas });
  const trace = parseTrace(readFileSync(values.trace, 'utf8'), values.trace);
  const service = {
    replicaRps: positive('replica-rps', values['replica-rps'], 100),
    serviceMs: positive('service-ms', values['service-ms'], 20),
    coldStartMs: positive('cold-start-ms', values['cold-start-ms'], 250),
  };
  const progress = simulationProgress(trace[trace.length - 1].t, values.json ? null : process.stderr);
  const { steps, summary, reasons } = simulate(trace, autoscaling, service, 100, progress?.step);
  progress?.done();
  const out = values.out ?? 'simulation.svg';
  writeFileSync(out, renderChart(steps, summary, `${deployment.name}: ${values.trace} (${service.replicaRps} req/s per replica)`));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ deployment: deployment.name, autoscaling, service, summary, decisions: reasons, chart: out }, null, 2)}\n`);
    return 0;
  }
  const s = summary;
  process.stdout.write(
    [
      `simulated ${deployment.name} over ${values.trace}: ${s.durationS.toFixed(0)} s, ${s.decisions} scaling decisions`,
      `  max queue            ${s.maxQueue.toFixed(1)} requests`,
      `  time over target     ${s.timeOverTargetS.toFixed(1)} s (requests per ready replica above ${autoscaling.targetOngoingRequests})`,
      `  replica-seconds      ${s.replicaSeconds.toFixed(0)} (max ${s.maxReplicas} replicas)`,
      `  served               ${s.served.toFixed(0)} of ${s.offered.toFixed(0)} offered`,
      ...reasons.map((r) => `  ${r.t.toFixed(1).padStart(7)}s ${r.reason}`),
      `chart: ${out}`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** A cluster replay as lines: the scenario, each death, and the queue. */
export function renderClusterSimulation(s: ClusterScenario, r: ClusterSimulation): string {
  const lines = [
    `${s.nodes} nodes × ${s.cpusPerNode} cpus, ${s.replicas} replicas, ${s.rps} req/s offered (${s.replicaRps} per replica), cold start ${s.coldStartMs} ms`,
    `heartbeat TTL ${s.timing.heartbeatTtlMs} ms (a beat every ${s.timing.heartbeatEveryMs} ms), a control pass every ${s.timing.controlIntervalMs} ms; one placement of the whole cluster takes ${r.placementMs.toFixed(1)} ms at most`,
    '',
  ];
  for (const d of r.deaths) {
    const serving = d.servingAfterMs === null ? `${d.pending} fit nowhere (pending)` : `serving again after ${(d.servingAfterMs / 1000).toFixed(2)} s`;
    lines.push(`  t=${(d.atMs / 1000).toFixed(1)} s ${d.nodes.join(', ')} died with ${d.replicasLost} replicas: placed again after ${(d.replacedAfterMs / 1000).toFixed(2)} s, ${serving}`);
  }
  lines.push('', `requests queued meanwhile: ${r.peakQueued} at most, ${r.queuedRequestSeconds} request-seconds in all; ${r.retried} calls in flight on dead replicas retried`);
  return `${lines.join('\n')}\n`;
}

/** Traces this long (simulated seconds) or longer show their progress. */
const LONG_TRACE_S = 3600;

/**
 * A long trace's progress on `stream`: on a terminal, a spinner line (ora)
 * redrawn as the synchronous run reports; elsewhere, a line at each quarter.
 * Null for a short trace, or with --json.
 */
function simulationProgress(seconds: number, stream: (NodeJS.WriteStream & { isTTY?: boolean }) | null): { step(done: number): void; done(): void } | null {
  if (!stream || seconds < LONG_TRACE_S) return null;
  const text = (done: number) => `simulating ${Math.round(done * 100)}% of ${seconds.toFixed(0)} s`;
  if (!drawsSpinner(stream)) {
    let quarter = 0;
    return {
      step: (done) => {
        while (done >= (quarter + 1) / 4 && quarter < 4) stream.write(`ferry: ${text(++quarter / 4)}\n`);
      },
      done: () => {},
    };
  }
  const spinner = ora({ text: text(0), stream }).start();
  return {
    step: (done) => {
      spinner.text = text(done);
      // The run holds the event loop: each frame is drawn here, not by ora's timer.
      spinner.render();
    },
    done: () => spinner.succeed(`simulated ${seconds.toFixed(0)} s`),
  };
}
