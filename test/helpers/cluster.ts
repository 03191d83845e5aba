import type { Test } from 'tap';
import { ClusterGateway } from '../../cluster/cluster-gateway.js';
import { NodeAgent } from '../../cluster/node-agent.js';
import { FerryServer, validateConfig, type DeploymentConfig } from '../../index.js';
import { modelPath } from '../../models/index.js';
import type { TestRedis } from './redis.js';

/** The cluster's timing in tests: a node is gone 1.5 s after its last beat, a controller pass every 200 ms. */
export const TIMING = { heartbeatTtlMs: 1500, heartbeatEveryMs: 500, controlIntervalMs: 200, lockTtlMs: 1500 };
/** The same for `ferry` processes. */
export const TIMING_ENV = { FERRY_HEARTBEAT_TTL_MS: '1500', FERRY_CONTROL_INTERVAL_MS: '200', FERRY_CONTROLLER_LOCK_TTL_MS: '1500' };

/** A node in the test's process, offering `cpus`; stopped when the test ends. */
export async function startNode(t: Test, redis: TestRedis, id: string, cpus = 2): Promise<NodeAgent> {
  const agent = new NodeAgent({ redisUrl: redis.url, id, cpus, gpus: 0, timing: TIMING });
  await agent.start();
  t.teardown(() => agent.stop(1000));
  return agent;
}

/** A cluster gateway in the test's process serving `deployments`; closed when the test ends. Its cluster log lines go to `log`. */
export async function startGateway(
  t: Test,
  redis: TestRedis,
  deployments: DeploymentConfig[],
  extra: Record<string, unknown> = {},
  log?: (level: 'info' | 'warn', msg: string) => void,
): Promise<FerryServer> {
  const config = validateConfig({ http: { port: 0 }, node: { cpus: 16 }, ...extra, deployments }, modelPath('ferry.config.ts'));
  const server = await FerryServer.start(config, { cluster: new ClusterGateway({ redisUrl: redis.url, timing: TIMING, ...(log ? { log } : {}) }) });
  t.teardown(() => server.close(1000));
  return server;
}
