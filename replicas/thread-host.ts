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

/** A replica in a worker thread: the default host; buffers are transferred, not copied. */
export class ThreadHost implements ReplicaHost {
  readonly kind = 'thread' as const;
  private readonly worker: Worker;
  private ending = false;
  private ended = false;

  constructor(events: HostEvents) {
    this.worker = startWorker();
    let failure: Error | null = null;
    this.worker.on('message', (msg: FromReplica) => events.message(msg));
    this.worker.on('error', (err) => {
      failure = err;
    });
    this.worker.on('exit', (code) => {
      this.ended = true;
      if (this.ending) return;
      events.exit(failure ? `thread crashed: ${failure.message}` : `thread exited with code ${code}`);
    });
  }

  get id(): number {
    return this.worker.threadId;
  }

  post(msg: ToReplica, transfer: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }

  async terminate(): Promise<void> {
    this.ending = true;
    if (!this.ended) await this.worker.terminate();
  }

  kill(): void {
    // Not marked as ending: the pool must see this as a crash.
    void this.worker.terminate();
  }
}
