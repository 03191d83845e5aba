import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { MetricSnapshot } from '../metrics/index.js';
import { startWorker, type IngressPeer, type ReplicaStartFailedError } from '../replicas/index.js';
import type { JobRequest } from '../jobs/job-types.js';
import type { Readiness } from './inference-target.js';
import type { GatewayJobs } from './job-routes.js';
import type { GatewayControl } from './control-routes.js';
import type { IngressDeployment } from './ingress.js';
import type { FromIngress, IngressThreadSpec, ToIngress } from './ingress-protocol.js';

/** The ingress entry script beside this file (`.ts` from source, `.js` when built). */
const INGRESS_ENTRY = fileURLToPath(new URL(`./ingress-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** What an ingress thread asks of the control plane in the main thread. */
export interface IngressHost {
  demand(deployment: string): void;
  status(): unknown;
  /** What the status page polls: the samples after `since` and the state now. */
  dashboard(since: number): unknown;
  metrics(): Promise<{ contentType: string; text: string }>;
  readiness(): Record<string, Readiness>;
  /** The job store, where asynchronous inference is served. */
  jobs?: GatewayJobs;
  /** Config updates and repository load/unload. */
  control?: GatewayControl;
  /** A log line the thread wrote (pino's JSON, newline-terminated). */
  log(line: string): void;
  /** The thread ended without being asked to. */
  lost(thread: IngressThread, reason: string): void;
}

/**
 * The control plane's handle on one ingress thread: it starts the thread,
 * announces replicas to it (each pool treats it as an {@link IngressPeer}),
 * answers its status and metrics requests, and closes it.
 */
export class IngressThread implements IngressPeer {
  readonly source: number;
  private readonly worker: Worker;
  /** Requests waiting for the thread's reply, by id, each with what it resolves to if the thread ends first. */
  private readonly waiting = new Map<number, { resolve(value: unknown): void; ifEnded: unknown }>();
  private listening: { resolve(url: string): void; reject(err: Error): void } | null = null;
  private closed: (() => void) | null = null;
  private seq = 0;
  private ended = false;
  private ending = false;

  constructor(spec: IngressThreadSpec, private readonly host: IngressHost) {
    this.source = spec.source;
    this.worker = startWorker(INGRESS_ENTRY, spec);
    let failure: Error | null = null;
    this.worker.on('message', (msg: FromIngress) => this.onMessage(msg));
    this.worker.on('error', (err) => (failure = err));
    this.worker.on('exit', (code) => {
      this.ended = true;
      for (const w of this.waiting.values()) w.resolve(w.ifEnded);
      this.waiting.clear();
      this.closed?.();
      const reason = failure ? `ingress thread crashed: ${failure.message}` : `ingress thread exited with code ${code}`;
      this.listening?.reject(failure ?? new Error(reason));
      this.listening = null;
      if (!this.ending) host.lost(this, reason);
    });
  }

  private post(msg: ToIngress, transfer: MessagePort[] = []): void {
    if (!this.ended) this.worker.postMessage(msg, transfer);
  }

  private onMessage(msg: FromIngress): void {
    switch (msg.type) {
      case 'listening':
        this.listening?.resolve(msg.url);
        this.listening = null;
        return;
      case 'listen-failed':
        this.listening?.reject(Object.assign(new Error(msg.message), { code: msg.code, syscall: msg.syscall }));
        this.listening = null;
        return;
      case 'ack':
        this.settle(msg.ack, undefined);
        return;
      case 'demand':
        this.host.demand(msg.deployment);
        return;
      case 'ask':
        if (msg.what === 'status') this.post({ type: 'reply', id: msg.id, value: this.host.status() });
        else if (msg.what === 'dashboard') this.post({ type: 'reply', id: msg.id, value: this.host.dashboard(msg.since ?? 0) });
        else if (msg.what === 'readiness') this.post({ type: 'reply', id: msg.id, value: this.host.readiness() });
        else {
          this.host.metrics().then(
            (value) => this.post({ type: 'reply', id: msg.id, value }),
            (err: Error) => this.post({ type: 'reply', id: msg.id, value: { contentType: 'text/plain', text: `# ${err.message}\n` } }),
          );
        }
        return;
      case 'job': {
        const jobs = this.host.jobs;
        const run = !jobs
          ? Promise.reject(new Error('asynchronous inference is not served'))
          : msg.op === 'submit'
            ? jobs.submit(msg.arg as JobRequest)
            : msg.op === 'get'
              ? jobs.get(msg.arg as string)
              : jobs.cancel(msg.arg as string);
        this.answer(msg.id, run);
        return;
      }
      case 'control': {
        const control = this.host.control;
        const arg = msg.arg as { name: string; config: string | null };
        // Run as a promise's step, so an operation that throws at once answers with its error too.
        const run = Promise.resolve().then(() =>
          !control
            ? Promise.reject(new Error('config updates are not served'))
            : msg.op === 'apply'
              ? control.applyConfig(msg.arg)
              : msg.op === 'config'
                ? control.config()
                : msg.op === 'index'
                  ? control.index()
                  : msg.op === 'load'
                    ? control.load(arg.name, arg.config)
                    : control.unload(arg.name),
        );
        this.answer(msg.id, run);
        return;
      }
      case 'collected':
        this.settle(msg.id, msg.metrics);
        return;
      case 'log':
        this.host.log(msg.line);
        return;
      case 'closed':
        this.closed?.();
    }
  }

  /** Replies to a request of the thread with what `run` gives, or its error with its code and status. */
  private answer(id: number, run: Promise<unknown>): void {
    run.then(
      (ok) => this.post({ type: 'reply', id, value: { ok } }),
      (err: Error & { code?: string; statusCode?: number }) =>
        this.post({ type: 'reply', id, value: { error: { message: err.message, code: err.code ?? 'FERRY_ERR_INTERNAL', statusCode: err.statusCode ?? 500 } } }),
    );
  }

  /** Has the thread serve a config update's deployments (see Ingress.update); resolves once it does, or once it has ended. */
  update(deployments: IngressDeployment[]): Promise<void> {
    return this.request((ack) => ({ type: 'update', deployments, ack }), undefined);
  }

  /** A pool replaced or removed by an update has stopped (see Ingress.forget). */
  forget(key: string): void {
    this.post({ type: 'forget', key });
  }

  /** Listens on `host`:`port` beside the other ingress threads (reusePort); resolves with the address. */
  listen(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      this.listening = { resolve, reject };
      this.post({ type: 'listen', host, port });
    });
  }

  replicaUp(deployment: string, slot: number, port: MessagePort, replicaId: string): void {
    this.post({ type: 'replica-up', deployment, slot, port, replicaId }, [port]);
  }

  /** Sends what `build` makes of a new id; resolves with the thread's reply to it, or `ifEnded` once the thread is gone. */
  private request<T>(build: (id: number) => ToIngress, ifEnded: T): Promise<T> {
    if (this.ended) return Promise.resolve(ifEnded);
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, ifEnded });
      this.post(build(id));
    });
  }

  private settle(id: number, value: unknown): void {
    this.waiting.get(id)?.resolve(value);
    this.waiting.delete(id);
  }

  replicaGone(deployment: string, slot: number, reason: string): Promise<void> {
    return this.request((ack) => ({ type: 'replica-gone', deployment, slot, reason, ack }), undefined);
  }

  atZero(deployment: string, atZero: boolean): void {
    this.post({ type: 'at-zero', deployment, atZero });
  }

  failQueued(deployment: string, err: ReplicaStartFailedError): void {
    this.post({ type: 'fail-queued', deployment, reason: err.reason, code: err.code });
  }

  /** This thread's metrics, to merge with the others'. */
  collect(): Promise<MetricSnapshot> {
    return this.request<MetricSnapshot>((id) => ({ type: 'collect', id }), []);
  }

  /** Closes the thread's gateway (see Ingress.close), then ends the thread. */
  async close(graceMs: number): Promise<void> {
    this.ending = true;
    if (!this.ended) {
      await new Promise<void>((resolve) => {
        this.closed = resolve;
        this.post({ type: 'close', graceMs });
      });
    }
    await this.worker.terminate();
  }
}
