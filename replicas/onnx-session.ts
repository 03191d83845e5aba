import ort from 'onnxruntime-node';
import type { Device } from '../deployments/index.js';
import { executionProviders } from './device.js';
import type { OmittedOutput } from './protocol.js';
import type { ModelMetadata, TensorDtype, TensorMap, TensorSpec, TypedArray } from './tensor.js';

/** Marks the thread as inside onnxruntime (a load or a run), so its host never ends it there. */
export interface OnnxruntimeGate {
  enter(): void;
  leave(): void;
}

/** A run's outputs and how long onnxruntime took (ms). */
export interface RunResult {
  outputs: TensorMap;
  inferenceMs: number;
  /** Time spent loading the model the batch named first (a multiplexed model not held), ms; absent when none was loaded. */
  loadMs?: number;
}

/** How a replica opens its sessions. */
export interface SessionOptions {
  device: Device;
  intraOpThreads: number;
}

/** A model onnxruntime loaded but Ferry cannot serve, and why. */
export class UnservableModelError extends Error {}

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
 * One loaded onnxruntime session as a replica runs it: tensors in, tensors
 * out, its tensor inputs and outputs as metadata. `run` blocks the thread it
 * is called on for the model's whole run (onnxruntime-node's behaviour).
 */
export class OnnxSession {
  /** The outputs each run fetches: the model's tensor outputs. */
  private readonly outputNames: string[];

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly gate: OnnxruntimeGate,
    /** The tensor inputs and outputs served. */
    readonly metadata: ModelMetadata,
    /** Outputs left out of `metadata` and of every answer (sequences and maps). */
    readonly omittedOutputs: OmittedOutput[],
  ) {
    this.outputNames = metadata.outputs.map((o) => o.name);
  }

  /**
   * Loads `path`. Rejects with onnxruntime's error, or with
   * UnservableModelError when the model loads but cannot be served from
   * JavaScript (an input that is not a tensor, no tensor output).
   */
  static async open(path: string, options: SessionOptions, gate: OnnxruntimeGate): Promise<OnnxSession> {
    let session: ort.InferenceSession;
    gate.enter();
    try {
      session = await ort.InferenceSession.create(path, {
        executionProviders: executionProviders(options.device),
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
    } finally {
      gate.leave();
    }
    const inputs = session.inputMetadata;
    const outputs = session.outputMetadata;
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
      await session.release();
      throw new UnservableModelError(unservable);
    }
    const metadata: ModelMetadata = {
      inputs: inputs.filter((m) => m.isTensor).map(toSpec),
      outputs: tensorOutputs.map(toSpec),
    };
    return new OnnxSession(session, gate, metadata, others.map((name) => ({ name, reason: NOT_A_TENSOR })));
  }

  /**
   * Runs the model once. Rejects with onnxruntime's error. An output that
   * does not own its whole buffer is copied, so every output's buffer can be
   * handed over.
   */
  async run(inputs: TensorMap): Promise<RunResult> {
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

  /** Frees the session's native memory; the session cannot run afterwards. */
  release(): Promise<void> {
    return this.session.release();
  }
}
