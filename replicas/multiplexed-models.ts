import { join } from 'node:path';
import { OnnxSession, type OnnxruntimeGate, type SessionOptions } from './onnx-session.js';
import type { ModelMetadata, TensorSpec } from './tensor.js';

/** What a replica reports as it loads and lets go of models: by index in the deployment's list. */
export interface MultiplexGauges {
  loaded(index: number): void;
  evicted(index: number): void;
}

/** What a replica of a multiplexed deployment is given. */
export interface MultiplexSpec {
  /** The folder holding `<modelId>.onnx` for every model id. */
  directory: string;
  /** The deployment's model ids, in the order the shared table indexes them. */
  modelIds: string[];
  /** Models one replica keeps loaded; the least recently used beyond it is released. */
  maxModelsPerReplica: number;
  /** The shared table of models held, and this replica's slot there (thread replicas; a process reports to its host). */
  held: { buffer: SharedArrayBuffer; slots: number; slot: number } | null;
}

const specText = (s: TensorSpec) => `${s.name} ${s.dtype} [${s.shape.join(', ')}]`;

/** Why `got` does not serve the deployment's interface `want`, or null when it does (names, dtypes and shapes alike). */
export function signatureMismatch(want: ModelMetadata, got: ModelMetadata): string | null {
  for (const side of ['inputs', 'outputs'] as const) {
    const a = want[side].map(specText).join('; ');
    const b = got[side].map(specText).join('; ');
    if (a !== b) return `its ${side} are ${b || 'none'}, the deployment's are ${a}`;
  }
  return null;
}

/**
 * The models one replica of a multiplexed deployment holds (Ray Serve's
 * model multiplexing): each loaded on its first call, kept while used, and
 * the least recently used released (its native memory freed) once a new
 * one has loaded past `maxModelsPerReplica` (for that moment the replica
 * holds one more). Every model must have the interface of
 * the first in the list, which each replica loads at start to learn it.
 * Calls run one batch at a time, so a session is never released mid-run.
 */
export class MultiplexedModels {
  /** Loaded sessions, least recently used first (a Map keeps insertion order). */
  private readonly sessions = new Map<string, OnnxSession>();
  private readonly index: Map<string, number>;
  private interface: ModelMetadata | null = null;

  constructor(
    private readonly spec: Omit<MultiplexSpec, 'held'>,
    private readonly options: SessionOptions,
    private readonly gate: OnnxruntimeGate,
    private readonly gauges: MultiplexGauges,
  ) {
    this.index = new Map(spec.modelIds.map((id, i) => [id, i]));
  }

  /** The model ids loaded now, least recently used first. */
  get loaded(): string[] {
    return [...this.sessions.keys()];
  }

  /** True while `modelId` is loaded here. */
  holds(modelId: string): boolean {
    return this.sessions.has(modelId);
  }

  /** Loads the first model, whose interface every model must share; rejects with onnxruntime's error. */
  start(): Promise<OnnxSession> {
    return this.session(this.spec.modelIds[0]);
  }

  /**
   * The session of `modelId`, loaded now if it is not held (releasing the
   * least recently used beyond the bound). Rejects for an id not in the
   * deployment's list, a file onnxruntime cannot load, or a model whose
   * inputs or outputs differ from the deployment's.
   */
  async session(modelId: string): Promise<OnnxSession> {
    const held = this.sessions.get(modelId);
    if (held) {
      this.sessions.delete(modelId);
      this.sessions.set(modelId, held);
      return held;
    }
    const index = this.index.get(modelId);
    if (index === undefined) throw new Error(`model '${modelId}' is not one of this deployment's models`);
    // Loaded before anything is evicted: a model that fails to load costs the replica nothing it held.
    const session = await OnnxSession.open(join(this.spec.directory, `${modelId}.onnx`), this.options, this.gate);
    if (this.interface) {
      const why = signatureMismatch(this.interface, session.metadata);
      if (why) {
        await session.release();
        throw new Error(`model '${modelId}' cannot be served by this deployment: ${why} (a multiplexed deployment's models share one interface)`);
      }
    } else this.interface = session.metadata;
    while (this.sessions.size >= this.spec.maxModelsPerReplica) await this.evictOldest();
    this.sessions.set(modelId, session);
    this.gauges.loaded(index);
    return session;
  }

  private async evictOldest(): Promise<void> {
    const [oldest, session] = this.sessions.entries().next().value!;
    this.sessions.delete(oldest);
    this.gauges.evicted(this.index.get(oldest)!);
    await session.release();
  }
}
