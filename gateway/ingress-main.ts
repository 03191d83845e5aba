/*
 * Entry point of an ingress thread: one Fastify gateway with its own
 * routers, listening beside the others on the same port (reusePort). The
 * control plane, in the main thread, announces replicas and answers status
 * and metrics requests over parentPort.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FerryMetrics } from '../metrics/index.js';
import { loadRouterClass, ReplicaStartFailedError } from '../replicas/index.js';
import { Ingress } from './ingress.js';
import type { ControlOp, FromIngress, IngressThreadSpec, ToIngress } from './ingress-protocol.js';

const spec = workerData as IngressThreadSpec;
const control = parentPort!;
const post = (msg: FromIngress) => control.postMessage(msg);

// This thread's own figures; the control plane merges them with every other ingress's at scrape time.
const metrics = new FerryMetrics({ processWide: false });
const asked = new Map<number, (value: unknown) => void>();
let asks = 0;
const ask = <T>(what: 'status' | 'metrics' | 'readiness' | 'dashboard', since?: number): Promise<T> =>
  new Promise((resolve) => {
    const id = ++asks;
    asked.set(id, resolve as (value: unknown) => void);
    post({ type: 'ask', id, what, ...(since === undefined ? {} : { since }) });
  });

/** An operation run by the control plane (a job store's, a config update's); its error comes back with its code and status. */
const run = <T>(make: (id: number) => FromIngress): Promise<T> =>
  new Promise((resolve, reject) => {
    const id = ++asks;
    asked.set(id, (value) => {
      const v = value as { ok: T } | { error: { message: string; code: string; statusCode: number } };
      if ('error' in v) reject(Object.assign(new Error(v.error.message), { code: v.error.code, statusCode: v.error.statusCode }));
      else resolve(v.ok);
    });
    post(make(id));
  });
const job = <T>(op: 'submit' | 'get' | 'cancel', arg: unknown) => run<T>((id) => ({ type: 'job', id, op, arg }));
const controlOp = <T>(op: ControlOp, arg: unknown) => run<T>((id) => ({ type: 'control', id, op, arg }));

// The control plane loaded each custom router before starting this thread: a module that fails fails the start there.
const routerClasses = new Map(await Promise.all(spec.deployments.map(async (d) => [d.name, await loadRouterClass(d.routing)] as const)));

const ingress = new Ingress({
  deployments: spec.deployments,
  routerClasses,
  bodyLimitBytes: spec.bodyLimitBytes,
  maxTensorElements: spec.maxTensorElements,
  receiveTimeoutMs: spec.receiveTimeoutMs,
  requestLog: spec.requestLog ?? false,
  auth: spec.auth ?? null,
  gateways: spec.gateways ?? 1,
  tracing: spec.tracing ?? null,
  adminRoutes: spec.adminRoutes ?? true,
  server: spec.server,
  lingerMs: spec.lingerMs,
  connections: { counts: new Int32Array(spec.connections), index: spec.source - 1 },
  logger: spec.logLevel === false ? false : { level: spec.logLevel, stream: { write: (line: string) => post({ type: 'log', line }) } },
  control: {
    demand: (deployment) => post({ type: 'demand', deployment }),
    status: () => ask('status'),
    metrics: () => ask('metrics'),
    readiness: () => ask('readiness'),
    dashboard: (since) => ask('dashboard', since),
  },
  ...(spec.jobs ? { jobs: { submit: (r) => job('submit', r), get: (id) => job('get', id), cancel: (id) => job('cancel', id) } } : {}),
  ...(spec.control
    ? {
        gatewayControl: {
          applyConfig: (raw) => controlOp('apply', raw),
          config: () => controlOp('config', null),
          index: () => controlOp('index', null),
          load: (name, config) => controlOp('load', { name, config }),
          unload: (name) => controlOp('unload', { name, config: null }),
        },
      }
    : {}),
  metrics: {
    observeRequest: (deployment, code, seconds) => metrics.observeRequest(deployment, code, seconds),
    answered: (deployment, batch, waits) => metrics.answered(deployment, batch, waits),
  },
});

control.on('message', (msg: ToIngress) => {
  switch (msg.type) {
    case 'listen':
      ingress.listen(msg.host, msg.port, true).then(
        (url) => post({ type: 'listening', url }),
        (err: NodeJS.ErrnoException) => post({ type: 'listen-failed', message: err.message, code: err.code, syscall: err.syscall }),
      );
      return;
    case 'replica-up':
      ingress.replicaUp(msg.deployment, msg.slot, msg.port, msg.replicaId);
      return;
    case 'replica-gone':
      ingress.replicaGone(msg.deployment, msg.slot, msg.reason);
      post({ type: 'ack', ack: msg.ack });
      return;
    case 'update':
      ingress.update(msg.deployments).then(
        () => post({ type: 'ack', ack: msg.ack }),
        (err: Error) => {
          // A custom router that no longer imports: the deployment keeps its old router here, and the control plane hears why.
          post({ type: 'log', line: `${JSON.stringify({ level: 50, time: Date.now(), msg: `config update in an ingress thread: ${err.message}` })}\n` });
          post({ type: 'ack', ack: msg.ack });
        },
      );
      return;
    case 'forget':
      ingress.forget(msg.key);
      return;
    case 'at-zero':
      ingress.setAtZero(msg.deployment, msg.atZero);
      return;
    case 'fail-queued':
      ingress.failQueued(msg.deployment, new ReplicaStartFailedError(msg.deployment, msg.reason, msg.code));
      return;
    case 'reply':
      asked.get(msg.id)?.(msg.value);
      asked.delete(msg.id);
      return;
    case 'collect':
      metrics.registry.getMetricsAsJSON().then(
        (json) => post({ type: 'collected', id: msg.id, metrics: json }),
        // A collect that fails leaves this thread's figures out of one scrape rather than holding it.
        () => post({ type: 'collected', id: msg.id, metrics: [] }),
      );
      return;
    case 'close':
      ingress.close(msg.graceMs).then(
        () => post({ type: 'closed' }),
        () => post({ type: 'closed' }),
      );
  }
});
