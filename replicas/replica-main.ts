/*
 * Entry point of a replica, in a worker thread or a child process. Messages
 * are handled strictly one at a time: the pool sends one batch per replica at
 * once, and session.run blocks this thread while it computes.
 */
import { isMainThread, parentPort } from 'node:worker_threads';
import type { ToReplica } from './protocol.js';
import { ReplicaActor, type Reply } from './replica-actor.js';

let reply: Reply;
let subscribe: (handler: (msg: ToReplica) => void) => void;

if (!isMainThread && parentPort) {
  const port = parentPort;
  reply = (msg, transfer) => port.postMessage(msg, transfer);
  subscribe = (handler) => port.on('message', handler);
} else if (process.send) {
  reply = (msg) => process.send!(msg);
  subscribe = (handler) => process.on('message', handler as (m: unknown) => void);
  // The pool going away means nobody will read results: leave with it.
  process.on('disconnect', () => process.exit(0));
} else {
  throw new Error('replica-main must run in a worker thread or a forked child process');
}

const actor = new ReplicaActor(reply);
let chain: Promise<void> = Promise.resolve();
subscribe((msg) => {
  chain = chain.then(() => actor.handle(msg));
});
