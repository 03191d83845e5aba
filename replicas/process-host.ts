import { fork, type ChildProcess } from 'node:child_process';
import type { MessagePort } from 'node:worker_threads';
import type { FromActor, FromReplica, ToActor, ToReplica } from './protocol.js';
import { REPLICA_ENTRY, type HostEvents, type ReplicaHost } from './replica-host.js';

/**
 * A replica in a child process: a native crash in onnxruntime takes down only
 * this replica. Messages use V8 serialisation, so typed arrays cross intact
 * (copied, as processes share no memory). A process cannot hold an
 * ingress's channel, so the host keeps each port and relays what crosses it,
 * tagged with the ingress's source number.
 */
export class ProcessHost implements ReplicaHost {
  readonly kind = 'process' as const;
  private readonly child: ChildProcess;
  private readonly ports = new Map<number, MessagePort>();
  private ending = false;
  private readonly exited: Promise<void>;

  constructor(events: HostEvents) {
    this.child = fork(REPLICA_ENTRY, [], {
      serialization: 'advanced',
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let failure: Error | null = null;
    this.child.on('message', (msg: FromReplica) => {
      if ('source' in msg) {
        const { source, ...answers } = msg;
        this.ports.get(source)?.postMessage(answers satisfies FromActor);
      } else events.message(msg);
    });
    this.child.on('error', (err) => {
      failure = err;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        resolve();
        if (this.ending) return;
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
        // A signal says more than the error a send to the dying process raised (EPIPE).
        events.exit(failure && !signal ? `process failed: ${failure.message}` : `process ${how}`);
      });
    });
  }

  get id(): number {
    return this.child.pid ?? -1;
  }

  post(msg: ToReplica): void {
    if (msg.type === 'attach') {
      const { source, port } = msg;
      this.ports.set(source, port);
      port.on('message', (m: ToActor) => this.send({ ...m, source }));
      return;
    }
    if (msg.type === 'detach') {
      this.ports.get(msg.source)?.close();
      this.ports.delete(msg.source);
    }
    this.send(msg);
  }

  private send(msg: ToReplica): void {
    if (this.child.connected) this.child.send(msg);
  }

  async terminate(): Promise<void> {
    this.ending = true;
    for (const port of this.ports.values()) port.close();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
