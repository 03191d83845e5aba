/*
 * Entry point of a replica, in a worker thread or a child process. A thread
 * takes its calls straight from each ingress's channel and writes its batch
 * figures into shared memory; a process gets both through its host, which
 * relays them.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { batchingPlanOf } from './batching-plan.js';
import { DeploymentCounters } from './deployment-counters.js';
import type { ReplicaSpec, ToActor, ToReplica } from './protocol.js';
import { ReplicaActor, type OnnxruntimeGate, type Reply } from './replica-actor.js';
import { ReplicaMailbox, type AnswerTo, type BatchGauges } from './replica-mailbox.js';
import type { ThreadFlags } from './thread-host.js';

let reply: Reply;
let subscribe: (handler: (msg: ToReplica) => void) => void;
let gate: OnnxruntimeGate | undefined;
const ports = new Map<number, MessagePort>();
let answer: AnswerTo;

if (!isMainThread && parentPort) {
  const port = parentPort;
  reply = (msg, transfer) => port.postMessage(msg, transfer);
  subscribe = (handler) => port.on('message', handler);
  answer = (source, msg, transfer) => ports.get(source)?.postMessage(msg, transfer);
  const flags = workerData as ThreadFlags;
  const own = new Int32Array(flags.inside);
  const all = new Int32Array(flags.process);
  gate = {
    enter() {
      Atomics.store(own, 0, 1);
      Atomics.add(all, 0, 1);
    },
    leave() {
      Atomics.store(own, 0, 0);
      Atomics.sub(all, 0, 1);
      Atomics.notify(own, 0);
    },
  };
} else if (process.send) {
  reply = (msg) => process.send!(msg);
  subscribe = (handler) => process.on('message', handler as (m: unknown) => void);
  answer = (source, msg) => process.send!({ ...msg, source });
  // The pool going away means nobody will read results: leave with it.
  process.on('disconnect', () => process.exit(0));
} else {
  throw new Error('replica-main must run in a worker thread or a forked child process');
}

function gaugesFor(spec: ReplicaSpec): BatchGauges {
  const c = spec.counters;
  if (c) {
    const counters = new DeploymentCounters(c.slots, c.buffer);
    return { started: (at) => counters.batchStarted(c.slot, at), finished: (rows, ms, sources) => counters.batchFinished(c.slot, rows, ms, sources) };
  }
  return {
    started: (at) => reply({ type: 'batch-started', at }, []),
    finished: (rows, ms, sources) => reply({ type: 'batch-finished', rows, ms, sources }, []),
  };
}

const actor = new ReplicaActor(reply, gate);
let mailbox: ReplicaMailbox | null = null;

subscribe((msg) => {
  switch (msg.type) {
    case 'init': {
      const { spec } = msg;
      const box = new ReplicaMailbox(spec.batching, (inputs) => actor.run(inputs), answer, gaugesFor(spec));
      mailbox = box;
      // Configured before any call can come: channels are attached only once `ready` has reached the control plane.
      actor.init(spec).then(
        (metadata) => {
          if (metadata) box.configure(batchingPlanOf(metadata).batchable && spec.batching.mode !== 'off');
        },
        (err: Error) => reply({ type: 'init-failed', message: err.message }, []),
      );
      return;
    }
    case 'attach':
      ports.set(msg.source, msg.port);
      msg.port.on('message', (m: ToActor) => mailbox?.receive(msg.source, m));
      return;
    case 'detach':
      ports.get(msg.source)?.close();
      ports.delete(msg.source);
      mailbox?.detach(msg.source);
      return;
    default:
      mailbox?.receive(msg.source, msg);
  }
});
