import { applyOrtEnvironment } from '../constants.js';
import { deviceUnavailableReason } from './device.js';
import { MultiplexedModels, type MultiplexGauges } from './multiplexed-models.js';
import { OnnxSession, type OnnxruntimeGate, type RunResult } from './onnx-session.js';
import type { FromReplica, ReplicaSpec } from './protocol.js';
import type { ModelMetadata, TensorMap } from './tensor.js';

export type { OnnxruntimeGate, RunResult } from './onnx-session.js';

/** Sends a control message to the host, handing over the listed buffers where the host can. */
export type Reply = (msg: FromReplica, transfer: ArrayBuffer[]) => void;

/** A no-op gate, for sessions opened where no host watches the thread. */
export const NO_GATE: OnnxruntimeGate = { enter() {}, leave() {} };

/**
 * The replica's model: one session, loaded once and run one batch at a time
 * (its mailbox decides what goes in a batch), or, for a multiplexed
 * deployment, the models its calls name, loaded on first use. The same code
 * runs in a worker thread and in a child process.
 */
export class ReplicaActor {
  private session: OnnxSession | null = null;
  private multiplexed: MultiplexedModels | null = null;

  constructor(
    private readonly reply: Reply,
    private readonly gate: OnnxruntimeGate = NO_GATE,
    /** Where a multiplexed replica reports the models it loads and lets go. */
    private readonly gauges: MultiplexGauges = { loaded: (index) => reply({ type: 'model-loaded', index }, []), evicted: (index) => reply({ type: 'model-evicted', index }, []) },
  ) {}

  /** The multiplexed models held now, least recently used first (none for a deployment of one model). */
  get modelsHeld(): string[] {
    return this.multiplexed?.loaded ?? [];
  }

  /** Loads the model and reports `ready` with its metadata, or `init-failed`; resolves with the metadata when loaded. */
  async init(spec: ReplicaSpec): Promise<ModelMetadata | null> {
    const started = performance.now();
    applyOrtEnvironment();
    const unavailable = deviceUnavailableReason(spec.device);
    if (unavailable) {
      this.reply({ type: 'init-failed', message: unavailable, code: 'FERRY_ERR_DEVICE_UNAVAILABLE' }, []);
      return null;
    }
    try {
      if (spec.multiplex) {
        this.multiplexed = new MultiplexedModels(spec.multiplex, spec, this.gate, this.gauges);
        this.session = await this.multiplexed.start();
      } else this.session = await OnnxSession.open(spec.modelPath!, spec, this.gate);
    } catch (err) {
      this.reply({ type: 'init-failed', message: (err as Error).message }, []);
      return null;
    }
    const { metadata, omittedOutputs } = this.session;
    this.reply({ type: 'ready', metadata, omittedOutputs, loadMs: performance.now() - started }, []);
    return metadata;
  }

  /**
   * Runs one batch, on the model `modelId` names where the deployment
   * multiplexes (loading it first if it is not held); rejects with
   * onnxruntime's error, or why the model cannot be loaded.
   */
  async run(inputs: TensorMap, modelId?: string): Promise<RunResult> {
    if (this.multiplexed) {
      if (modelId === undefined) throw new Error('a call to a multiplexed deployment must name its model');
      const held = this.multiplexed.holds(modelId);
      const started = performance.now();
      const session = await this.multiplexed.session(modelId);
      const result = await session.run(inputs);
      return held ? result : { ...result, loadMs: performance.now() - started - result.inferenceMs };
    }
    if (!this.session) throw new Error('replica has no loaded model');
    return this.session.run(inputs);
  }
}
