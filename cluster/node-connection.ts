import { connect, type Socket } from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import type { FromActor, ToActor } from '../replicas/protocol.js';
import type { NodeRecord } from './cluster-store.js';
import type { GatewayToNode, NodeToGateway } from './transport.js';
import { frame, FrameReader, ownedToActor } from './wire.js';

/** How long a gateway waits for a node to accept its connection, in ms. */
const CONNECT_TIMEOUT_MS = 2000;

/** Where a connection hands what a node says about its replicas. */
export interface ReplicaEvents {
  /** `source`'s channel `ch` to a replica is open: returns the port the answers go to, or null to refuse it. */
  up(conn: NodeConnection, ch: number, source: number, deployment: string, replicaId: string): MessagePort | null;
  /** The replica behind `ch` is gone. */
  gone(conn: NodeConnection, ch: number, reason: string): void;
  /** The whole node is gone: told before its channels, so no call is retried onto another replica of it. */
  lost?(conn: NodeConnection): void;
}

/**
 * A gateway's connection to one node: the channels of its routers to the
 * node's replicas, carried as frames over one TCP connection. Each channel
 * has a MessagePort end on this thread; what the router posts there is
 * sent to the node, and the replica's answers are posted back to it.
 */
export class NodeConnection {
  private readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly ports = new Map<number, MessagePort>();
  /** Channels offered for a deployment this gateway had no pool for yet, by channel: claimed when its pool comes. */
  private readonly unclaimed = new Map<number, { source: number; deployment: string; replicaId: string }>();
  private closed = false;
  /** Resolves once connected; rejects when the node cannot be reached. */
  readonly ready: Promise<void>;
  /** Why it could not connect (e.g. `ECONNREFUSED`), or null while connecting and once connected. */
  failure: string | null = null;
  /** True once the connection was made. */
  connected = false;

  constructor(
    readonly node: NodeRecord,
    private readonly events: ReplicaEvents,
    private readonly onClose: (conn: NodeConnection) => void,
  ) {
    this.socket = connect(node.port, node.host);
    this.socket.setNoDelay(true);
    // An address that drops packets would hold the connect for the OS's minutes.
    this.socket.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!this.connected) this.socket.destroy(Object.assign(new Error(`no answer within ${CONNECT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' }));
    });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => {
        this.connected = true;
        this.socket.setTimeout(0);
        resolve();
      });
      this.socket.once('error', reject);
    });
    this.ready.catch(() => {});
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.connected) this.failure = err.code ?? err.message;
    });
    this.socket.on('data', (chunk) => {
      let messages: unknown[];
      try {
        messages = this.reader.push(chunk);
      } catch {
        this.socket.destroy();
        return;
      }
      for (const m of messages) this.onMessage(m as NodeToGateway);
    });
    this.socket.on('close', () => this.close());
  }

  private send(msg: GatewayToNode): void {
    if (!this.closed) this.socket.write(frame(msg));
  }

  /** Asks for channels to every replica of the node for the router numbered `source`. */
  attach(source: number): void {
    this.send({ t: 'attach', source });
  }

  private onMessage(msg: NodeToGateway): void {
    if (msg.t === 'up') {
      this.open(msg.ch, msg.source, msg.deployment, msg.replicaId);
      return;
    }
    if (msg.t === 'gone') {
      this.unclaimed.delete(msg.ch);
      if (this.ports.delete(msg.ch)) this.events.gone(this, msg.ch, msg.reason);
      return;
    }
    this.ports.get(msg.ch)?.postMessage(msg.m as FromActor);
  }

  private open(ch: number, source: number, deployment: string, replicaId: string): void {
    const port = this.events.up(this, ch, source, deployment, replicaId);
    if (!port) {
      this.unclaimed.set(ch, { source, deployment, replicaId });
      return;
    }
    this.unclaimed.delete(ch);
    this.ports.set(ch, port);
    port.on('message', (m: ToActor) => this.send({ t: 'msg', ch, m: ownedToActor(m) }));
  }

  /**
   * Offers again the channels to `deployment`'s replicas that came before
   * its pool did (a gateway meets its nodes while its pools are still being
   * made): without this, a replica already running would never get calls
   * from this gateway.
   */
  claim(deployment: string): void {
    for (const [ch, offer] of [...this.unclaimed]) if (offer.deployment === deployment) this.open(ch, offer.source, offer.deployment, offer.replicaId);
  }

  /** Closes the connection: every channel on it is gone (the routers retry their calls elsewhere). */
  close(reason = `node ${this.node.id} is gone (its connection closed)`): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.events.lost?.(this);
    for (const ch of [...this.ports.keys()]) {
      this.ports.delete(ch);
      this.events.gone(this, ch, reason);
    }
    this.onClose(this);
  }
}
