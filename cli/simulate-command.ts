import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseTrace, renderChart, resolveAutoscaling, simulate } from '../autoscaler/index.js';
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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SIMULATE_HELP);
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
  const { steps, summary, reasons } = simulate(trace, autoscaling, service);
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
