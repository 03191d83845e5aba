import { existsSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { LOG_LEVEL } from '../constants.js';
import { describeChanges, loadConfig } from '../deployments/index.js';
import { ClusterGateway } from '../cluster/cluster-gateway.js';
import { NodeAgent } from '../cluster/node-agent.js';
import { FerryServer } from '../ferry-server.js';
import { ensureModels } from '../models/index.js';
import { EXAMPLE_CONFIG } from '../paths.js';
import { startProgress } from './start-progress.js';
import { deviceUnavailableReason, threadsInsideOnnxruntime } from '../replicas/index.js';

export const SERVE_HELP = `Usage: ferry serve [config] [options]

Serves the deployments in a config file over HTTP, in this process.

Arguments:
  config             ferry.config.ts (or .js, .mjs, .json). Default: ./ferry.config.ts
                     when it exists, else the example that serves 'mlp' and 'mnist-cnn'.

Options:
  --host <host>      interface to bind (overrides http.host; default 127.0.0.1)
  --port <port>      port to bind, 0 for any free one (overrides http.port; default 8000)
  --redis <url>      serve as a cluster gateway: replicas run on \`ferry node\`s found
                     through Redis (e.g. redis://127.0.0.1:6379); any number of gateways
                     may serve one config, one of them is the controller at a time
  --with-node        with --redis: also run a node in this process, offering the
                     config's node.cpus and node.gpus
  --watch            apply the config file again whenever it changes, without dropping
                     a request (as PUT /-/config does): in-place changes, new replicas
                     for new models or handlers, removed deployments drained; a config
                     that fails is refused whole and the old one serves on
  -h, --help         show this help

Environment:
  FERRY_LOG_LEVEL              pino log level (default info)
  FERRY_SHUTDOWN_GRACE_MS      how long a shutdown lets calls finish, unless the config sets shutdownGraceMs (default 30000)
  FERRY_HUNG_BATCH_FLOOR_MS    least time a batch runs before it counts as hung (default 30000)
  FERRY_HEARTBEAT_TTL_MS       with --redis: how long a node's heartbeat lives (default 3000, least 100)
  FERRY_CONTROL_INTERVAL_MS    with --redis: how often gateways read the cluster and place replicas (default 500, least 100)
  FERRY_CONTROLLER_LOCK_TTL_MS with --redis: how long the controller's lock lives unrenewed (default 3000, least 100)
  FERRY_ORT_TELEMETRY          1 turns onnxruntime's own telemetry files back on (default off)

While the replicas start, a terminal shows each deployment's replicas loading
and ready on one spinner line (stderr); elsewhere a plain line per replica.

SIGINT or SIGTERM turns readiness 503, answers new requests 503
FERRY_ERR_SHUTTING_DOWN (Connection: close), lets in-flight HTTP and
WebSocket calls finish for up to shutdownGraceMs (default 30 s),
answers what is left 503, then stops the replicas. A second signal exits at once.
`;

/** A cluster part's line on stderr. */
const logLine = (level: 'info' | 'warn', msg: string) => void process.stderr.write(`ferry: ${level === 'warn' ? 'warning: ' : ''}${msg}\n`);

/** Log lines held for a slow stdout before new ones are dropped. */
const LOG_BUFFER_BYTES = 8 * 1024 * 1024;

function parsePort(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer from 0 to 65535 (got ${raw})`);
  return port;
}

/** `ferry serve`: load, validate, start, print where it listens, and stop cleanly on a signal. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      redis: { type: 'string' },
      'with-node': { type: 'boolean' },
      watch: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new Error(`ferry serve takes one config file (got ${positionals.join(' ')})`);
  if (values['with-node'] && !values.redis) throw new Error('--with-node runs a cluster node beside the gateway: give --redis <url> too');
  const local = resolve('ferry.config.ts');
  const file = positionals[0] ?? (existsSync(local) ? local : EXAMPLE_CONFIG);
  if (file === EXAMPLE_CONFIG) ensureModels();
  const port = parsePort(values.port);

  // Whoever reads our output may go away (a closed pipe): serving and draining go on regardless.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  // A gateway without a node runs no replica: what fits this machine, and its devices, are the nodes' concern.
  const gatewayOnly = values.redis !== undefined && !values['with-node'];
  if (values.redis !== undefined && !/^rediss?:\/\//.test(values.redis)) throw new Error(`--redis takes a redis:// or rediss:// URL (got ${values.redis})`);
  const validate = gatewayOnly ? { checkNode: false } : { checkDevice: deviceUnavailableReason };
  const config = await loadConfig(file, validate);
  for (const w of config.warnings) process.stderr.write(`ferry: warning: ${w}\n`);
  // The first signal shuts down; one that comes while the replicas load waits
  // for the start to finish (a load cannot be cut short), but a cluster
  // gateway waiting for nodes stops waiting. A second exits now.
  let signalled: NodeJS.Signals | null = null;
  let shutDown: ((signal: NodeJS.Signals) => void) | null = null;
  const starting = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`ferry: ${signal} again, exiting now\n`);
      exitNow(1);
    }
    signalled = signal;
    if (shutDown) shutDown(signal);
    else if (gatewayOnly) {
      process.stdout.write(`ferry: ${signal} while waiting for the cluster's nodes; stopping\n`);
      starting.abort();
    } else process.stdout.write(`ferry: ${signal} while starting; stopping once the replicas have loaded\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // With --with-node the node starts first: the gateway waits for a node to load each model.
  const node = values.redis && values['with-node'] ? new NodeAgent({ redisUrl: values.redis, cpus: config.node.cpus, gpus: config.node.gpus, log: logLine }) : null;
  await node?.start();
  let server: FerryServer;
  // Progress goes to stderr on a terminal (the spinner), with the log lines on stdout.
  const progress = startProgress(process.stderr.isTTY ? process.stderr : process.stdout);
  try {
    server = await FerryServer.start(config, {
      progress: (e) => progress.step(e),
      ...(values.redis ? { cluster: new ClusterGateway({ redisUrl: values.redis, log: logLine }) } : {}),
      signal: starting.signal,
      validate,
    // Asynchronous, but bounded: when stdout cannot keep up, lines past 8 MiB
    // waiting are dropped rather than held in memory (pino's default has no bound).
      logger: { level: LOG_LEVEL, stream: progress.logTo(pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES }), process.stdout.isTTY === true) },
      listen: { host: values.host, port },
    });
  } catch (err) {
    progress.done(false);
    if (starting.signal.aborted) return 0;
    throw err;
  }
  progress.done(true, Object.fromEntries(server.stats().map((s) => [s.deployment, s.pending])));
  config.deployments.forEach((d, i) => {
    const omitted = server.pools.get(d.name)!.omittedOutputs;
    if (omitted.length === 0) return;
    const byReason = new Map<string, string[]>();
    for (const o of omitted) byReason.set(o.reason, [...(byReason.get(o.reason) ?? []), `'${o.name}'`]);
    const list = [...byReason].map(([reason, names]) => `${names.join(', ')} (${reason})`).join('; ');
    process.stderr.write(`ferry: warning: deployments[${i}] (${d.name}) answers with its tensor outputs only; left out ${list}\n`);
  });
  // One write, so a reader that sees the URL sees the deployments too.
  const mib = (server.bodyLimit.bytes / 2 ** 20).toFixed(server.bodyLimit.bytes % 2 ** 20 === 0 ? 0 : 1);
  let banner = `Ferry serving ${config.source}\nlistening on ${server.url}\n`;
  if (server.adminUrl) banner += `admin routes (/-/status, /-/dashboard, /metrics, the repository, /docs) on ${server.adminUrl}\n`;
  if (server.cluster) banner += `cluster gateway ${server.cluster.id} on ${values.redis}${node ? `, with node ${node.id} (${config.node.cpus} cpus, ${config.node.gpus} gpus)` : ''}\n`;
  banner += `request bodies up to ${mib} MiB (${server.bodyLimit.reason}; set http.bodyLimitBytes to change)\n`;
  banner += server.ingress.reusePort
    ? `${server.ingress.threads} ingress threads sharing the port (http.ingressThreads)\n`
    : `one gateway, in the main thread${server.ingress.note ? ' (the warning above says why)' : ' (http.ingressThreads is 1)'}\n`;
  for (const stats of server.stats()) {
    const d = config.deployments.find((x) => x.name === stats.deployment)!;
    const ready = stats.replicas.filter((r) => r.state === 'ready').length;
    const model = d.multiplex ? `${d.name}/{modelId}` : d.name;
    // A handler that serves no inference answers on its own routes only.
    const serves = server.pools.get(d.name)!.servesInference;
    const own = [...d.routes.map((r) => `${r.method} ${server.url}${d.routePrefix}${r.path}`), ...d.websockets.map((w) => `ws ${server.url.replace(/^http/, 'ws')}${d.routePrefix}${w.path}`)];
    const routes = serves ? [`${server.url}/v2/models/${model}/infer`, ...(d.routePrefix ? [`${server.url}${d.routePrefix}`] : []), ...own] : own;
    const batching = stats.batching.enabled
      ? `batching up to ${d.batching.maxBatchSize} rows${d.batching.targetLatencyMs ? `, adaptive to a ${d.batching.targetLatencyMs} ms target` : ''}`
      : `each request alone: ${stats.batching.reason}`;
    banner += `  ${d.name}: ${ready}/${stats.target} replicas ready (${d.host}, ${d.device}, ${batching}) at ${routes.join(' and ')}\n`;
    if (d.multiplex) {
      const ids = d.multiplex.modelIds;
      banner += `    ${ids.length} models (${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', ...' : ''}), at most ${d.multiplex.maxModelsPerReplica} loaded per replica; name one in ferry-model-id or the path\n`;
    }
  }
  if (values.watch) banner += `watching ${config.source} for changes (--watch)\n`;
  process.stdout.write(banner);
  const unwatch = values.watch ? watchConfig(server, config.source, validate) : () => {};

  return new Promise((resolveExit) => {
    shutDown = (signal: NodeJS.Signals) => {
      unwatch();
      // A shutdown that outlives its grace (a stuck flush, a host that will not end) still ends.
      setTimeout(() => {
        process.stderr.write(`ferry: shutdown took longer than ${config.shutdownGraceMs + 1000} ms; exiting\n`);
        exitNow(1);
      }, config.shutdownGraceMs + 1000).unref();
      process.stdout.write(`ferry: ${signal}, finishing in-flight requests\n`);
      server.close().then(
        // A replica thread still inside onnxruntime (a hung batch, a load) would abort the exit: wait for its call to return (the deadline above bounds the wait).
        async () => {
          await node?.stop(config.shutdownGraceMs);
          while (threadsInsideOnnxruntime() > 0) await new Promise((r) => setTimeout(r, 50));
          resolveExit(0);
        },
        (err: Error) => {
          process.stderr.write(`ferry: shutdown failed: ${err.message}\n`);
          resolveExit(1);
        },
      );
    };
    if (signalled) shutDown(signalled);
  });
}

/** How often `--watch` looks at the config file, ms: polling sees a file replaced by an editor or a Kubernetes ConfigMap's link swap alike. */
const WATCH_INTERVAL_MS = 500;

/**
 * Applies the config file again each time it changes (`--watch`), one
 * update at a time; a change made while one applies is read once that one
 * ends. Each outcome is logged and kept in status. Returns the unwatch.
 */
function watchConfig(server: FerryServer, file: string, validate: Parameters<typeof loadConfig>[1]): () => void {
  let busy = false;
  let again = false;
  const apply = () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    server
      .update(() => loadConfig(file, { ...validate, fresh: true }), 'watch')
      .then(
        (r) => {
          const what = describeChanges(r.changes) || 'nothing to change';
          process.stdout.write(`ferry: ${file} changed: applied in ${r.durationMs} ms: ${what}\n`);
        },
        (err: Error) => process.stderr.write(`ferry: ${file} changed, but the update was not applied: ${err.message}\n`),
      )
      .finally(() => {
        busy = false;
        if (again) {
          again = false;
          apply();
        }
      });
  };
  const onChange = (now: Stats, before: Stats) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) apply();
  };
  watchFile(file, { interval: WATCH_INTERVAL_MS, persistent: false }, onChange);
  return () => unwatchFile(file, onChange);
}

/**
 * Exits now. A replica thread inside onnxruntime (a model load, a hung
 * batch) holds process.exit until its call returns, and then aborts the
 * process: with one, Ferry ends itself with SIGKILL (exit status 137).
 */
function exitNow(code: number): never {
  if (threadsInsideOnnxruntime() > 0) {
    process.stderr.write(`ferry: ${threadsInsideOnnxruntime()} replica thread(s) still inside onnxruntime; ending with SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }
  process.exit(code);
}
