import ort from 'onnxruntime-node';
import { deviceUnavailableReason, executionProviders } from './device.js';
import type { FromReplica, ReplicaSpec, ToReplica } from './protocol.js';
import type { ModelMetadata, TensorDtype, TensorMap, TensorSpec, TypedArray } from './tensor.js';

/** Sends a message to the pool, handing over the listed buffers where the host can. */
export type Reply = (msg: FromReplica, transfer: ArrayBuffer[]) => void;

function toSpec(m: ort.InferenceSession.ValueMetadata): TensorSpec {
  if (!m.isTensor) return { name: m.name, dtype: 'float32', shape: [], dimParams: [] };
  return {
    name: m.name,
    dtype: m.type as TensorDtype,
    shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    dimParams: m.shape.map((d) => (typeof d === 'string' && d !== '' ? d : null)),
  };
}

/**
 * The replica actor: owns one InferenceSession and runs one batch at a time.
 * The same code runs in a worker thread and in a child process; only the
 * `reply` function differs.
 */
export class ReplicaActor {
  private session: ort.InferenceSession | null = null;

  constructor(private readonly reply: Reply) {}

  /** Handles one message from the pool. */
  async handle(msg: ToReplica): Promise<void> {
    if (msg.type === 'init') await this.init(msg.spec);
    else await this.run(msg.batchId, msg.inputs, msg.recycle);
  }

  private async init(spec: ReplicaSpec): Promise<void> {
    const started = performance.now();
    const unavailable = deviceUnavailableReason(spec.device);
    if (unavailable) {
      this.reply({ type: 'init-failed', message: unavailable, code: 'FERRY_ERR_DEVICE_UNAVAILABLE' }, []);
      return;
    }
    try {
      this.session = await ort.InferenceSession.create(spec.modelPath, {
        executionProviders: executionProviders(spec.device),
        intraOpNumThreads: spec.intraOpThreads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      this.reply({ type: 'init-failed', message: (err as Error).message }, []);
      return;
    }
    const metadata: ModelMetadata = {
      inputs: this.session.inputMetadata.map(toSpec),
      outputs: this.session.outputMetadata.map(toSpec),
    };
    this.reply({ type: 'ready', metadata, loadMs: performance.now() - started }, []);
  }

  private async run(batchId: number, inputs: TensorMap, recycle: boolean): Promise<void> {
    const recycled: ArrayBuffer[] = [];
    if (recycle) for (const t of Object.values(inputs)) if (!Array.isArray(t.data)) recycled.push(t.data.buffer as ArrayBuffer);
    if (!this.session) {
      this.reply({ type: 'failed', batchId, message: 'replica has no loaded model', recycled }, recycled);
      return;
    }
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) {
      feeds[name] = new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
    }
    const started = performance.now();
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(feeds);
    } catch (err) {
      this.reply({ type: 'failed', batchId, message: (err as Error).message, recycled }, recycled);
      return;
    }
    const inferenceMs = performance.now() - started;
    const outputs: TensorMap = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, value] of Object.entries(results)) {
      if (value.type === 'string') {
        outputs[name] = { dtype: 'string', dims: [...value.dims], data: value.data as string[] };
        continue;
      }
      let data = value.data as TypedArray;
      // Hand the buffer over only when the tensor owns all of it; otherwise copy its part.
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
      outputs[name] = { dtype: value.type as TensorDtype, dims: [...value.dims], data };
      transfer.push(data.buffer as ArrayBuffer);
    }
    for (const b of recycled) if (!transfer.includes(b)) transfer.push(b);
    this.reply({ type: 'result', batchId, outputs, inferenceMs, recycled }, transfer);
  }
}
