import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import type { HostKind } from '../deployments/index.js';
import type { FromReplica, ToReplica } from './protocol.js';

/** Callbacks a host reports to; the replica wires these once, before start. */
export interface HostEvents {
  message(msg: FromReplica): void;
  /** The host ended without being asked to; `reason` says how. */
  exit(reason: string): void;
}

/**
 * Where a replica actor runs. Every kind speaks the same protocol, so the
 * pool never cares which it holds.
 */
export interface ReplicaHost {
  readonly kind: HostKind;
  /** OS process id for `process` hosts; the thread id for `thread` hosts. */
  readonly id: number;
  /** Sends a control message; `transfer` (a channel's port) is handed over where the host allows it (threads). */
  post(msg: ToReplica, transfer: TransferListItem[]): void;
  /** Ends the host and resolves when it is gone. */
  terminate(): Promise<void>;
  /** Ends the host at once, as a crash would (SIGKILL for processes). */
  kill(): void;
}

/** Creates a host of a given kind that reports to `events`. */
export type HostFactory = (kind: HostKind, events: HostEvents) => ReplicaHost;

/**
 * The replica entry script beside this file: `.ts` when running from source
 * (under tsx, which workers and children inherit through execArgv), `.js` when built.
 */
export const REPLICA_ENTRY: string = fileURLToPath(
  new URL(`./replica-main${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);
