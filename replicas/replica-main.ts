/*
 * Entry point of a replica, in a worker thread or a child process. A thread
 * takes its calls straight from each ingress's channel and writes its batch
 * figures into shared memory; a process gets both through its host, which
 * relays them.
 */
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { batchingPlanOf } from './batching-plan.js';
import { reportingGauges } from './batch-report.js';
import { DeploymentCounters } from './deployment-counters.js';
import type { ReplicaSpec, ToActor, ToReplica } from './protocol.js';
import { HandlerActor } from './handler-actor.js';
import { HandlerMailbox } from './handler-mailbox.js';
import { HeldModels } from './held-models.js';
import type { MultiplexGauges } from './multiplexed-models.js';
import { NO_GATE, ReplicaActor, type OnnxruntimeGate, type Reply } from './replica-actor.js';
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
    return {
      started: (at) => counters.batchStarted(c.slot, at),
      finished: (rows, ms, sources) => counters.batchFinished(c.slot, rows, ms, sources),
      adapted: (windowMs, fixedMs, perRowMs) => counters.batchAdapted(c.slot, windowMs, fixedMs, perRowMs),
      answered: (latenciesMs) => counters.callsAnswered(c.slot, latenciesMs),
    };
  }
  return reportingGauges((msg) => reply(msg, []));
}

/** Where a multiplexed thread replica marks the models it holds (shared memory); a process reports them to its host. */
function multiplexGaugesFor(spec: ReplicaSpec): MultiplexGauges | undefined {
  const held = spec.multiplex?.held;
  if (!held) return undefined;
  const table = new HeldModels(held.slots, spec.multiplex!.modelIds.length, held.buffer);
  return { loaded: (index) => table.loaded(held.slot, index), evicted: (index) => table.evicted(held.slot, index) };
}

let mailbox: ReplicaMailbox | HandlerMailbox | null = null;
let handler: HandlerActor | null = null;

/** A deployment's model alone: calls concatenated into batches and run in one session. */
function startModel(spec: ReplicaSpec): void {
  const actor = new ReplicaActor(reply, gate, multiplexGaugesFor(spec));
  const box = new ReplicaMailbox(spec.batching, (inputs, modelId) => actor.run(inputs, modelId), answer, gaugesFor(spec));
  mailbox = box;
  // Configured before any call can come: channels are attached only once `ready` has reached the control plane.
  actor.init(spec).then(
    (metadata) => {
      if (metadata) box.configure(batchingPlanOf(metadata).batchable && spec.batching.mode !== 'off');
    },
    (err: Error) => reply({ type: 'init-failed', message: err.message }, []),
  );
}

/** A code deployment: the user's class, called per request or per batch of requests. */
function startHandler(spec: ReplicaSpec): void {
  const actor = new HandlerActor(reply, gate ?? NO_GATE);
  handler = actor;
  const box = new HandlerMailbox(spec.batching, actor, answer, gaugesFor(spec));
  mailbox = box;
  actor.init(spec).then(
    (info) => {
      if (info) box.configure(info.batched && spec.batching.mode !== 'off');
    },
    (err: Error) => reply({ type: 'init-failed', message: err.message }, []),
  );
}

subscribe((msg) => {
  switch (msg.type) {
    case 'init':
      if (msg.spec.handlerPath !== null) startHandler(msg.spec);
      else startModel(msg.spec);
      return;
    case 'attach':
      ports.set(msg.source, msg.port);
      msg.port.on('message', (m: ToActor) => mailbox?.receive(msg.source, m));
      return;
    case 'detach':
      ports.get(msg.source)?.close();
      ports.delete(msg.source);
      mailbox?.detach(msg.source);
      return;
    case 'reconfigure':
      void (handler?.reconfigure(msg.userConfig) ?? Promise.resolve(null)).then((error) => reply({ type: 'reconfigured', error }, []));
      return;
    case 'batch-window':
      mailbox?.setWindow(msg.maxBatchSize, msg.batchWaitTimeoutMs);
      return;
    case 'check-health': {
      const { id } = msg;
      void (handler?.checkHealth() ?? Promise.resolve(null)).then((error) => reply({ type: 'health', id, error }, []));
      return;
    }
    case 'handle-answer':
      handler?.handles.settle(msg);
      return;
    default:
      mailbox?.receive(msg.source, msg);
  }
});
