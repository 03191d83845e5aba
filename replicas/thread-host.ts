import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromReplica, ToReplica } from './protocol.js';
import { REPLICA_ENTRY, type HostEvents, type ReplicaHost } from './replica-host.js';

/**
 * From source (`.ts`), the worker registers tsx itself first: loader hooks
 * registered in the main thread do not reach worker threads on Node 20.
 */
function startWorker(): Worker {
  if (!REPLICA_ENTRY.endsWith('.ts')) return new Worker(REPLICA_ENTRY);
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = pathToFileURL(REPLICA_ENTRY).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true });
}

/** Threads of this process inside a model load or a run right now (see {@link threadsInsideOnnxruntime}). */
let inside = 0;

/**
 * How many replica threads are inside onnxruntime (loading a model or running
 * a batch). Such a thread cannot be stopped until the call returns: Node waits
 * for it before the process can exit, and a thread terminated meanwhile
 * aborts the whole process when onnxruntime returns into it. The CLI ends
 * itself with SIGKILL at its deadline when this is not 0.
 */
export function threadsInsideOnnxruntime(): number {
  return inside;
}

/**
 * A replica in a worker thread: the default host; buffers are transferred,
 * not copied. A thread inside onnxruntime is never terminated there (see
 * {@link threadsInsideOnnxruntime}): terminate() and kill() wait for the call
 * to return, though kill() reports the death at once, so a hung replica's
 * calls are retried without waiting for it.
 */
export class ThreadHost implements ReplicaHost {
  readonly kind = 'thread' as const;
  private readonly worker: Worker;
  private ending = false;
  private ended = false;
  private busy = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly events: HostEvents) {
    this.worker = startWorker();
    let failure: Error | null = null;
    this.worker.on('message', (msg: FromReplica) => {
      this.setBusy(false);
      if (!this.ending) events.message(msg);
      else if (msg.type === 'result' || msg.type === 'failed') events.message(msg); // hands the batch's buffers back
    });
    this.worker.on('error', (err) => {
      failure = err;
    });
    this.worker.on('exit', (code) => {
      this.ended = true;
      this.setBusy(false);
      if (this.ending) return;
      events.exit(failure ? `thread crashed: ${failure.message}` : `thread exited with code ${code}`);
    });
  }

  get id(): number {
    return this.worker.threadId;
  }

  private setBusy(busy: boolean): void {
    if (busy === this.busy) return;
    this.busy = busy;
    inside += busy ? 1 : -1;
    if (!busy) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  post(msg: ToReplica, transfer: ArrayBuffer[]): void {
    if (this.ending) return;
    // Every message starts a load or a run, and every answer ends one.
    this.setBusy(true);
    this.worker.postMessage(msg, transfer);
  }

  async terminate(): Promise<void> {
    this.ending = true;
    if (this.busy) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    if (!this.ended) await this.worker.terminate();
  }

  kill(): void {
    if (this.ending) return;
    this.ending = true;
    // The pool sees a crash now; the thread itself ends once onnxruntime returns.
    queueMicrotask(() => this.events.exit('killed'));
    // terminate() only waits and ends the worker; neither rejects.
    void this.terminate();
  }
}
