import { FerryServer, validateConfig, type FerryConfig } from '../index.js';
import { modelPath } from '../models/index.js';

/**
 * Runs a Ferry for a bench in this (child) process: tells the parent its URL,
 * answers `{type: 'stats', id}` with the pools' counters, kills a replica on
 * `{type: 'kill', deployment}`, and stops when the
 * parent disconnects. Model paths are relative to models/.
 */
export async function serveForBench(config: FerryConfig): Promise<void> {
  const server = await FerryServer.start(validateConfig(config, modelPath('bench.config.ts')));
  process.send?.({ url: server.url });
  process.on('message', (msg: { type?: string; id?: number; deployment?: string }) => {
    if (msg?.type === 'stats') process.send?.({ id: msg.id, stats: server.stats() });
    // Failure drills: kill one ready replica of a deployment, as a crash would.
    if (msg?.type === 'kill') {
      const pool = server.pools.get(msg.deployment ?? '');
      const victim = pool?.stats().replicas.find((r) => r.state === 'ready');
      if (pool && victim) pool.killReplica(victim.id);
    }
  });
  process.on('disconnect', () => void server.close(1000).then(() => process.exit(0)));
}
