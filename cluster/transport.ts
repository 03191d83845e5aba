import type { FromActor, ToActor } from '../replicas/protocol.js';

/**
 * What a gateway and a node say over their connection (one TCP connection
 * per gateway and node, frames as in wire.ts). A gateway's sources are its
 * routers (0, its own; 1.., its ingress threads); each gets its own channel
 * (`ch`) to each replica, as an ingress thread does on one machine.
 */
export type GatewayToNode =
  /** Give `source` a channel to every replica the node runs, now and as they come. */
  | { t: 'attach'; source: number }
  /** The calls or cancels an ingress sends a replica, on its channel. */
  | { t: 'msg'; ch: number; m: ToActor };

export type NodeToGateway =
  /** A replica is ready: `source`'s channel to it is `ch`. */
  | { t: 'up'; ch: number; source: number; deployment: string; replicaId: string }
  /** The replica behind `ch` is gone (stopped or dead): its calls held are the gateway's to retry. */
  | { t: 'gone'; ch: number; reason: string }
  /** A replica's answers on a channel. */
  | { t: 'msg'; ch: number; m: FromActor };
