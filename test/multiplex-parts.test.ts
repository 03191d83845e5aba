import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import t from 'tap';
import { handleCalls } from '../gateway/handle-calls.js';
import { modelIdFor, modelIdHeader } from '../gateway/model-id.js';
import { validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { HeldModels, ModelAwareRouter, MultiplexedModels, type SlotCandidate } from '../replicas/index.js';
import { NO_GATE, ReplicaActor } from '../replicas/replica-actor.js';
import type { FromReplica } from '../replicas/protocol.js';
import { directRun, maxAbsDiff, randomRow } from './helpers/ferry.js';

/*
 * Multiplexing's parts in the test's own process, with real onnxruntime
 * sessions: the config, the shared table of models held, the model-aware
 * router, and a replica's models loaded and released.
 */

const TENANTS = dirname(modelPath('tenants/alpha.onnx'));
const source = modelPath('ferry.config.ts');
const validate = (d: Record<string, unknown>) => validateConfig({ http: { port: 0 }, node: { cpus: 4 }, deployments: [{ name: 'm', ...d }] }, source);

/** A folder of models: the tenants' `alpha` and `beta`, and `odd` (the MLP, another interface). */
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-multiplex-'));
  copyFileSync(join(TENANTS, 'alpha.onnx'), join(dir, 'alpha.onnx'));
  copyFileSync(join(TENANTS, 'beta.onnx'), join(dir, 'beta.onnx'));
  copyFileSync(modelPath('mlp.onnx'), join(dir, 'odd.onnx'));
  return dir;
}

t.test('config: multiplex reads the model ids of its folder, defaults to the model-aware router, and refuses what cannot work', async (t) => {
  const ok = validate({ multiplex: { directory: TENANTS } }).deployments[0];
  t.same(ok.multiplex, { directory: TENANTS, maxModelsPerReplica: 3, modelIds: ['alpha', 'beta', 'delta', 'gamma'] });
  t.equal(ok.requestRouter, 'model-aware');
  t.equal(validate({ multiplex: { directory: TENANTS, maxModelsPerReplica: 1 }, requestRouter: 'power-of-two-choices' }).deployments[0].requestRouter, 'power-of-two-choices');

  const dir = mkdtempSync(join(tmpdir(), 'ferry-multiplex-ids-'));
  for (const f of ['ready.onnx', '-dash.onnx', 'notes.txt']) writeFileSync(join(dir, f), '');
  copyFileSync(join(TENANTS, 'alpha.onnx'), join(dir, 'ok-1.onnx'));
  mkdirSync(join(dir, 'folder.onnx'));
  const skipping = validate({ multiplex: { directory: dir } });
  t.same(skipping.deployments[0].multiplex?.modelIds, ['ok-1']);
  t.match(skipping.warnings.join('\n'), /-dash\.onnx \(a model id is letters.*folder\.onnx \(not a file\).*ready\.onnx \('ready' is the name of a route/s);

  const empty = mkdtempSync(join(tmpdir(), 'ferry-multiplex-empty-'));
  t.throws(() => validate({ multiplex: { directory: empty } }), /multiplex\.directory: no model to serve/);
  t.throws(() => validate({ multiplex: { directory: join(empty, 'nowhere') } }), /multiplex\.directory: folder not found/);
  t.throws(() => validate({ multiplex: { directory: modelPath('mlp.onnx') } }), /multiplex\.directory: not a folder/);
  t.throws(() => validate({ model: modelPath('mlp.onnx'), multiplex: { directory: TENANTS } }), /model and multiplex exclude each other/);
  t.throws(() => validate({ handler: fileURLToPath(new URL('./fixtures/handlers/double.ts', import.meta.url)), multiplex: { directory: TENANTS } }), /a handler cannot multiplex/);
  t.throws(() => validate({ model: modelPath('mlp.onnx'), requestRouter: 'model-aware' }), /'model-aware' routes the models of a multiplexed deployment/);
  t.throws(() => validate({ multiplex: { directory: TENANTS, maxModelsPerReplica: 0 } }), /maxModelsPerReplica/);
  const mixed = folder();
  t.throws(
    () => validate({ multiplex: { directory: mixed } }),
    /models share one interface, and these differ: alpha, beta have inputs x type 1 \[\?, 256\]; outputs scores type 1 \[\?, 4\]; odd has inputs input type 1 \[\?, 784\]/,
  );
  writeFileSync(join(mixed, 'odd.onnx'), 'junk');
  t.throws(() => validate({ multiplex: { directory: mixed } }), /odd\.onnx is not an ONNX model/);
  t.throws(() => validate({ multiplex: { directory: TENANTS, extra: 1 } }), /extra/);
});

t.test('the table of models held: bits per replica slot past 32 models, counts, and a slot forgotten when reused', async (t) => {
  const table = new HeldModels(3, 40);
  const view = new HeldModels(3, 40, table.buffer);
  table.loaded(1, 0);
  table.loaded(1, 33);
  table.loaded(2, 33);
  t.ok(view.holds(1, 33) && view.holds(1, 0) && !view.holds(1, 32) && !view.holds(0, 33), 'another view reads the same bits');
  t.same(view.held(1), [0, 33]);
  t.equal(view.count(1), 2);
  table.evicted(1, 0);
  t.same(view.held(1), [33]);
  t.same(view.slotCounts(1), { loads: 2, evictions: 1 });
  t.same(view.totals(), { loads: 3, evictions: 1 });
  table.clear(1);
  t.same([view.held(1), view.count(1), view.slotCounts(1)], [[], 0, { loads: 0, evictions: 0 }], 'a new replica starts with nothing');
  t.same(view.totals(), { loads: 3, evictions: 1 }, "the deployment's totals stay");
  t.same(view.held(2), [33], 'other slots untouched');
});

t.test('the model-aware router: holders of the model first, then replicas holding fewest models, ties the same for every ingress', async (t) => {
  const table = new HeldModels(4, 4);
  const ids = ['alpha', 'beta', 'gamma', 'delta'];
  const c = (slot: number, ongoing = 0): SlotCandidate => ({ slot, generation: 1, replicaId: `m#${slot + 1}`, ongoing, modelIds: [] });
  const router = new ModelAwareRouter({ deployment: 'm', maxOngoingRequests: 4 }, table, ids);
  const call = (modelId: string | null) => ({ deployment: 'm', sessionId: null, modelId });
  const all = [c(0), c(1), c(2), c(3)];
  table.loaded(2, 1);
  t.equal(router.chooseReplicas(all, call('beta'))[0], all[2], 'the only holder first');
  t.equal(router.chooseReplicas(all, call('beta')).length, 4, 'the others after it');
  table.loaded(0, 1);
  const both = router.chooseReplicas([c(0, 3), c(1), c(2, 1), c(3)], call('beta')).slice(0, 2).map((x) => (x as SlotCandidate).slot);
  t.same(both.sort(), [0, 2], 'every holder ahead of every other');
  t.same((router.chooseReplicas([c(0), c(1), c(2, 4), c(3)], call('beta'))[0] as SlotCandidate).slot, 0, 'a full holder is skipped');
  // gamma is held nowhere: slots 1 and 3 hold no model, so one of them; the same one every time, and in another router.
  const fresh = (router.chooseReplicas(all, call('gamma'))[0] as SlotCandidate).slot;
  t.ok(fresh === 1 || fresh === 3, `an empty replica first (${fresh})`);
  const other = new ModelAwareRouter({ deployment: 'm', maxOngoingRequests: 4 }, new HeldModels(4, 4, table.buffer), ids);
  for (let i = 0; i < 5; i++) t.equal((other.chooseReplicas(all, call('gamma'))[0] as SlotCandidate).slot, fresh, 'rendezvous hashing agrees');
  t.equal(router.chooseReplicas([c(0, 4), c(1, 4)], call('gamma')).length, 0, 'full replicas are never offered');
  t.equal((router.chooseReplicas([c(1, 3), c(3, 0)], call('delta'))[0] as SlotCandidate).slot, 3, 'of replicas holding as many models, the one holding fewer calls');
  t.equal(router.chooseReplicas(all, call(null)).length, 4, 'a call naming no model goes by power of two choices');
  t.equal(router.chooseReplicas(all, call('zeta')).length, 4, 'nor one naming a model the router does not know');
});

t.test("a replica's models: loaded on first use, the least recently used released beyond the bound, one interface", async (t) => {
  const dir = folder();
  const events: string[] = [];
  const models = new MultiplexedModels(
    { directory: dir, modelIds: ['alpha', 'beta', 'odd'], maxModelsPerReplica: 2 },
    { device: 'cpu', intraOpThreads: 1 },
    NO_GATE,
    { loaded: (i) => events.push(`+${i}`), evicted: (i) => events.push(`-${i}`) },
  );
  const first = await models.start();
  t.same(first.metadata.inputs.map((i) => [i.name, i.dtype, i.shape]), [['x', 'float32', [-1, 256]]]);
  const row = randomRow(7, 256);
  const x = { x: { dtype: 'float32' as const, dims: [1, 256], data: Float32Array.from(row) } };
  for (const id of ['beta', 'alpha']) {
    const got = (await (await models.session(id)).run(x)).outputs.scores.data as Float32Array;
    const want = (await directRun(`tenants/${id}.onnx`, { x: new ort.Tensor('float32', Float32Array.from(row), [1, 256]) })).scores.data as Float32Array;
    t.ok(maxAbsDiff(got, want) < 1e-5, `${id} answers as its own file does`);
  }
  t.same(models.loaded, ['beta', 'alpha'], 'least recently used first');
  t.same(events, ['+0', '+1'], 'held models are not loaded again');
  await t.rejects(models.session('odd'), /model 'odd' cannot be served by this deployment: its inputs are .* the deployment's are x float32 \[-1, 256\]/);
  t.same(events, ['+0', '+1'], 'refused before anything was evicted');
  t.same(models.loaded, ['beta', 'alpha'], 'what it held, it holds');
  await t.rejects(models.session('zeta'), /model 'zeta' is not one of this deployment's models/);
  await models.session('beta');
  t.same(models.loaded, ['alpha', 'beta']);
  copyFileSync(join(TENANTS, 'alpha.onnx'), join(dir, 'alpha.onnx'));
  writeFileSync(join(dir, 'odd.onnx'), 'not a model');
  await t.rejects(models.session('odd'));
  t.same(models.loaded, ['alpha', 'beta'], 'a file that does not load evicts nothing');
});

t.test('a replica actor of a multiplexed deployment: ready with its first model, runs the model each batch names', async (t) => {
  const sent: FromReplica[] = [];
  const actor = new ReplicaActor((msg) => sent.push(msg));
  const spec = {
    deployment: 'm',
    replicaId: 'm#1',
    modelPath: null,
    multiplex: { directory: TENANTS, modelIds: ['alpha', 'beta'], maxModelsPerReplica: 1, held: null },
    models: {},
    handlerPath: null,
    handlerExport: 'default',
    userConfig: undefined,
    routeMethods: [],
    device: 'cpu' as const,
    intraOpThreads: 1,
    batching: { maxBatchSize: 4, batchWaitTimeoutMs: 0, targetLatencyMs: null, mode: 'auto' as const },
    counters: null,
  };
  t.same((await actor.init(spec))?.outputs.map((o) => o.name), ['scores']);
  t.match(sent, [{ type: 'model-loaded', index: 0 }, { type: 'ready' }], 'a process replica reports its loads to its host');
  const x = { x: { dtype: 'float32' as const, dims: [2, 256], data: new Float32Array(512).fill(0.25) } };
  const loading = await actor.run(x, 'beta');
  t.same(loading.outputs.scores.dims, [2, 4]);
  t.ok(loading.loadMs! > 0, 'the run that loaded its model says how long the load took');
  t.equal((await actor.run(x, 'beta')).loadMs, undefined, 'one whose model was held, nothing');
  t.same(sent.slice(2), [{ type: 'model-evicted', index: 0 }, { type: 'model-loaded', index: 1 }]);
  t.same(actor.modelsHeld, ['beta']);
  await t.rejects(actor.run(x), /must name its model/);
});

t.test('eviction releases native memory: resident memory after 200 load/evict cycles stays within 10% of where it began', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/multiplex-cycles.ts', import.meta.url));
  // 60 cycles first, so the allocators have settled (Node 24's heap grows longer before it does) before the 200 measured.
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', script, '200', '60'], { encoding: 'utf8', timeout: 90_000 });
  t.equal(run.status, 0, run.stderr);
  const { before, after, loads, evictions, held } = JSON.parse(run.stdout);
  t.equal(loads, 520, 'every call loaded its model: one held at a time');
  t.equal(evictions, 519, 'and released the other');
  t.same(held, ['beta']);
  t.ok(after <= before * 1.1, `RSS ${(before / 2 ** 20).toFixed(0)} MiB before, ${(after / 2 ** 20).toFixed(0)} MiB after`);
});

t.test('the model a request names: from its path or ferry-model-id, checked against the deployment', async (t) => {
  const many = { name: 'm', modelIds: new Set(['a', 'b', 'c', 'd', 'e', 'f']) };
  const one = { name: 'one', modelIds: null };
  t.equal(modelIdFor(many, 'b', undefined), 'b');
  t.equal(modelIdFor(many, undefined, 'c'), 'c');
  t.equal(modelIdFor(many, 'c', 'c'), 'c', 'the same model twice is one model');
  t.equal(modelIdFor(one, undefined, undefined), undefined);
  t.throws(() => modelIdFor(many, undefined, undefined), { statusCode: 400, message: /it serves a, b, c, d, e, \.\.\./ });
  t.throws(() => modelIdFor(many, 'a', 'b'), { statusCode: 400, message: /two models/ });
  t.throws(() => modelIdFor(many, undefined, 7, 'modelId'), { statusCode: 400, message: /modelId must be a string \(got number\)/ });
  t.throws(() => modelIdFor(many, undefined, 'z'), { statusCode: 404, message: /'m\/z'/ });
  t.throws(() => modelIdFor(one, 'a', undefined), { statusCode: 404, message: /'one\/a'/ });
  t.throws(() => modelIdFor(one, undefined, 'a'), { statusCode: 400, message: /serves one model/ });
  t.equal(modelIdHeader({ headers: { 'ferry-model-id': 'a' } }), 'a');
  t.equal(modelIdHeader({ headers: {} }), undefined);
  t.throws(() => modelIdHeader({ headers: { 'ferry-model-id': ['a', 'b'] as unknown as string } }), { statusCode: 400, message: /given 2 times/ });
  // Node joins a repeated header with ', ': the values apart say it came twice.
  t.throws(() => modelIdHeader({ headers: { 'ferry-model-id': 'a, b' }, headersDistinct: { 'ferry-model-id': ['a', 'b'] } }), { statusCode: 400, message: /given 2 times/ });
});

t.test('a handle call names a model only to infer: a call to a method with one is refused', async (t) => {
  let called = 0;
  const call = handleCalls(() => ({
    requestTimeoutMs: 1000,
    batching: false,
    servesInference: true,
    runsCode: true,
    metadata: null,
    modelIds: null,
    infer: async () => ({}),
    callRoute: async () => (called++, '{}'),
  }));
  await t.rejects(call('code', {}, { modelId: 'beta' }, { method: 'feed', body: {} }), { statusCode: 400, message: /modelId names a model to infer; a call to 'feed' takes none/ });
  t.same(await call('code', {}, {}, { method: 'feed', body: {} }), {});
  t.equal(called, 1, 'only the call without a model reached the deployment');
});
