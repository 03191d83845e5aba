import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { NodeAgent } from '../cluster/node-agent.js';
import { SHUTDOWN_GRACE_MS } from '../constants.js';
import { deviceUnavailableReason } from '../replicas/index.js';

export const NODE_HELP = `Usage: ferry node --redis <url> [options]

Offers this machine's resources to a Ferry cluster and runs the replicas its
controller places here; gateways (ferry serve --redis) send their calls
straight to this node.

Options:
  --redis <url>        the cluster's Redis, e.g. redis://127.0.0.1:6379 (required)
  --cpus <n>           cpus replicas may reserve here (default: every core)
  --gpus <n>           gpus replicas may reserve here (default 0)
  --listen <host>      interface gateways connect to (default 127.0.0.1; 0.0.0.0 for all)
  --port <port>        port gateways connect to (default 0: any free one)
  --advertise <host>   the address gateways reach this node at (default: --listen,
                       or 127.0.0.1 when listening on every interface)
  --id <name>          this node's name in the cluster (default: hostname and a random suffix)
  --metrics-port <p>   serve /metrics, /v2/health/live and /v2/health/ready on this port
                       (on --listen's interface; default: none)
  -h, --help           show this help

SIGINT or SIGTERM leaves the cluster: the node's heartbeat key goes, so the
controller places its replicas elsewhere, and its replicas finish their calls.
`;

function numberOption(name: string, raw: string | undefined, fallback: number, integer = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ 0 (got ${raw})`);
  return n;
}

/** `ferry node`: joins the cluster and runs until a signal. */
export async function nodeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: 'string' },
      cpus: { type: 'string' },
      gpus: { type: 'string' },
      listen: { type: 'string' },
      port: { type: 'string' },
      advertise: { type: 'string' },
      id: { type: 'string' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(NODE_HELP);
    return 0;
  }
  if (!values.redis) throw new Error('ferry node needs --redis <url>: the cluster it joins');
  if (!/^rediss?:\/\//.test(values.redis)) throw new Error(`--redis takes a redis:// or rediss:// URL (got ${values.redis})`);
  const listen = values.listen ?? '127.0.0.1';
  const port = numberOption('port', values.port, 0, true);
  if (port > 65535) throw new Error(`--port must be at most 65535 (got ${port})`);
  const cpus = numberOption('cpus', values.cpus, availableParallelism());
  const gpus = numberOption('gpus', values.gpus, 0);
  // Ray allows a node with no cpus (a head that hosts nothing); say what it means rather than refuse it.
  if (cpus === 0 && gpus === 0) process.stderr.write('ferry: warning: this node offers 0 cpus and 0 gpus: only deployments that reserve no resources can be placed here\n');
  const noCuda = gpus > 0 ? deviceUnavailableReason('cuda') : null;
  if (noCuda) process.stderr.write(`ferry: warning: this node offers ${gpus} gpus, but ${noCuda}: replicas placed here on 'cuda' will fail to start\n`);
  const agent = new NodeAgent({
    redisUrl: values.redis,
    ...(values.id ? { id: values.id } : {}),
    cpus,
    gpus,
    listenHost: listen,
    port,
    advertiseHost: values.advertise ?? (listen === '0.0.0.0' || listen === '::' ? '127.0.0.1' : listen),
    ...(values['metrics-port'] !== undefined ? { metricsPort: numberOption('metrics-port', values['metrics-port'], 0, true) } : {}),
    log: (level, msg) => void process.stderr.write(`ferry: ${level === 'warn' ? 'warning: ' : ''}${msg}\n`),
  });
  try {
    await agent.start();
  } catch (err) {
    throw new Error(`cannot join the cluster at ${values.redis}: ${(err as Error).message}`);
  }
  process.stdout.write(`Ferry node ${agent.id} in the cluster at ${values.redis}, taking gateways on ${listen}:${agent.listenPort}\n`);
  return new Promise((resolveExit) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      process.stdout.write(`ferry: ${signal}, leaving the cluster\n`);
      setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS + 1000).unref();
      agent.stop(SHUTDOWN_GRACE_MS).then(
        () => resolveExit(0),
        () => resolveExit(1),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
