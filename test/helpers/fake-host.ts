import type { HostEvents, HostFactory, ReplicaHost } from '../../replicas/index.js';
import type { ModelMetadata } from '../../replicas/tensor.js';
import type { ToReplica } from '../../replicas/protocol.js';

/** What a fake host does with its `init`: load at once, fail, or wait until the test says. */
export type StartBehaviour = 'ready' | 'fail' | 'hold';

/** A batchable identity model: y = x, float32 [batch, 2]. */
export const IDENTITY_METADATA: ModelMetadata = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2], dimParams: ['batch', null] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2], dimParams: ['batch', null] }],
};

/**
 * A replica host inside the test's own thread, speaking the real protocol, so
 * the replica lifecycle runs in milliseconds and each step is the test's to
 * choose: when a start ends and how, when a batch answers, when a host dies.
 */
export class FakeHost implements ReplicaHost {
  readonly kind = 'thread' as const;
  readonly id: number;
  alive = true;
  terminated = false;
  /** Batches received and not yet answered, by id. */
  readonly batches: { batchId: number; inputs: Extract<ToReplica, { type: 'run' }>['inputs'] }[] = [];
  private initPending = false;

  constructor(
    id: number,
    private readonly events: HostEvents,
    private readonly start: StartBehaviour,
    private readonly answerAtOnce: boolean,
  ) {
    this.id = id;
  }

  post(msg: ToReplica): void {
    if (!this.alive) return;
    if (msg.type === 'init') {
      if (this.start === 'hold') this.initPending = true;
      else queueMicrotask(() => this.finishStart(this.start === 'ready'));
      return;
    }
    this.batches.push({ batchId: msg.batchId, inputs: msg.inputs });
    if (this.answerAtOnce) queueMicrotask(() => this.answer());
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

  /** Answers the oldest batch held, as the identity model would. */
  answer(): void {
    const b = this.batches.shift();
    if (!b || !this.alive) return;
    this.events.message({ type: 'result', batchId: b.batchId, outputs: { y: b.inputs.x }, inferenceMs: 1, recycled: [] });
  }

  get holdingStart(): boolean {
    return this.initPending;
  }

  async terminate(): Promise<void> {
    this.alive = false;
    this.terminated = true;
  }

  kill(): void {
    if (!this.alive) return;
    this.alive = false;
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
