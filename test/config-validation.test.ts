import t from 'tap';
import { defaultIngressThreads, validateConfig, type FerryConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { deviceUnavailableReason } from '../replicas/index.js';

const source = modelPath('ferry.config.ts');
const mlp = { name: 'mlp', model: './mlp.onnx' };

/** Validates and returns the error message ('' when valid); any error but FERRY_ERR_CONFIG_INVALID is rethrown. */
function problems(config: unknown, opts = {}): string {
  try {
    validateConfig(config, source, opts);
    return '';
  } catch (err) {
    if ((err as { code?: string }).code !== 'FERRY_ERR_CONFIG_INVALID') throw err;
    return (err as Error).message;
  }
}

const rules: [string, unknown, RegExp][] = [
  ['unknown top-level key', { deployments: [mlp], extra: 1 }, /extra is not a known key/],
  ['unknown deployment key', { deployments: [{ ...mlp, replicas: 2 }] }, /deployments\[0\]\.replicas is not a known key/],
  ['unknown batching key', { deployments: [{ ...mlp, batching: { size: 2 } }] }, /deployments\[0\]\.batching\.size is not a known key/],
  ['deployments required', {}, /deployments is required/],
  ['deployments not empty', { deployments: [] }, /deployments must list at least 1 item/],
  ['name required', { deployments: [{ model: './mlp.onnx' }] }, /deployments\[0\]\.name is required/],
  ['a model or a handler required', { deployments: [{ name: 'x' }] }, /deployments\[0\] \(x\) needs a model \(an ONNX file\), a multiplex folder of models, or a handler/],
  ['name pattern', { deployments: [{ ...mlp, name: 'has space' }] }, /deployments\[0\]\.name must match/],
  ['port is an integer', { http: { port: '80' }, deployments: [mlp] }, /http\.port: expected integer \(got "80"\)/],
  ['port range', { http: { port: 70000 }, deployments: [mlp] }, /http\.port must be <= 65535/],
  ['maxBatchSize >= 1', { deployments: [{ ...mlp, batching: { maxBatchSize: 0 } }] }, /deployments\[0\]\.batching\.maxBatchSize must be an integer >= 1 \(got 0\)/],
  ['maxBatchSize integer', { deployments: [{ ...mlp, batching: { maxBatchSize: 2.5 } }] }, /maxBatchSize: expected integer \(got 2\.5\)/],
  ['batchWaitTimeoutMs >= 0', { deployments: [{ ...mlp, batching: { batchWaitTimeoutMs: -1 } }] }, /batchWaitTimeoutMs must be a number >= 0 \(got -1\)/],
  ['batching is a boolean or an object', { deployments: [{ ...mlp, batching: 'yes' }] }, /deployments\[0\]\.batching must be one of true, false, an object \(got "yes"\)/],
  ['explicit cpus fit together', { node: { cpus: 2 }, deployments: [{ ...mlp, resources: { cpus: 1.5 } }, { ...mlp, name: 'b', resources: { cpus: 1 } }] }, /deployments\[1\] \(b\) reserves resources\.cpus 1 for its first replica, but the node offers 2 cpus/],
  ['numReplicas >= 1', { deployments: [{ ...mlp, numReplicas: 0 }] }, /numReplicas must be an integer >= 1 \(got 0\)/],
  ['intraOpThreads >= 1', { deployments: [{ ...mlp, intraOpThreads: 0 }] }, /intraOpThreads must be an integer >= 1/],
  ['maxOngoingRequests >= 1', { deployments: [{ ...mlp, maxOngoingRequests: 0 }] }, /maxOngoingRequests must be an integer >= 1/],
  ['maxQueuedRequests >= 0', { deployments: [{ ...mlp, maxQueuedRequests: -5 }] }, /maxQueuedRequests must be an integer >= 0/],
  ['device enum', { deployments: [{ ...mlp, device: 'tpu' }] }, /deployments\[0\]\.device must be one of "cpu", "cuda" \(got "tpu"\)/],
  ['host and replicaHost exclude each other', { deployments: [{ ...mlp, host: 'process', replicaHost: 'thread' }] }, /deployments\[0\]: host is the old name of replicaHost; give only replicaHost/],
  ['replicaHost enum', { deployments: [{ ...mlp, replicaHost: 'remote' }] }, /deployments\[0\]\.replicaHost must be one of "thread", "process"/],
  ['host enum', { deployments: [{ ...mlp, host: 'remote' }] }, /deployments\[0\]\.host must be one of "thread", "process"/],
  ['routePrefix form', { deployments: [{ ...mlp, routePrefix: 'mlp/' }] }, /deployments\[0\]\.routePrefix must match/],
  ['bodyLimitBytes minimum', { http: { bodyLimitBytes: 10 }, deployments: [mlp] }, /http\.bodyLimitBytes must be an integer >= 1024/],
  ['version form', { deployments: [{ ...mlp, version: 'v 1' }] }, /deployments\[0\]\.version must match/],
  ['requestTimeoutMs >= 1', { deployments: [{ ...mlp, requestTimeoutMs: 0 }] }, /requestTimeoutMs must be an integer >= 1 \(got 0\)/],
  ['receiveTimeoutMs >= 100', { http: { receiveTimeoutMs: 10 }, deployments: [mlp] }, /http\.receiveTimeoutMs must be an integer >= 100/],
  ['maxTensorElements >= 1', { http: { maxTensorElements: 0 }, deployments: [mlp] }, /http\.maxTensorElements must be an integer >= 1/],
  ['autoscaling keys known', { deployments: [{ ...mlp, autoscaling: { min: 1 } }] }, /deployments\[0\]\.autoscaling\.min is not a known key/],
  ['autoscaling minReplicas >= 0', { deployments: [{ ...mlp, autoscaling: { minReplicas: -1 } }] }, /autoscaling\.minReplicas must be an integer >= 0/],
  ['autoscaling maxReplicas >= 1', { deployments: [{ ...mlp, autoscaling: { maxReplicas: 0 } }] }, /autoscaling\.maxReplicas must be an integer >= 1/],
  ['autoscaling min <= max', { deployments: [{ ...mlp, autoscaling: { minReplicas: 3, maxReplicas: 2 } }] }, /autoscaling\.minReplicas 3 is above maxReplicas 2/],
  ['autoscaling initial within bounds', { deployments: [{ ...mlp, autoscaling: { minReplicas: 1, maxReplicas: 2, initialReplicas: 5 } }] }, /initialReplicas 5 is outside \[minReplicas 1, maxReplicas 2\]/],
  ['autoscaling target > 0', { deployments: [{ ...mlp, autoscaling: { targetOngoingRequests: 0 } }] }, /targetOngoingRequests: expected number to be greater than 0/],
  ['autoscaling factor > 0', { deployments: [{ ...mlp, autoscaling: { upscalingFactor: 0 } }] }, /upscalingFactor: expected number to be greater than 0/],
  ['autoscaling delays >= 0', { deployments: [{ ...mlp, autoscaling: { upscaleDelayMs: -1 } }] }, /upscaleDelayMs must be an integer >= 0/],
  ['autoscaling interval >= 10 ms', { deployments: [{ ...mlp, autoscaling: { metricsIntervalMs: 1 } }] }, /metricsIntervalMs must be an integer >= 10/],
  ['numReplicas excludes autoscaling', { deployments: [{ ...mlp, numReplicas: 2, autoscaling: {} }] }, /numReplicas and autoscaling exclude each other/],
  ['resources non-negative', { deployments: [{ ...mlp, resources: { cpus: -1 } }] }, /resources\.cpus must be a number >= 0/],
  ['resources fit an empty node', { node: { cpus: 2 }, deployments: [{ ...mlp, resources: { cpus: 4 } }] }, /deployments\[0\] \(mlp\)\.resources \(4 cpus, 0 gpus per replica\) do not fit even an empty node \(2 cpus, 0 gpus\): lower deployments\[0\]\.resources\.cpus or raise node\.cpus/],
  ['node keys known', { node: { memory: 1 }, deployments: [mlp] }, /node\.memory is not a known key/],
  ['model file exists', { deployments: [{ ...mlp, model: './missing.onnx' }] }, /deployments\[0\]\.model: file not found: .*missing\.onnx/],
  ['model is a file', { deployments: [{ ...mlp, model: '.' }] }, /deployments\[0\]\.model: not a file/],
  ['names unique', { deployments: [mlp, { ...mlp }] }, /deployments\[1\]\.name "mlp" is already used by deployments\[0\]/],
  ['route prefixes unique', { deployments: [{ ...mlp, routePrefix: '/a' }, { ...mlp, name: 'b', routePrefix: '/a' }] }, /deployments\[1\]\.routePrefix \/a is already used/],
  ['route prefixes do not collide with each other\'s routes', { deployments: [{ ...mlp, routePrefix: '/m' }, { ...mlp, name: 'b', routePrefix: '/m/infer' }] }, /deployments\[1\]\.routePrefix \/m\/infer is the \/infer route of deployments\[0\] \(routePrefix \/m\)/],
  ['scale to zero needs a queue', { deployments: [{ ...mlp, maxQueuedRequests: 0, autoscaling: { minReplicas: 0 } }] }, /deployments\[0\]: autoscaling\.minReplicas 0 with maxQueuedRequests 0 refuses the request that would start a replica/],
  ['route prefix outside Ferry routes', { deployments: [{ ...mlp, routePrefix: '/v2/x' }] }, /inside Ferry's own \/v2 routes/],
  ['a router is built in or a module', { deployments: [{ ...mlp, requestRouter: 'fancy' }] }, /requestRouter "fancy" is neither a built-in router \(power-of-two-choices, session-affinity, model-aware\) nor a module/],
  ['numbers JSON cannot write are named as written', { deployments: [{ ...mlp, batching: { targetLatencyMs: Infinity } }] }, /got Infinity/],
];

for (const [rule, config, pattern] of rules) {
  t.test(rule, async (t) => t.match(problems(config), pattern));
}

t.test('one error lists every problem', async (t) => {
  const msg = problems({ http: { port: -1 }, deployments: [{ name: 'a', model: './mlp.onnx', numReplicas: 0, batching: { maxBatchSize: 0 } }] });
  t.match(msg, /http\.port/);
  t.match(msg, /numReplicas/);
  t.match(msg, /maxBatchSize/);
  t.equal(msg.split('\n  - ').length - 1, 3, 'three problems, one per line');
});

t.test('a missing model file and an unusable device are listed with the schema problems, in one round', async (t) => {
  const msg = problems(
    { http: { port: -1 }, deployments: [{ name: 'a', model: './nope.onnx', device: 'cuda' }, { ...mlp, name: 'b', numReplicas: 0 }] },
    { checkDevice: (d: string) => (d === 'cuda' ? 'no GPU here' : null) },
  );
  t.match(msg, /http\.port/);
  t.match(msg, /deployments\[1\]\.numReplicas/);
  t.match(msg, /deployments\[0\]\.model: file not found: .*nope\.onnx/);
  t.match(msg, /deployments\[0\]\.device: no GPU here/);
});

t.test('cuda is refused with the reason where this machine cannot run it', async (t) => {
  const reason = deviceUnavailableReason('cuda');
  const msg = problems({ deployments: [{ ...mlp, device: 'cuda' }] }, { checkDevice: deviceUnavailableReason });
  if (reason === null) t.equal(msg, '', 'a CUDA machine accepts it');
  else {
    t.match(msg, /deployments\[0\]\.device: /);
    t.match(msg, reason.includes('ONNXRUNTIME_NODE_INSTALL') ? /ONNXRUNTIME_NODE_INSTALL=cuda12 npm install/ : /NVIDIA/);
  }
});

t.test('maxOngoingRequests below maxBatchSize is a warning, not an error', async (t) => {
  const config = validateConfig({ deployments: [{ ...mlp, maxOngoingRequests: 5, batching: { maxBatchSize: 32 } }] }, source);
  t.equal(config.warnings.length, 1);
  t.match(config.warnings[0], /maxOngoingRequests 5 is below batching\.maxBatchSize 32/);
});

t.test('defaults are applied and model paths resolved against the config file', async (t) => {
  const config = validateConfig({ deployments: [mlp] } satisfies FerryConfig, source);
  const d = config.deployments[0];
  t.equal(d.model, modelPath('mlp.onnx'));
  t.same(d.batching, { maxBatchSize: 32, batchWaitTimeoutMs: 0, targetLatencyMs: null, mode: 'auto' });
  t.equal(d.maxOngoingRequests, 64);
  t.equal(d.maxQueuedRequests, 1000);
  t.equal(d.device, 'cpu');
  t.equal(d.host, 'thread');
  t.same(config.http, { host: '127.0.0.1', port: 8000, bodyLimitBytes: null, maxTensorElements: 16777216, receiveTimeoutMs: 30000, ingressThreads: defaultIngressThreads(), requestLog: false });
  t.equal(d.requestTimeoutMs, 60000);
  t.equal(d.version, null);
  t.same(config.warnings, []);
});

t.test('host, the old name of replicaHost, still works with a warning', async (t) => {
  const old = validateConfig({ deployments: [{ ...mlp, host: 'process' }] }, source);
  t.equal(old.deployments[0].host, 'process');
  t.match(old.warnings.join('\n'), /deployments\[0\] \(mlp\): host is the old name of replicaHost/);
  const renamed = validateConfig({ deployments: [{ ...mlp, replicaHost: 'process' }] }, source);
  t.equal(renamed.deployments[0].host, 'process');
  t.same(renamed.warnings, []);
});

t.test('batching: false never batches, true or an object requires it', async (t) => {
  const modes = [false, true, { maxBatchSize: 4 }, undefined].map(
    (batching) => validateConfig({ deployments: [{ ...mlp, batching }] }, source).deployments[0].batching,
  );
  t.same(modes.map((b) => b.mode), ['off', 'on', 'on', 'auto']);
  t.equal(modes[2].maxBatchSize, 4);
});

/** The problems of a config, one per line, as the error lists them ([] when valid). */
function problemLines(config: unknown, opts = {}): string[] {
  const msg = problems(config, opts);
  return msg === '' ? [] : msg.split('\n  - ').slice(1);
}

t.test('one round lists the schema problems and every semantic problem of the deployments that passed the schema', async (t) => {
  const lines = problemLines({
    node: { cpus: 8 },
    deployments: [
      { ...mlp, name: 'a', numReplicas: 'two' },
      { ...mlp, name: 'b', routePrefix: '/x' },
      { ...mlp, name: 'c', routePrefix: '/x' },
      { ...mlp, name: 'd', autoscaling: { minReplicas: 0 }, maxQueuedRequests: 0 },
      { ...mlp, name: 'e', model: './missing.onnx' },
    ],
  });
  t.same(lines, [
    'deployments[0].numReplicas: expected integer (got "two")',
    'deployments[2].routePrefix /x is already used by deployments[1]',
    'deployments[3]: autoscaling.minReplicas 0 with maxQueuedRequests 0 refuses the request that would start a replica; allow a queue of at least 1',
    `deployments[4].model: file not found: ${modelPath('missing.onnx')}`,
  ]);
});

t.test('a deployment or node the schema failed is left out of the checks that would read it', async (t) => {
  const lines = problemLines({
    node: { cpus: 'many' },
    deployments: [
      { ...mlp, name: 'a', model: './missing.onnx', resources: { cpus: 'one' }, routePrefix: '/x' },
      { ...mlp, name: 'a', routePrefix: '/x', resources: { cpus: 64 } },
      { ...mlp, name: 'b', host: 'thread', replicaHost: 'thread', autoscaling: { minReplicas: 2, maxReplicas: 1 } },
    ],
  });
  t.same(lines, [
    'node.cpus: expected number (got "many")',
    'deployments[0].resources.cpus: expected number (got "one")',
    `deployments[0].model: file not found: ${modelPath('missing.onnx')}`,
    'deployments[2]: host is the old name of replicaHost; give only replicaHost',
    'deployments[2].autoscaling.minReplicas 2 is above maxReplicas 1',
    'deployments[2].autoscaling.initialReplicas 2 is outside [minReplicas 2, maxReplicas 1]',
  ], 'deployments[1] shares no name or prefix with a sound deployment, and nothing is fitted onto a node that failed the schema');
});

t.test('cpu share problems of the sound deployments come in the same round, indexed as in the config', async (t) => {
  const lines = problemLines({
    node: { cpus: 2 },
    deployments: [
      { ...mlp, name: 'a', resources: { cpus: 1.5 } },
      { ...mlp, name: 'broken', batching: { size: 2 } },
      { ...mlp, name: 'b', resources: { cpus: 1 } },
    ],
  });
  t.same(lines, [
    'deployments[1].batching.size is not a known key',
    'deployments[2] (b) reserves resources.cpus 1 for its first replica, but the node offers 2 cpus and the deployments before it already reserve 1.5: ' +
      "lower deployments[2].resources.cpus (or another deployment's), or raise node.cpus",
  ]);
});

t.test('a deployment that starts at zero but could never start a replica is refused, naming what to change', async (t) => {
  const lines = problemLines({
    node: { cpus: 2 },
    deployments: [
      { ...mlp, name: 'a', resources: { cpus: 1 } },
      { ...mlp, name: 'b', resources: { cpus: 1 }, autoscaling: { minReplicas: 1, maxReplicas: 3 } },
      { ...mlp, name: 'z', autoscaling: { minReplicas: 0 } },
    ],
  });
  t.same(lines, [
    "deployments[2] (z) starts at zero and reserves 1 cpus per replica, but the other deployments always hold 2 of the node's 2 cpus, " +
      "so it could never start one: lower deployments[2].resources.cpus, another deployment's replicas or resources, or raise node.cpus",
  ]);
});

t.test('what the others always hold counts their kept replicas, never more than the node', async (t) => {
  const lines = problemLines({
    node: { cpus: 2 },
    deployments: [
      { ...mlp, name: 'z', resources: { cpus: 0.5 }, autoscaling: { minReplicas: 0, maxReplicas: 2 } },
      { ...mlp, name: 'a', resources: { cpus: 1 }, numReplicas: 3 },
    ],
  });
  t.same(lines, [
    "deployments[0] (z) starts at zero and reserves 0.5 cpus per replica, but the other deployments always hold 2 of the node's 2 cpus, " +
      "so it could never start one: lower deployments[0].resources.cpus, another deployment's replicas or resources, or raise node.cpus",
  ]);
});

t.test('a deployment at zero is checked with the cpus the shares settle for it', async (t) => {
  const lines = problemLines({ node: { cpus: 2 }, deployments: [{ ...mlp, name: 'a', numReplicas: 3 }, { ...mlp, name: 'z', autoscaling: { minReplicas: 0 } }] });
  t.same(lines, [
    "deployments[1] (z) starts at zero and reserves 0.667 cpus per replica, but the other deployments always hold 2 of the node's 2 cpus, " +
      "so it could never start one: lower deployments[1].resources.cpus, another deployment's replicas or resources, or raise node.cpus",
  ]);
});

t.test('a deployment at zero that could never get its gpu is refused too', async (t) => {
  const lines = problemLines({
    node: { cpus: 8, gpus: 1 },
    deployments: [
      { ...mlp, name: 'a', resources: { gpus: 1 } },
      { ...mlp, name: 'z', resources: { gpus: 1 }, autoscaling: { minReplicas: 0, maxReplicas: 1 } },
    ],
  });
  t.same(lines, [
    "deployments[1] (z) starts at zero and reserves 1 gpus per replica, but the other deployments always hold 1 of the node's 1 gpus, " +
      "so it could never start one: lower deployments[1].resources.gpus, another deployment's replicas or resources, or raise node.gpus",
  ]);
});

t.test('a deployment at zero is accepted when one replica fits beside what the others keep', async (t) => {
  const config = validateConfig(
    {
      node: { cpus: 2 },
      deployments: [
        { ...mlp, name: 'a', resources: { cpus: 1 } },
        // Scales up to 3 but keeps none: it holds nothing the others could wait for.
        { ...mlp, name: 'y', resources: { cpus: 1 }, autoscaling: { minReplicas: 0, maxReplicas: 3 } },
        { ...mlp, name: 'z', resources: { cpus: 1 }, autoscaling: { minReplicas: 0, maxReplicas: 1 } },
      ],
    },
    source,
  );
  t.same(config.deployments.map((d) => d.name), ['a', 'y', 'z']);
  t.same(problemLines({ node: { cpus: 4 }, deployments: [{ ...mlp, resources: { cpus: 8 }, autoscaling: { minReplicas: 0 } }] }), [
    'deployments[0] (mlp).resources (8 cpus, 0 gpus per replica) do not fit even an empty node (4 cpus, 0 gpus): lower deployments[0].resources.cpus or raise node.cpus',
  ], 'one that fits no node is told so once');
});

t.test('timeouts past what a Node timer holds (2^31 - 1 ms) are refused, not fired at once', async (t) => {
  const err = (() => {
    try {
      validateConfig(
        { shutdownGraceMs: 3_000_000_000, deployments: [{ name: 'm', model: './mlp.onnx', requestTimeoutMs: 2_147_483_648, batchTimeoutMs: 2_147_483_647 }] },
        modelPath('x.ts'),
      );
      return null;
    } catch (e) {
      return e as Error;
    }
  })();
  t.match(err?.message, /shutdownGraceMs: expected integer ≤ 2147483647|shutdownGraceMs.*2147483647/);
  t.match(err?.message, /deployments\[0\]\.requestTimeoutMs.*2147483647/);
  t.notMatch(err?.message, /batchTimeoutMs/, 'the largest a timer holds is accepted');
});

t.test('adaptive batching warns of settings it does not use', async (t) => {
  const config = validateConfig({ deployments: [{ ...mlp, batching: { targetLatencyMs: 20, batchWaitTimeoutMs: 10, maxBatchSize: 1 } }] }, source);
  t.match(config.warnings.join('\n'), /batchWaitTimeoutMs is not used: with targetLatencyMs each replica chooses its own window/);
  t.match(config.warnings.join('\n'), /targetLatencyMs with maxBatchSize 1 has nothing to batch/);
});

t.test('a cluster gateway is not held to its own machine: a replica larger than it waits for a node', async (t) => {
  const big = { deployments: [{ ...mlp, resources: { cpus: 64 } }], node: { cpus: 2 } };
  t.match(problems(big), /do not fit even an empty node/);
  t.equal(validateConfig(big, source, { checkNode: false }).deployments[0].resources.cpus, 64);
});
