import { readdirSync, statSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  FIXED_AT_START,
  insideDirectory,
  planConfigChange,
  type DeploymentConfig,
  type FerryConfig,
  validateConfig,
  type DeploymentChange,
  type ResolvedConfig,
  type ResolvedDeployment,
  type ValidateOptions,
} from './deployments/index.js';
import { boundTarget, type InferenceTarget, type RepositoryEntry, type ShutdownState, type TargetBinding } from './gateway/index.js';
import { ReplicaPool, type ServingPool } from './replicas/index.js';
import { clampReplicas } from './autoscaler/index.js';
import { BodyInvalidError, ConfigInvalidError, ConfigRefusedError, ConfigUpdateInvalidError, NotServedError, ReplicaStartError } from './errors.js';

/** One deployment serving now: its config, its pool, and what its gateway target is bound to. */
export interface LiveDeployment {
  config: ResolvedDeployment;
  pool: ServingPool;
  binding: TargetBinding;
  /** The size and modification time of its model and handler files when its pool started. */
  files: string;
}

/** Where a config update came from. */
export type UpdateOrigin = 'watch' | 'api' | 'repository';

/** One config update, as `ferry status` shows it: what it changed and how it ended. */
export interface UpdateRecord {
  /** When it was asked for (epoch ms). */
  at: number;
  origin: UpdateOrigin;
  /** `applied`: serving the new config; `refused`: invalid, or changes what is fixed at start; `failed`: new replicas did not start. The old config serves on after either of the last two. */
  result: 'applied' | 'refused' | 'failed';
  /** Why it was refused or failed; what handlers said of a new userConfig; '' otherwise. */
  reason: string;
  changes: DeploymentChange[];
  /** From the ask until the old replicas had drained, ms. */
  durationMs: number;
}

/** What {@link LiveDeployments} is given. */
export interface LiveOptions {
  /** Makes a deployment's pool (not started); `index` is its place in the config's deployments. */
  makePool(d: ResolvedDeployment, index: number): ServingPool;
  shutdown: ShutdownState;
  /** How a config given by the admin API or a repository load is validated (devices, node). */
  validate: ValidateOptions;
  /** How long replaced and removed pools get to finish their calls. */
  graceMs(): number;
  /** Told of each deployment's pool and autoscaling as an update settles (the autoscaler, the ingress threads, gauges). */
  onServing(live: readonly LiveDeployment[], stopped: readonly ServingPool[]): Promise<void>;
  /** Told when a replaced or removed pool has stopped. */
  onStopped(pool: ServingPool): void;
  /** Told of each update as it ends. */
  onRecord(record: UpdateRecord): void;
  /** Why this server takes no update (a cluster gateway), or null. */
  refusal: string | null;
  /** Lends the node room for an update's new replicas until the old ones give theirs back (see NodeResources.lend). */
  lend(r: { cpus: number; gpus: number }): () => void;
}


/** True for a plain file; false for anything else, or a path through a file (ENOTDIR). */
function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** The models a repository holds: `{name}.onnx` and `{name}/model.onnx`, by name. */
function repositoryModels(dir: string | null): string[] {
  if (dir === null) return [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const names = entries.flatMap((e) => {
    if (e.name.endsWith('.onnx') && isFile(join(dir, e.name))) return [e.name.slice(0, -'.onnx'.length)];
    if (e.isDirectory() && isFile(join(dir, e.name, 'model.onnx'))) return [e.name];
    return [];
  });
  return [...new Set(names)].filter((n) => REPOSITORY_NAME.test(n)).sort();
}

/** Updates kept for status. */
const HISTORY = 50;

/** Size and modification time of a deployment's files: a new file at the same path starts new replicas. */
function fingerprintOf(d: ResolvedDeployment): string {
  const files = [d.model, d.handler, ...Object.values(d.models)].filter((f): f is string => f !== null);
  return files
    .map((f) => {
      try {
        const s = statSync(f);
        return `${f}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join('|');
}

/** A deployment name the repository may take from a URL: no path separators, no dot-dot. */
const REPOSITORY_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** Config keys a repository load's `parameters.config` may not set: files are the repository's. */
const FILE_KEYS = ['model', 'models', 'handler', 'requestRouter', 'multiplex'];

/**
 * The registry of deployments serving now, and the one place they change:
 * a config update (a watched file, `PUT /-/config`) or a repository load or
 * unload. Updates run one at a time. Each is planned whole (see
 * planConfigChange) and refused whole; new pools start beside the old ones
 * and take traffic only once all are ready; old pools then drain (their
 * calls finish, up to the shutdown grace) and stop.
 */
export class LiveDeployments {
  private readonly live = new Map<string, LiveDeployment>();
  /** What the gateways serve, by deployment name; updates add, rebind and remove entries in place. */
  readonly targets = new Map<string, InferenceTarget>();
  /** Deployments unloaded through the repository, kept for the index and a later load. */
  private readonly unloaded = new Map<string, DeploymentConfig>();
  /** Why the last load of a model not serving failed, by name, for the index. */
  private readonly failedLoads = new Map<string, string>();
  /** Deployments loaded from the repository rather than the config: their settings are a load's to give. */
  private readonly fromRepository = new Set<string>();
  private readonly records: UpdateRecord[] = [];
  /** Changes in progress, for the index: LOADING or UNLOADING by name. */
  private readonly moving = new Map<string, 'LOADING' | 'UNLOADING'>();
  private queue: Promise<unknown> = Promise.resolve();
  private generation = 0;

  constructor(
    private current: ResolvedConfig,
    pools: readonly ServingPool[],
    private readonly opts: LiveOptions,
  ) {
    current.deployments.forEach((d, i) => this.add(d, pools[i]));
  }

  /** The config serving now (deployments unloaded through the repository left out). */
  get config(): ResolvedConfig {
    return this.current;
  }

  /** Deployments serving now, in the config's order. */
  entries(): LiveDeployment[] {
    return [...this.live.values()];
  }

  get(name: string): LiveDeployment | undefined {
    return this.live.get(name);
  }

  /** Updates so far, oldest first (the last 50). */
  history(): UpdateRecord[] {
    return [...this.records];
  }

  private add(d: ResolvedDeployment, pool: ServingPool): LiveDeployment {
    const binding: TargetBinding = { route: d, source: pool };
    const entry = { config: d, pool, binding, files: fingerprintOf(d) };
    this.live.set(d.name, entry);
    this.targets.set(d.name, boundTarget(binding, this.opts.shutdown));
    return entry;
  }

  private record(r: Omit<UpdateRecord, 'durationMs'>, began: number): UpdateRecord {
    const done = { ...r, durationMs: Math.round(performance.now() - began) };
    this.records.push(done);
    if (this.records.length > HISTORY) this.records.shift();
    this.opts.onRecord(done);
    return done;
  }

  /** Runs `step` after every update before it. */
  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(step, step);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Applies a config given as JSON (the admin API), validated against this
   * config's folder. Rejects with ConfigUpdateInvalidError (400) when it
   * fails validation, ConfigRefusedError (409) when it changes what is fixed
   * at start, ReplicaStartError (503) when new replicas fail to start; the
   * config serving before goes on in each case, and the update is recorded.
   */
  applyJson(raw: unknown, origin: UpdateOrigin = 'api'): Promise<UpdateRecord> {
    return this.apply(async () => {
      // What is fixed while serving may be left out: it stays as it is.
      const body = { ...(raw as Record<string, unknown>) };
      const given = this.given() as unknown as Record<string, unknown>;
      for (const key of FIXED_AT_START) if (!(key in body) && given[key] !== undefined) body[key] = given[key];
      try {
        return validateConfig(body, this.current.source, this.opts.validate);
      } catch (err) {
        if (!(err instanceof ConfigInvalidError)) throw err;
        const problems = err.message.replace(/^[^\n]*\n/, '');
        throw new ConfigUpdateInvalidError(`the config sent is invalid (relative paths resolve against ${dirname(this.current.source)}):\n${problems}`);
      }
    }, origin);
  }

  /** Applies the config `load` returns (a watched file, reloaded); rejects as {@link applyJson} does. */
  apply(load: () => Promise<ResolvedConfig>, origin: UpdateOrigin, reload: ReadonlySet<string> = new Set()): Promise<UpdateRecord> {
    return this.serial(async () => {
      const began = performance.now();
      const at = Date.now();
      let next: ResolvedConfig;
      try {
        next = await load();
      } catch (err) {
        const reason = (err as Error).message;
        this.record({ at, origin, result: 'refused', reason, changes: [] }, began);
        // Errors made here already say the update was refused; one from loading a file says so now
        // (by constructor: registry errors sharing a code are instances of each other).
        throw (err as Error).constructor === ConfigInvalidError ? new ConfigUpdateInvalidError(reason) : err;
      }
      return this.change(next, origin, reload, at, began);
    });
  }

  private async change(next: ResolvedConfig, origin: UpdateOrigin, reload: ReadonlySet<string>, at: number, began: number): Promise<UpdateRecord> {
    const refusal = this.opts.shutdown.active ? 'Ferry is shutting down' : this.opts.refusal;
    if (refusal) {
      this.record({ at, origin, result: 'refused', reason: refusal, changes: [] }, began);
      throw new ConfigRefusedError(refusal);
    }
    const plan = planConfigChange(this.current, next, {
      modelFilesChanged: (d) => fingerprintOf(d) !== this.live.get(d.name)?.files,
      mostReplicas: (name) => {
        const pool = this.live.get(name)?.pool;
        return pool instanceof ReplicaPool ? pool.mostReplicas : 0;
      },
    });
    for (const name of reload) {
      const i = plan.changes.findIndex((c) => c.deployment === name);
      const fields = i >= 0 && 'fields' in plan.changes[i] ? (plan.changes[i] as { fields: string[] }).fields : [];
      const replace: DeploymentChange = { deployment: name, action: 'replace', fields: [...fields, 'reload'] };
      if (i >= 0) plan.changes[i] = replace;
      else plan.changes.push(replace);
    }
    if (plan.refused.length > 0) {
      const reason = plan.refused.join('; ');
      this.record({ at, origin, result: 'refused', reason, changes: plan.changes }, began);
      throw new ConfigRefusedError(reason);
    }
    const byName = new Map(next.deployments.map((d, i) => [d.name, { d, i }]));
    // New pools start beside the old ones; nothing moves until every one is ready.
    const starting = plan.changes.flatMap((c) => {
      if (c.action !== 'add' && c.action !== 'replace') return [];
      const { d, i } = byName.get(c.deployment)!;
      // A replacement starts as many replicas as the deployment runs now (within its new bounds), as Ray Serve's
      // rolling update keeps the count: the load the old ones carry moves to as many new ones.
      const old = c.action === 'replace' ? this.live.get(d.name)!.pool : null;
      const sized = old && d.autoscaling ? { ...d, autoscaling: { ...d.autoscaling, initialReplicas: clampReplicas(Math.max(1, old.targetReplicas), d.autoscaling) } } : d;
      const pool = this.opts.makePool(sized, i);
      if (old && pool instanceof ReplicaPool) {
        pool.peerKey = `${d.name}@${++this.generation}`;
        pool.continueIdsFrom(old);
      }
      this.moving.set(d.name, 'LOADING');
      return [{ c, d, pool }];
    });
    // New replicas may use the room the old ones give back by the end of the update (replaced, removed, or
    // holding a smaller share): both run for the drain, as a blue-green swap does, even on a full node.
    const lent = { cpus: 0, gpus: 0 };
    for (const c of plan.changes) {
      const pool = this.live.get(c.deployment)?.pool;
      if (!(pool instanceof ReplicaPool) || c.action === 'add') continue;
      const back = pool.givesBack(c.action === 'adjust' ? byName.get(c.deployment)!.d.resources : null);
      lent.cpus += back.cpus;
      lent.gpus += back.gpus;
    }
    const giveBack = this.opts.lend(lent);
    for (const s of starting) s.pool.reserveFirst();
    const started = await Promise.allSettled(starting.map((s) => s.pool.start()));
    // A shutdown that began meanwhile stops what this update started, as it stops everything else.
    const failed = this.opts.shutdown.active ? 0 : started.findIndex((s) => s.status === 'rejected');
    if (failed >= 0 && starting.length > 0) {
      await Promise.all(starting.map((s) => s.pool.stop(0)));
      giveBack();
      for (const s of starting) this.moving.delete(s.d.name);
      const name = starting[failed].d.name;
      const err = started[failed].status === 'rejected' ? ((started[failed] as PromiseRejectedResult).reason as Error & { reason?: string }) : null;
      // A start failure's own reason, not its whole message: the error below names the deployment again.
      const why = err ? (err.reason ?? err.message) : 'Ferry began shutting down';
      this.record({ at, origin, result: 'failed', reason: `${name}: ${why}`, changes: plan.changes }, began);
      throw new ReplicaStartError(name, `${why} (the config serving before goes on)`);
    }
    const pools = new Map(starting.map((s) => [s.d.name, s.pool]));
    const stopping: ServingPool[] = [];
    const said: string[] = [];
    for (const c of plan.changes) {
      const entry = this.live.get(c.deployment);
      if (c.action === 'remove') {
        this.live.delete(c.deployment);
        this.targets.delete(c.deployment);
        stopping.push(entry!.pool);
        this.moving.set(c.deployment, 'UNLOADING');
        continue;
      }
      const d = byName.get(c.deployment)!.d;
      if (c.action === 'add') {
        this.add(d, pools.get(d.name)!);
        this.unloaded.delete(d.name);
        this.failedLoads.delete(d.name);
        continue;
      }
      entry!.config = d;
      entry!.binding.route = d;
      if (c.action === 'replace') {
        stopping.push(entry!.pool);
        entry!.pool = pools.get(d.name)!;
        entry!.binding.source = entry!.pool;
        entry!.files = fingerprintOf(d);
      } else if (entry!.pool instanceof ReplicaPool) {
        for (const e of await entry!.pool.adjust(d)) said.push(`${e.replica}: reconfigure threw: ${e.error}`);
      }
    }
    // The registry keeps the new config's order.
    const order = [...this.live.values()].sort((a, b) => byName.get(a.config.name)!.i - byName.get(b.config.name)!.i);
    this.live.clear();
    for (const e of order) this.live.set(e.config.name, e);
    this.current = next;
    for (const s of starting) this.moving.delete(s.d.name);
    await this.opts.onServing(order, stopping);
    await Promise.all(
      stopping.map(async (pool) => {
        await pool.stop(this.opts.graceMs());
        this.moving.delete(pool.name);
        this.opts.onStopped(pool);
      }),
    );
    giveBack();
    return this.record({ at, origin, result: 'applied', reason: said.join('; '), changes: plan.changes }, began);
  }

  /** The config serving now, as it was written (the repository's loads and unloads applied): what `GET /-/config` answers. */
  given(): FerryConfig {
    return this.current.given ?? { deployments: [] };
  }

  /**
   * The config serving when its turn comes, its written deployments changed
   * by `change`, validated whole as a file would be: the shares Ferry settles
   * for deployments without resources.cpus come out as a PUT of it would.
   */
  private withDeployments(change: (now: DeploymentConfig[]) => DeploymentConfig[]): () => Promise<ResolvedConfig> {
    return async () => {
      const given = { ...this.given(), deployments: change(this.given().deployments) };
      try {
        return validateConfig(given, this.current.source, this.opts.validate);
      } catch (err) {
        if (!(err instanceof ConfigInvalidError)) throw err;
        throw new ConfigUpdateInvalidError(`the config with this load or unload is invalid:\n${err.message.replace(/^[^\n]*\n/, '')}`);
      }
    };
  }

  /**
   * Loads a model, as Triton's `POST /v2/repository/models/{name}/load`
   * does: one serving is reloaded (new replicas read its files again, then
   * take the traffic); one unloaded starts again; any other is
   * `{name}.onnx` or `{name}/model.onnx` in the model repository, served
   * with the defaults, or with `configText` (a deployment's config as JSON,
   * without file paths; for a model of the config, its settings are the
   * config's to change). Throws NotServedError (404) when there is no such
   * model, BodyInvalidError (400) for a bad name or config.
   */
  async load(name: string, configText: string | null): Promise<UpdateRecord> {
    const serving = this.live.has(name);
    const unloaded = this.unloaded.get(name);
    if (configText !== null && (serving || unloaded) && !this.fromRepository.has(name)) {
      throw new BodyInvalidError(
        `model '${name}' is one of the config's: change its settings in the config (the file, or PUT /-/config); parameters.config sets those of models loaded from the repository`,
      );
    }
    const without = (now: DeploymentConfig[]) => now.filter((e) => e.name !== name);
    try {
      if (serving && configText === null) return await this.apply(this.withDeployments((now) => now), 'repository', new Set([name]));
      if (unloaded && configText === null) return await this.apply(this.withDeployments((now) => [...without(now), unloaded]), 'repository');
      const entry = this.repositoryEntry(name, configText);
      const record = await this.apply(
        this.withDeployments((now) => (serving ? now.map((e) => (e.name === name ? entry : e)) : [...without(now), entry])),
        'repository',
        serving ? new Set([name]) : new Set(),
      );
      this.fromRepository.add(name);
      return record;
    } catch (err) {
      // A model of the repository or the config that does not serve shows in the index with why its load failed.
      const known = this.unloaded.has(name) || repositoryModels(this.current.modelRepository).includes(name);
      if (!this.live.has(name) && known) this.failedLoads.set(name, `load failed: ${(err as Error).message}`);
      throw err;
    }
  }

  /** A deployment of the repository's model file `name`, with `configText`'s settings. */
  private repositoryEntry(name: string, configText: string | null): DeploymentConfig {
    const dir = this.current.modelRepository;
    if (!REPOSITORY_NAME.test(name)) throw new BodyInvalidError(`'${name}' is not a model name the repository takes (letters, digits, '_', '-', '.'; no path)`);
    let settings: Record<string, unknown> = {};
    if (configText !== null) {
      try {
        settings = JSON.parse(configText) as Record<string, unknown>;
      } catch (err) {
        throw new BodyInvalidError(`parameters.config is not valid JSON: ${(err as Error).message}`);
      }
      if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw new BodyInvalidError('parameters.config must be a JSON object: a deployment’s config');
      const named = FILE_KEYS.filter((k) => k in settings);
      if (named.length > 0) throw new BodyInvalidError(`parameters.config may not set ${named.join(', ')}: a repository load serves the repository's file`);
      if ('name' in settings && settings.name !== name) throw new BodyInvalidError(`parameters.config names '${String(settings.name)}', but the load is of '${name}'`);
    }
    if (dir === null) throw new NotServedError(`model '${name}' is not in the config, and no modelRepository is configured to load it from`);
    const file = [join(dir, `${name}.onnx`), join(dir, name, 'model.onnx')].find(isFile);
    if (!file) throw new NotServedError(`model '${name}' is not in the model repository ${dir} (looked for ${name}.onnx and ${name}/model.onnx)`);
    if (!insideDirectory(file, dir)) throw new NotServedError(`model '${name}' leads outside the model repository ${dir}`);
    const given = { ...settings, name, model: file } as DeploymentConfig;
    // Checked alone first, so its problems are named by what the load sent.
    try {
      validateConfig({ modelRepository: dir, deployments: [given] }, this.current.source, { ...this.opts.validate, checkNode: false });
      return given;
    } catch (err) {
      if (!(err instanceof ConfigInvalidError)) throw err;
      const problems = err.message.replace(/^[^\n]*\n/, '').replaceAll('deployments[0].', '');
      throw new ConfigUpdateInvalidError(`parameters.config of '${name}' is invalid:\n${problems}`);
    }
  }

  /** Unloads a model, as Triton's `/unload`: its replicas drain and stop; it stays in the index, UNAVAILABLE, until loaded again. */
  async unload(name: string): Promise<UpdateRecord | null> {
    const entry = this.live.get(name);
    if (!entry) {
      if (this.unloaded.has(name)) return null;
      throw new NotServedError(`model '${name}' is not served here, so there is nothing to unload`);
    }
    const was = this.given().deployments.find((e) => e.name === name) ?? { name, model: entry.config.model ?? undefined };
    const record = await this.apply(this.withDeployments((now) => now.filter((e) => e.name !== name)), 'repository');
    this.unloaded.set(name, was);
    return record;
  }

  /** The repository index: every deployment serving, loading, draining or unloaded, with its state and why. */
  index(): RepositoryEntry[] {
    const rows: RepositoryEntry[] = [];
    const seen = new Set<string>();
    for (const t of this.targets.values()) {
      seen.add(t.name);
      const moving = this.moving.get(t.name);
      const names = [t.name, ...[...(t.modelIds ?? [])].map((id) => `${t.name}/${id}`)];
      const reason = moving === 'LOADING' ? `${t.reason ? `${t.reason}; ` : ''}new replicas starting` : t.reason;
      for (const n of names) rows.push({ name: n, version: t.version ?? '', state: t.state, reason });
    }
    for (const [name, state] of this.moving) {
      if (seen.has(name)) continue;
      seen.add(name);
      rows.push({ name, version: '', state, reason: state === 'LOADING' ? 'its replicas are starting' : 'its replicas are draining' });
    }
    for (const d of this.unloaded.values()) {
      if (seen.has(d.name)) continue;
      seen.add(d.name);
      rows.push({ name: d.name, version: d.version ?? '', state: 'UNAVAILABLE', reason: 'unloaded' });
    }
    for (const [name, reason] of this.failedLoads) {
      if (seen.has(name)) continue;
      seen.add(name);
      rows.push({ name, version: '', state: 'UNAVAILABLE', reason });
    }
    // Models in the repository never loaded, as Triton lists every model its repository holds.
    for (const name of repositoryModels(this.current.modelRepository)) if (!seen.has(name)) rows.push({ name, version: '', state: 'UNAVAILABLE', reason: 'not loaded' });
    return rows;
  }
}
