import t from 'tap';
import { validateConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { deviceUnavailableReason, ReplicaPool, ReplicaStartFailedError } from '../replicas/index.js';

t.test('a cuda replica on a machine without CUDA fails to start with the reason, in the replica itself', async (t) => {
  const reason = deviceUnavailableReason('cuda');
  if (reason === null) {
    t.pass('this machine has the CUDA provider and a driver; the CPU-only path is not exercised here');
    return;
  }
  // Validated without the device check, as a config edited after load would be.
  const config = validateConfig({ deployments: [{ name: 'gpu', model: './mlp.onnx', device: 'cuda' }] }, modelPath('x.ts'));
  const pool = new ReplicaPool(config.deployments[0]);
  const err = await pool.start().then(
    () => null,
    (e: unknown) => e,
  );
  t.type(err, ReplicaStartFailedError);
  t.equal((err as ReplicaStartFailedError).code, 'FERRY_ERR_DEVICE_UNAVAILABLE');
  // Not compared with `reason` (that would be the function checking itself): what a user must read.
  t.match((err as ReplicaStartFailedError).reason, /'cuda' needs .*use device 'cpu'/);
  t.equal(pool.ready, false);
});

t.test('cpu is always available', async (t) => {
  t.equal(deviceUnavailableReason('cpu'), null);
});
