import type { MessagePort } from 'node:worker_threads';
import { SlotState, type DeploymentCounters } from './deployment-counters.js';
import type { HeldModels } from './held-models.js';
import type { PendingCall } from './pending-call.js';
import type { SlotCandidate } from './session-affinity.js';
import type { FromActor, ToActor, WireCall } from './protocol.js';

/**
 * One ingress's channel to one replica. Calls sent in one turn of the event
 * loop go in one message; the calls sent and not yet answered are held here,
 * so a replica's death hands them back for a retry. The replica's state and
 * calls in flight are read from shared memory, never cached.
 */
export class ReplicaLink implements SlotCandidate {
  /** Calls sent (or about to be) and not yet answered, by id. */
  readonly held = new Map<number, PendingCall>();
  /** The slot's generation when this replica took it. */
  readonly generation: number;
  private outgoing: WireCall[] = [];
  private cancels: number[] = [];
  private scheduled = false;

  constructor(
    /** The replica's slot in its deployment's counters. */
    readonly slot: number,
    readonly replicaId: string,
    private readonly port: MessagePort,
    private readonly counters: DeploymentCounters,
    onAnswers: (link: ReplicaLink, msg: FromActor) => void,
    /** A multiplexed deployment's table of models held, and its model ids by index. */
    private readonly models: { table: HeldModels; modelIds: readonly string[] } | null = null,
  ) {
    this.generation = counters.generation(slot);
    port.on('message', (msg: FromActor) => onAnswers(this, msg));
  }

  /** The multiplexed models the replica holds now, from shared memory (none where the deployment does not multiplex). */
  get modelIds(): readonly string[] {
    const m = this.models;
    return m ? m.table.held(this.slot).map((i) => m.modelIds[i]) : [];
  }

  /** 'ready' while the replica takes calls (what the router reads), else its state's name. */
  get state(): string {
    return this.counters.state(this.slot) === SlotState.READY ? 'ready' : 'not-ready';
  }

  /** Calls every ingress has sent this replica and not had answered: the exact figure, from shared memory. */
  get ongoing(): number {
    return this.counters.inFlight(this.slot);
  }

  /** Sends a call whose place on the replica the router has claimed; it leaves with the others of this turn. */
  send(call: PendingCall): void {
    call.holder = this;
    this.held.set(call.id, call);
    const wire: WireCall = { id: call.id, inputs: call.inputs, rows: call.rows, enqueuedAt: call.enqueuedAt };
    if (call.route) wire.route = call.route;
    const { sessionId, movedFrom, newSession } = call.routing;
    if (sessionId !== null) wire.session = { id: sessionId, movedFrom, isNew: newSession };
    if (call.routing.modelId !== null) wire.modelId = call.routing.modelId;
    if (call.traceparent !== undefined) wire.traceparent = call.traceparent;
    this.outgoing.push(wire);
    this.schedule();
  }

  /**
   * Gives up on a call: true when it had not left yet (its place is free
   * now); otherwise the replica is asked to drop it, and answers either way.
   */
  cancel(call: PendingCall): boolean {
    const i = this.outgoing.findIndex((c) => c.id === call.id);
    if (i >= 0) {
      this.outgoing.splice(i, 1);
      this.held.delete(call.id);
      // It never left this thread: no replica saw it.
      call.holder = null;
      return true;
    }
    this.cancels.push(call.id);
    this.schedule();
    return false;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.outgoing.length > 0) {
      const calls = this.outgoing;
      this.outgoing = [];
      // The ingress keeps its inputs (a retry after the replica dies needs them): they are cloned, not handed over.
      this.port.postMessage({ type: 'calls', calls } satisfies ToActor);
    }
    if (this.cancels.length > 0) {
      this.port.postMessage({ type: 'cancel', ids: this.cancels } satisfies ToActor);
      this.cancels = [];
    }
  }

  /** Closes the channel; calls held are the caller's to retry or fail. */
  close(): void {
    this.outgoing = [];
    this.cancels = [];
    this.port.close();
  }
}
