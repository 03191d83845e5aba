import { pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';
import type { FromReplica, ToReplica } from './protocol.js';
import { REPLICA_ENTRY, type HostEvents, type ReplicaHost } from './replica-host.js';

/**
 * From source (`.ts`), the worker registers tsx itself first: loader hooks
 * registered in the main thread do not reach worker threads on Node 20.
 */
export function startWorker(entry: string, workerData: unknown): Worker {
  if (!entry.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const url = pathToFileURL(entry).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** What a replica thread marks when it enters onnxruntime: its own flag, and the process's count. */
export interface ThreadFlags {
  /** Int32 [1]: 1 while this thread is inside onnxruntime. */
  inside: SharedArrayBuffer;
  /** Int32 [1]: replica threads of the process inside onnxruntime. */
  process: SharedArrayBuffer;
}

/** Threads of this process inside a model load or a run right now (see {@link threadsInsideOnnxruntime}). */
const PROCESS_INSIDE = new SharedArrayBuffer(4);
const processInside = new Int32Array(PROCESS_INSIDE);

/**
 * How many replica threads are inside onnxruntime (loading a model or running
 * a batch). Such a thread cannot be stopped until the call returns: Node waits
 * for it before the process can exit, and a thread terminated meanwhile
 * aborts the whole process when onnxruntime returns into it. The CLI ends
 * itself with SIGKILL at its deadline when this is not 0.
 */
export function threadsInsideOnnxruntime(): number {
  return Atomics.load(processInside, 0);
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
  private readonly inside = new Int32Array(new SharedArrayBuffer(4));
  private ending = false;
  private ended = false;

  constructor(private readonly events: HostEvents) {
    const flags: ThreadFlags = { inside: this.inside.buffer as SharedArrayBuffer, process: PROCESS_INSIDE };
    this.worker = startWorker(REPLICA_ENTRY, flags);
    let failure: Error | null = null;
    this.worker.on('message', (msg: FromReplica) => {
      if (!this.ending) events.message(msg);
    });
    this.worker.on('error', (err) => {
      failure = err;
    });
    this.worker.on('exit', (code) => {
      this.ended = true;
      // A thread that died inside onnxruntime never left it: it no longer counts.
      if (Atomics.exchange(this.inside, 0, 0) === 1) Atomics.sub(processInside, 0, 1);
      Atomics.notify(this.inside, 0);
      if (this.ending) return;
      events.exit(failure ? `thread crashed: ${failure.message}` : `thread exited with code ${code}`);
    });
  }

  get id(): number {
    return this.worker.threadId;
  }

  post(msg: ToReplica, transfer: TransferListItem[]): void {
    if (this.ending) return;
    this.worker.postMessage(msg, transfer);
  }

  async terminate(): Promise<void> {
    this.ending = true;
    while (!this.ended && Atomics.load(this.inside, 0) === 1) {
      const wait = Atomics.waitAsync(this.inside, 0, 1);
      if (wait.async) await wait.value;
    }
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
