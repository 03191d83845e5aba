import type { MessagePort } from 'node:worker_threads';
import type { HostEvents, HostFactory, ReplicaHost } from '../../replicas/index.js';
import type { ModelMetadata } from '../../replicas/tensor.js';
import type { FromActor, ToActor, ToReplica, WireCall } from '../../replicas/protocol.js';

/** What a fake host does with its `init`: load at once, fail, or wait until the test says. */
export type StartBehaviour = 'ready' | 'fail' | 'hold';

/** A batchable identity model: y = x, float32 [batch, 2]. */
export const IDENTITY_METADATA: ModelMetadata = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2], dimParams: ['batch', null] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2], dimParams: ['batch', null] }],
};

/**
 * A replica host inside the test's own thread, speaking the real protocol
 * (control messages, and each ingress's channel), so the replica lifecycle
 * runs in milliseconds and each step is the test's to choose: when a start
 * ends and how, when calls are answered, when a host dies.
 */
export class FakeHost implements ReplicaHost {
  readonly kind = 'thread' as const;
  readonly id: number;
  alive = true;
  terminated = false;
  /** Calls received and not yet answered, in order, with the channel they came by. */
  readonly calls: { call: WireCall; port: MessagePort }[] = [];
  /** Ids each channel asked to cancel. */
  readonly cancels: number[] = [];
  private readonly ports = new Map<number, MessagePort>();
  private initPending = false;

  constructor(
    id: number,
    private readonly events: HostEvents,
    private readonly start: StartBehaviour,
    /** Answers each call as it arrives; false keeps them until answer(). */
    public answerAtOnce: boolean,
  ) {
    this.id = id;
  }

  post(msg: ToReplica): void {
    if (!this.alive) return;
    if (msg.type === 'init') {
      if (this.start === 'hold') this.initPending = true;
      else queueMicrotask(() => this.finishStart(this.start === 'ready'));
    } else if (msg.type === 'attach') {
      const { port } = msg;
      this.ports.set(msg.source, port);
      port.on('message', (m: ToActor) => {
        if (!this.alive) return;
        if (m.type === 'cancel') {
          this.cancels.push(...m.ids);
          return;
        }
        for (const call of m.calls) this.calls.push({ call, port });
        if (this.answerAtOnce) while (this.calls.length > 0) this.answer();
      });
    } else if (msg.type === 'detach') this.ports.get(msg.source)?.close();
  }

  /** Ends a held start: loaded, or failed with a message. */
  finishStart(ok: boolean): void {
    if (!this.alive) return;
    this.initPending = false;
    this.events.message(
      ok
        ? { type: 'ready', loadMs: 1, metadata: IDENTITY_METADATA, omittedOutputs: [] }
        : { type: 'init-failed', message: `fake host ${this.id} cannot load the model` },
    );
  }

  /** Answers the oldest call held, alone, as the identity model would. */
  answer(): void {
    const held = this.calls.shift();
    if (!held || !this.alive) return;
    const { call, port } = held;
    const msg: FromActor = { type: 'answers', answers: [{ id: call.id, outputs: { y: call.inputs.x } }], startedAt: performance.timeOrigin + performance.now(), batch: { rows: call.rows, inferenceMs: 1 } };
    port.postMessage(msg);
  }

  get holdingStart(): boolean {
    return this.initPending;
  }

  async terminate(): Promise<void> {
    this.alive = false;
    this.terminated = true;
    for (const port of this.ports.values()) port.close();
  }

  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const port of this.ports.values()) port.close();
    queueMicrotask(() => this.events.exit('killed'));
  }
}

/** A host factory whose hosts start as `next()` says, and the hosts it made, in order. */
export function fakeHosts(next: () => StartBehaviour = () => 'ready', answerAtOnce = true): { factory: HostFactory; hosts: FakeHost[] } {
  const hosts: FakeHost[] = [];
  const factory: HostFactory = (_kind, events) => {
    const host = new FakeHost(hosts.length + 1, events, next(), answerAtOnce);
    hosts.push(host);
    return host;
  };
  return { factory, hosts };
}
