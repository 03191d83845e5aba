import type { ResolvedAuth, ResolvedTracing } from '../deployments/index.js';
import type { MessagePort } from 'node:worker_threads';
import type { IngressDeployment } from './ingress.js';

/** What an ingress thread is started with (its workerData). */
export interface IngressThreadSpec {
  /** The ingress's source number in every replica's mailbox (1, 2, ...). */
  source: number;
  deployments: IngressDeployment[];
  bodyLimitBytes: number;
  maxTensorElements: number;
  receiveTimeoutMs: number;
  /** A log line per request. @default false */
  requestLog?: boolean;
  /** API keys (their hashes) and the routes left open; null or absent: every route open. */
  auth?: ResolvedAuth | null;
  /** Ingress threads sharing the port: each holds its share of a key's rate limit. @default 1 */
  gateways?: number;
  /** False when the admin routes have their own listener. @default true */
  adminRoutes?: boolean;
  /** Where request spans go; null or absent: none. */
  tracing?: ResolvedTracing | null;
  server: { name: string; version: string };
  /** Log level, or false for no log; lines go to the control plane, which writes them where the server logs. */
  logLevel: string | false;
  lingerMs: number;
  /** Int32 per ingress thread (by source − 1): connections each accepted, for status. */
  connections: SharedArrayBuffer;
  /** True when asynchronous inference is served: jobs are asked of the control plane. */
  jobs: boolean;
  /** True when config updates and repository load/unload are served here: they are asked of the control plane. */
  control?: boolean;
}

/** A control operation an ingress thread asks of the control plane (see GatewayControl). */
export type ControlOp = 'apply' | 'config' | 'index' | 'load' | 'unload';

/** What the control plane tells an ingress thread. */
export type ToIngress =
  | { type: 'listen'; host: string; port: number }
  | { type: 'replica-up'; deployment: string; slot: number; port: MessagePort; replicaId: string }
  | { type: 'replica-gone'; deployment: string; slot: number; reason: string; ack: number }
  | { type: 'at-zero'; deployment: string; atZero: boolean }
  | { type: 'fail-queued'; deployment: string; reason: string; code?: string }
  | { type: 'reply'; id: number; value: unknown }
  /** A config update's deployments: the thread serves them from now on (see Ingress.update), then acks. */
  | { type: 'update'; deployments: IngressDeployment[]; ack: number }
  /** A pool an update replaced or removed has stopped: its router goes. */
  | { type: 'forget'; key: string }
  | { type: 'collect'; id: number }
  | { type: 'close'; graceMs: number };

/** What an ingress thread tells the control plane. */
export type FromIngress =
  | { type: 'listening'; url: string }
  | { type: 'listen-failed'; message: string; code?: string; syscall?: string }
  | { type: 'ack'; ack: number }
  | { type: 'demand'; deployment: string }
  | { type: 'ask'; id: number; what: 'status' | 'metrics' | 'readiness' | 'dashboard'; since?: number }
  | { type: 'job'; id: number; op: 'submit' | 'get' | 'cancel'; arg: unknown }
  | { type: 'control'; id: number; op: ControlOp; arg: unknown }
  | { type: 'collected'; id: number; metrics: unknown }
  | { type: 'log'; line: string }
  | { type: 'closed' };
