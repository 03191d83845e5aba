/*
 * The processes of `npm run bench -- distributed`, each in its own:
 *   embedded              Ferry on one machine (the MLP, one replica)
 *   node <redis>          a cluster node offering one cpu
 *   gateway <redis>       a cluster gateway for the same deployment
 *   bullmq-worker <redis> a BullMQ worker running each job's batch on a local pool (the transport measured against the direct one)
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ClusterGateway } from '../cluster/cluster-gateway.js';
import { NodeAgent } from '../cluster/node-agent.js';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { ReplicaPool, type TensorMap } from '../replicas/index.js';
import { serveForBench } from './serve-for-bench.js';

const [role, redisUrl] = process.argv.slice(2);
const mlp = { name: 'mlp', model: './mlp.onnx', numReplicas: 1, resources: { cpus: 1 }, maxOngoingRequests: 256, maxQueuedRequests: 4096 };
const config = () => validateConfig({ http: { port: 0 }, node: { cpus: 1 }, deployments: [mlp] }, modelPath('bench.config.ts'));
const leave = (stop: () => Promise<unknown>) => process.on('disconnect', () => void stop().then(() => process.exit(0)));

if (role === 'embedded') {
  await serveForBench({ http: { port: 0 }, node: { cpus: 1 }, deployments: [mlp] });
} else if (role === 'node') {
  const agent = new NodeAgent({ redisUrl, id: 'bench-node', cpus: 1, gpus: 0, listenHost: '127.0.0.1' });
  await agent.start();
  process.send?.({ url: `node:${agent.listenPort}` });
  leave(() => agent.stop(1000));
} else if (role === 'gateway') {
  const server = await FerryServer.start(config(), { cluster: new ClusterGateway({ redisUrl }) });
  process.send?.({ url: server.url });
  leave(() => server.close(1000));
} else if (role === 'bullmq-worker') {
  // The node's side of a BullMQ transport: each job is one gathered batch, its tensors base64 in the job's JSON; the answer goes back the same way.
  const pool = new ReplicaPool(config().deployments[0]);
  await pool.start();
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker<{ rows: number; input: string }, { logits: string }>(
    'bench-batches',
    async (job) => {
      const data = Buffer.from(job.data.input, 'base64');
      const inputs: TensorMap = { input: { dtype: 'float32', dims: [job.data.rows, 784], data: new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) } };
      const out = await pool.infer(inputs, job.data.rows);
      const logits = out.logits.data as Float32Array;
      return { logits: Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength).toString('base64') };
    },
    { connection, concurrency: 256 },
  );
  await worker.waitUntilReady();
  process.send?.({ url: 'bullmq' });
  leave(async () => {
    await worker.close();
    connection.disconnect();
    await pool.stop(0);
  });
}
