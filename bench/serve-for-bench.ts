import { FerryServer, validateConfig, type FerryConfig } from '../index.js';
import { modelPath } from '../models/index.js';

/**
 * Runs a Ferry for a bench in this (child) process: tells the parent its URL,
 * answers `{type: 'stats', id}` with the pools' counters, and stops when the
 * parent disconnects. Model paths are relative to models/.
 */
export async function serveForBench(config: FerryConfig): Promise<void> {
  const server = await FerryServer.start(validateConfig(config, modelPath('bench.config.ts')));
  process.send?.({ url: server.url });
  process.on('message', (msg: { type?: string; id?: number }) => {
    if (msg?.type === 'stats') process.send?.({ id: msg.id, stats: server.stats() });
  });
  process.on('disconnect', () => void server.close(1000).then(() => process.exit(0)));
}
