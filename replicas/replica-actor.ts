import ort from 'onnxruntime-node';
import { applyOrtEnvironment } from '../constants.js';
import { deviceUnavailableReason, executionProviders } from './device.js';
import type { FromReplica, OmittedOutput, ReplicaSpec } from './protocol.js';
import type { ModelMetadata, TensorDtype, TensorMap, TensorSpec, TypedArray } from './tensor.js';

/** Sends a control message to the host, handing over the listed buffers where the host can. */
export type Reply = (msg: FromReplica, transfer: ArrayBuffer[]) => void;

/** Marks the thread as inside onnxruntime (a load or a run), so its host never ends it there. */
export interface OnnxruntimeGate {
  enter(): void;
  leave(): void;
}

/** A batch's outputs and how long onnxruntime took (ms). */
export interface RunResult {
  outputs: TensorMap;
  inferenceMs: number;
}

/** Why a value that is not a tensor cannot be served (onnxruntime-node's run rejects one: "Non tensor type is temporarily not supported"). */
const NOT_A_TENSOR = 'a sequence or map, not a tensor: onnxruntime-node passes only tensors to and from JavaScript';

/** "input 'a' is" or "outputs 'a', 'b' are". */
const naming = (kind: string, names: string[]) =>
  `${kind}${names.length > 1 ? 's' : ''} ${names.map((n) => `'${n}'`).join(', ')} ${names.length > 1 ? 'are' : 'is'}`;

function toSpec(m: ort.InferenceSession.TensorValueMetadata): TensorSpec {
  return {
    name: m.name,
    dtype: m.type as TensorDtype,
    shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    dimParams: m.shape.map((d) => (typeof d === 'string' && d !== '' ? d : null)),
  };
}

/**
 * The replica's model: one InferenceSession, loaded once and run one batch
 * at a time (its mailbox decides what goes in a batch). The same code runs
 * in a worker thread and in a child process.
 */
export class ReplicaActor {
  private session: ort.InferenceSession | null = null;
  /** The outputs each run fetches: the model's tensor outputs. */
  private outputNames: string[] = [];

  constructor(
    private readonly reply: Reply,
    private readonly gate: OnnxruntimeGate = { enter() {}, leave() {} },
  ) {}

  /** Loads the model and reports `ready` with its metadata, or `init-failed`; resolves with the metadata when loaded. */
  async init(spec: ReplicaSpec): Promise<ModelMetadata | null> {
    const started = performance.now();
    applyOrtEnvironment();
    const unavailable = deviceUnavailableReason(spec.device);
    if (unavailable) {
      this.reply({ type: 'init-failed', message: unavailable, code: 'FERRY_ERR_DEVICE_UNAVAILABLE' }, []);
      return null;
    }
    this.gate.enter();
    try {
      this.session = await ort.InferenceSession.create(spec.modelPath, {
        executionProviders: executionProviders(spec.device),
        intraOpNumThreads: spec.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      this.reply({ type: 'init-failed', message: (err as Error).message }, []);
      return null;
    } finally {
      this.gate.leave();
    }
    const inputs = this.session.inputMetadata;
    const outputs = this.session.outputMetadata;
    const tensorOutputs = outputs.filter((m) => m.isTensor);
    const others = outputs.filter((m) => !m.isTensor).map((m) => m.name);
    const badInputs = inputs.filter((m) => !m.isTensor).map((m) => m.name);
    const protoNamed = [...inputs, ...outputs].filter((m) => m.name === '__proto__');
    const unservable =
      protoNamed.length > 0
        ? "a tensor is named '__proto__', which onnxruntime-node's JavaScript API cannot pass (the name sets an object's prototype); rename it in the model"
        : badInputs.length > 0
        ? `${naming('input', badInputs)} ${NOT_A_TENSOR}, so Ferry cannot feed this model`
        : tensorOutputs.length === 0
          ? `the model has no tensor output to answer with: ${naming('output', others)} ${NOT_A_TENSOR}`
          : null;
    if (unservable) {
      await this.session.release();
      this.session = null;
      this.reply({ type: 'init-failed', message: unservable }, []);
      return null;
    }
    this.outputNames = tensorOutputs.map((m) => m.name);
    const metadata: ModelMetadata = {
      inputs: inputs.filter((m) => m.isTensor).map(toSpec),
      outputs: tensorOutputs.map(toSpec),
    };
    const omittedOutputs: OmittedOutput[] = others.map((name) => ({ name, reason: NOT_A_TENSOR }));
    this.reply({ type: 'ready', metadata, omittedOutputs, loadMs: performance.now() - started }, []);
    return metadata;
  }

  /**
   * Runs one batch. Rejects with onnxruntime's error. An output that does
   * not own its whole buffer is copied, so every output's buffer can be
   * handed over.
   */
  async run(inputs: TensorMap): Promise<RunResult> {
    if (!this.session) throw new Error('replica has no loaded model');
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) {
      const tensor = new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
      // Where the runtime has Float16Array (Node 24), onnxruntime-common views float16 bits as one,
      // and onnxruntime-node's native side (1.30) reads that view as empty ("not enough space"):
      // it is given the same bits as the Uint16Array it reads everywhere else.
      if (t.dtype === 'float16' && tensor.data !== t.data) Object.assign(tensor, { cpuData: t.data });
      feeds[name] = tensor;
    }
    const started = performance.now();
    let results: ort.InferenceSession.OnnxValueMapType;
    this.gate.enter();
    try {
      // Only tensor outputs: fetching a sequence or map fails the whole run in onnxruntime-node.
      results = await this.session.run(feeds, this.outputNames);
    } finally {
      this.gate.leave();
    }
    const inferenceMs = performance.now() - started;
    const outputs: TensorMap = {};
    for (const [name, value] of Object.entries(results)) {
      if (value.type === 'string') {
        outputs[name] = { dtype: 'string', dims: [...value.dims], data: value.data as string[] };
        continue;
      }
      let data = value.data as TypedArray;
      // float16 travels as its bits (Uint16Array) whether or not the runtime has Float16Array.
      if (value.type === 'float16' && !(data instanceof Uint16Array)) data = new Uint16Array(data.buffer, data.byteOffset, data.length);
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
      outputs[name] = { dtype: value.type as TensorDtype, dims: [...value.dims], data };
    }
    return { outputs, inferenceMs };
  }
}
