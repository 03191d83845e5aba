import { Redis, type RedisOptions } from 'ioredis';
import type { LoadedModel } from '../replicas/protocol.js';
import type { ReplicaStats } from '../replicas/replica.js';
import type { Assignment } from './placement.js';

/** A node as its heartbeat describes it. */
/** A replica as its node reports it: its stats, less what each gateway counts for itself (calls in flight, sessions). */
export type ReplicaReport = { deployment: string } & Omit<ReplicaStats, 'ongoing' | 'sessions' | 'node'>;

export interface NodeRecord {
  id: string;
  /** Where gateways connect to reach its replicas. */
  host: string;
  port: number;
  cpus: number;
  gpus: number;
  /** This run of the node (random): two processes given one id are told apart by it. */
  instance: string;
  /** Epoch ms: when the node started, and when it last beat. */
  startedAt: number;
  beatAt: number;
  /** Its replicas: their states and figures (batches, rows, latency, models...), as it last reported them. */
  replicas: ReplicaReport[];
  /** Why a deployment's replicas fail to start here, by deployment. */
  failures?: Record<string, string>;
}

/** What the controller decided: where replicas go, what fits nowhere, and why the targets are what they are. */
export interface AssignmentRecord {
  version: number;
  /** The gateway that wrote it (the controller then). */
  by: string;
  at: number;
  assignment: Assignment;
  pending: Record<string, number>;
  /** Replicas wanted, by deployment. */
  targets: Record<string, number>;
}

/** What a node learned of a deployment's model when its first replica loaded it, for the gateways. */
export type ModelRecord = LoadedModel;

/** One gateway's load on a deployment, summed over gateways by the controller. */
export interface DeploymentLoad {
  queued: number;
  ongoing: number;
}

/** Compare-and-renew, compare-and-delete: only the holder touches the lock. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** A node's beat: written unless another run of a node with its id holds the key, whose record is answered then. */
const BEAT = `local cur = redis.call('get', KEYS[1])
if cur and cjson.decode(cur).instance ~= ARGV[2] then return cur end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false`;
/** A node's leaving: its key goes only if this run of it holds it. */
const LEAVE = `local cur = redis.call('get', KEYS[1])
if cur and cjson.decode(cur).instance == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`;

/**
 * Ferry's state in Redis, under one prefix (`ferry:` by default): node
 * heartbeats (a key per node with a TTL), the controller's lock, the config
 * the controller serves, its assignment of replicas to nodes, what each
 * deployment's model is, and each gateway's load (keys with a TTL). Every
 * call fails fast while Redis is unreachable (no offline queue) and the
 * client reconnects by itself.
 */
export class ClusterStore {
  readonly redis: Redis;

  constructor(
    url: string,
    private readonly prefix = 'ferry:',
    options: RedisOptions = {},
  ) {
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
      lazyConnect: true,
      ...options,
    });
    // Errors show as failed commands; the client keeps reconnecting.
    this.redis.on('error', () => {});
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /** The channel every change is announced on (a new assignment, a node's replicas). */
  get channel(): string {
    return this.key('events');
  }

  /** Connects; rejects when Redis does not answer. */
  async connect(): Promise<void> {
    await this.redis.connect();
    // ioredis selects the URL's database on connect but goes on in database 0 when Redis refuses it.
    const db = this.redis.options.db ?? 0;
    if (db !== 0) {
      try {
        await this.redis.select(db);
      } catch (err) {
        this.redis.disconnect();
        throw new Error(`Redis has no database ${db} (${(err as Error).message}); pick one below its \`databases\` setting (16 by default)`);
      }
    }
  }

  /** True while the connection is up. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  /**
   * Writes a node's heartbeat, unless another run of a node with the same id
   * beats already: then nothing is written and that node's record is
   * returned (null when written).
   */
  async writeNode(node: NodeRecord, ttlMs: number): Promise<NodeRecord | null> {
    const other = (await this.redis.eval(BEAT, 1, this.key('node', node.id), JSON.stringify(node), node.instance, String(ttlMs))) as string | null;
    return other === null ? null : (JSON.parse(other) as NodeRecord);
  }

  /** Removes a node's heartbeat, if `instance` (this run of it) wrote it. */
  async removeNode(id: string, instance: string): Promise<void> {
    await this.redis.eval(LEAVE, 1, this.key('node', id), instance);
  }

  /** Every node whose heartbeat has not lapsed. */
  async nodes(): Promise<NodeRecord[]> {
    const keys = await this.scan(this.key('node', '*'));
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as NodeRecord).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  private async scan(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  }

  /** Takes the controller lock for `holder` if nobody holds it; true when taken. */
  async tryLock(holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key('controller'), holder, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extends `holder`'s lock; false when it holds it no more. */
  async renewLock(holder: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW, 1, this.key('controller'), holder, String(ttlMs))) === 1;
  }

  async releaseLock(holder: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key('controller'), holder);
  }

  /** Who holds the controller lock, or null. */
  async lockHolder(): Promise<string | null> {
    return this.redis.get(this.key('controller'));
  }

  async writeConfig(config: unknown): Promise<void> {
    await this.redis.set(this.key('config'), JSON.stringify(config));
  }

  async config<T>(): Promise<T | null> {
    const v = await this.redis.get(this.key('config'));
    return v === null ? null : (JSON.parse(v) as T);
  }

  async writeAssignment(record: AssignmentRecord): Promise<void> {
    await this.redis.set(this.key('assignment'), JSON.stringify(record));
    await this.redis.publish(this.channel, 'assignment');
  }

  async assignment(): Promise<AssignmentRecord | null> {
    const v = await this.redis.get(this.key('assignment'));
    return v === null ? null : (JSON.parse(v) as AssignmentRecord);
  }

  async writeModel(deployment: string, model: ModelRecord): Promise<void> {
    await this.redis.set(this.key('model', deployment), JSON.stringify(model));
  }

  async model(deployment: string): Promise<ModelRecord | null> {
    const v = await this.redis.get(this.key('model', deployment));
    return v === null ? null : (JSON.parse(v) as ModelRecord);
  }

  /** A code deployment's userConfig as a gateway last set it (server.reconfigure), for every node to apply. */
  async writeUserConfig(deployment: string, userConfig: unknown): Promise<void> {
    await this.redis.set(this.key('user-config', deployment), JSON.stringify({ userConfig }));
    await this.announce('user-config');
  }

  /** The userConfigs set since start, by deployment (absent where none was). */
  async userConfigs(deployments: readonly string[]): Promise<Map<string, string>> {
    if (deployments.length === 0) return new Map();
    const values = await this.redis.mget(deployments.map((d) => this.key('user-config', d)));
    const out = new Map<string, string>();
    deployments.forEach((d, i) => {
      if (values[i] !== null) out.set(d, values[i]!);
    });
    return out;
  }

  /** A gateway's load on every deployment, kept `ttlMs` (a gateway gone stops counting). */
  async writeLoad(gateway: string, loads: Record<string, DeploymentLoad>, ttlMs: number): Promise<void> {
    await this.redis.set(this.key('load', gateway), JSON.stringify(loads), 'PX', ttlMs);
  }

  async removeLoad(gateway: string): Promise<void> {
    await this.redis.del(this.key('load', gateway), this.key('unreachable', gateway));
  }

  /** The nodes a gateway has not reached for a while, with why (kept `ttlMs`, rewritten each pass; none removes the key). */
  async writeUnreachable(gateway: string, nodes: Record<string, string>, ttlMs: number): Promise<void> {
    if (Object.keys(nodes).length === 0) await this.redis.del(this.key('unreachable', gateway));
    else await this.redis.set(this.key('unreachable', gateway), JSON.stringify(nodes), 'PX', ttlMs);
  }

  /**
   * Nodes that every live gateway (one whose load key lives) reports it
   * cannot reach, with each gateway's reason: no call could get to a replica
   * placed there.
   */
  async unreachableNodes(): Promise<Map<string, string[]>> {
    const gateways = (await this.scan(this.key('load', '*'))).map((k) => k.slice(this.key('load', '').length));
    if (gateways.length === 0) return new Map();
    const values = await this.redis.mget(gateways.map((g) => this.key('unreachable', g)));
    const reports = values.map((v) => (v === null ? {} : (JSON.parse(v) as Record<string, string>)));
    const out = new Map<string, string[]>();
    for (const node of Object.keys(reports[0])) {
      if (reports.every((r) => node in r)) out.set(node, reports.map((r, i) => `${gateways[i]}: ${r[node]}`));
    }
    return out;
  }

  /** Every live gateway's load, summed by deployment. */
  async loads(): Promise<Record<string, DeploymentLoad>> {
    const keys = await this.scan(this.key('load', '*'));
    const sum: Record<string, DeploymentLoad> = {};
    if (keys.length === 0) return sum;
    for (const v of await this.redis.mget(keys)) {
      if (v === null) continue;
      for (const [d, l] of Object.entries(JSON.parse(v) as Record<string, DeploymentLoad>)) {
        const s = (sum[d] ??= { queued: 0, ongoing: 0 });
        s.queued += l.queued;
        s.ongoing += l.ongoing;
      }
    }
    return sum;
  }

  /** Announces a change to every subscriber. */
  async announce(what: string): Promise<void> {
    await this.redis.publish(this.channel, what);
  }

  /** A second connection that calls `onEvent` with every announcement (subscribed connections can do nothing else). */
  subscriber(onEvent: (what: string) => void): Redis {
    const sub = this.redis.duplicate();
    sub.on('error', () => {});
    sub.on('message', (_channel: string, what: string) => onEvent(what));
    // The client subscribes again by itself after a reconnect.
    void sub.connect().then(() => sub.subscribe(this.channel)).catch(() => {});
    return sub;
  }
}
