import { createServer, type Server, type Socket } from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import type { DeploymentCounters, IngressPeer, ReplicaPool, ReplicaStartFailedError } from '../replicas/index.js';
import type { FromActor } from '../replicas/protocol.js';
import type { GatewayToNode, NodeToGateway } from './transport.js';
import { frame, FrameReader, ownedFromActor } from './wire.js';

/** A channel from one gateway router to one replica, as the node relays it. */
interface Channel {
  port: MessagePort;
  deployment: string;
  slot: number;
  counters: DeploymentCounters;
  /** Calls relayed to the replica and not answered yet: counted in the replica's in-flight, so a drain waits for them. */
  outstanding: number;
}

/** Ends a number space for this node's sources: each gateway router gets its own number in every replica's mailbox. */
let nextSource = 1000;

/**
 * One gateway's connection to this node: an ingress peer of every pool for
 * each of the gateway's routers, relaying each replica channel over the
 * socket. Calls relayed count in the replica's in-flight (as an ingress on
 * this machine counts them), so a replica scaled away drains them first.
 */
class GatewayLink {
  private readonly channels = new Map<number, Channel>();
  private readonly peers: IngressPeer[] = [];
  private readonly reader = new FrameReader();
  private seq = 0;

  constructor(
    private readonly socket: Socket,
    private readonly pools: () => Iterable<ReplicaPool>,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      let messages: unknown[];
      try {
        messages = this.reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const m of messages) this.onMessage(m as GatewayToNode);
    });
    socket.on('close', () => this.close());
    socket.on('error', () => {});
  }

  private send(msg: NodeToGateway): void {
    if (!this.socket.destroyed) this.socket.write(frame(msg));
  }

  private onMessage(msg: GatewayToNode): void {
    if (msg.t === 'attach') {
      const peer = this.peer(msg.source);
      this.peers.push(peer);
      for (const pool of this.pools()) pool.connect(peer);
      return;
    }
    const ch = this.channels.get(msg.ch);
    if (!ch) return;
    if (msg.m.type === 'calls') {
      for (let i = 0; i < msg.m.calls.length; i++) ch.counters.tryClaim(ch.slot, Number.MAX_SAFE_INTEGER);
      ch.outstanding += msg.m.calls.length;
    }
    ch.port.postMessage(msg.m);
  }

  /** A pool that starts after the gateway attached gets its routers too. */
  connectPool(pool: ReplicaPool): void {
    for (const peer of this.peers) pool.connect(peer);
  }

  private peer(gatewaySource: number): IngressPeer {
    const source = nextSource++;
    return {
      source,
      replicaUp: (deployment, slot, port, replicaId) => {
        const ch = ++this.seq;
        const pool = [...this.pools()].find((p) => p.name === deployment)!;
        const channel: Channel = { port, deployment, slot, counters: pool.counters, outstanding: 0 };
        this.channels.set(ch, channel);
        port.on('message', (m: FromActor) => {
          const answered = m.answers.length;
          channel.outstanding -= answered;
          channel.counters.release(slot, answered);
          this.send({ t: 'msg', ch, m: ownedFromActor(m) });
        });
        this.send({ t: 'up', ch, source: gatewaySource, deployment, replicaId });
      },
      replicaGone: async (deployment, slot, reason) => {
        for (const [ch, c] of this.channels) {
          if (c.deployment !== deployment || c.slot !== slot) continue;
          this.drop(ch, c);
          this.send({ t: 'gone', ch, reason });
        }
      },
      atZero: () => {},
      failQueued: (_d: string, _err: ReplicaStartFailedError) => {},
    };
  }

  private drop(ch: number, c: Channel): void {
    this.channels.delete(ch);
    c.port.close();
    // Calls the replica never answered (it died) leave its count with it.
    if (c.outstanding > 0) c.counters.release(c.slot, c.outstanding);
    c.outstanding = 0;
  }

  /** The gateway went away: its routers leave every pool, and their calls stop counting. */
  close(): void {
    for (const pool of this.pools()) for (const peer of this.peers) pool.disconnect(peer);
    for (const [ch, c] of this.channels) this.drop(ch, c);
    this.peers.length = 0;
  }
}

/**
 * The node's listener for gateways: each connection relays the gateway's
 * calls to the node's replicas and their answers back.
 */
export class NodeServer {
  private readonly server: Server;
  private readonly links = new Map<GatewayLink, Socket>();

  constructor(private readonly pools: () => Iterable<ReplicaPool>) {
    this.server = createServer((socket) => {
      const link = new GatewayLink(socket, pools);
      this.links.set(link, socket);
      socket.on('close', () => this.links.delete(link));
    });
  }

  /** Listens; resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  /** A pool started after gateways connected: their routers get channels to its replicas. */
  poolStarted(pool: ReplicaPool): void {
    for (const link of this.links.keys()) link.connectPool(pool);
  }

  /** Stops listening and closes every gateway's connection. */
  async close(): Promise<void> {
    for (const [link, socket] of this.links) {
      link.close();
      socket.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}
