import { BadRequestError, ClientClosedError, InputDataError, ModelNotFoundError, NotServedError } from '../errors.js';
import type { RequestTracer } from './tracing.js';
import { checkTensorMap, childTraceparent, parseTraceparent, type CallServed, type CallControl, type ModelMetadata, type DeploymentHandle, type HandleCallOptions, type RouteCall, type TensorMap } from '../replicas/index.js';
import { armRequestTimeout } from './call-timeout.js';
import { OIP_DATATYPE } from './datatypes.js';
import { toRegistryError } from './http-errors.js';
import { InputSetCheck } from './input-checks.js';
import { modelIdFor } from './model-id.js';
import { checkSessionId } from './session-header.js';

/** A deployment as handles call it: the pool's own router, its timeout, and whether calls batch. */
export interface HandleTarget {
  readonly requestTimeoutMs: number;
  /** True when calls are concatenated along dimension 0 (the rows are the inputs' first dimension). */
  readonly batching: boolean;
  /** False for a code deployment whose handler defines neither infer nor inferBatch. */
  readonly servesInference: boolean;
  /** True for a code deployment: only a handler has methods to `call`. */
  readonly runsCode: boolean;
  /** The inputs and outputs served, or null before the deployment's first replica has loaded (its calls then wait for one). */
  readonly metadata: ModelMetadata | null;
  /** A multiplexed deployment's model ids, or null. */
  readonly modelIds: ReadonlySet<string> | null;
  infer(inputs: TensorMap, rows: number, control?: CallControl): Promise<TensorMap>;
  callRoute(route: RouteCall, control?: CallControl): Promise<unknown>;
}

/**
 * One handle call: the deployment's inference on `inputs`, or (with
 * `method`) one of its handler's methods, resolving with its JSON answer
 * parsed. Rejects with a registry error (its `code` and `statusCode` as the
 * gateway answers them).
 */
export type HandleCall = (deployment: string, inputs: TensorMap, control: CallControl, method?: { method: string; body: unknown }) => Promise<unknown>;

function rowsOf(inputs: TensorMap): number {
  for (const t of Object.values(inputs)) return t.dims.length > 0 ? t.dims[0] : 1;
  return 1;
}

/**
 * A handle call's tensors, checked as the HTTP path checks a request's: a
 * tensor whose data does not fill its dims (400 FERRY_ERR_INPUT_DATA) would
 * be concatenated with other calls' and shift them; a wrong name, datatype or
 * shape (400, the same codes as HTTP) would fail the whole batch in onnxruntime.
 */
function checkHandleInputs(deployment: string, inputs: TensorMap, target: HandleTarget): TensorMap {
  let checked: TensorMap;
  try {
    checked = checkTensorMap(inputs, 'the handle call', 'input');
  } catch (err) {
    throw new InputDataError((err as Error).message);
  }
  if (!target.metadata) return checked;
  // Tensors already in memory: the element limit guards allocation, which has happened.
  const set = new InputSetCheck(target.metadata, deployment, Number.MAX_SAFE_INTEGER, target.batching);
  for (const [name, t] of Object.entries(checked)) set.add(`inputs[${JSON.stringify(name)}]`, { name, shape: t.dims, datatype: OIP_DATATYPE[t.dtype] });
  set.finish();
  return checked;
}

/**
 * Calls deployments by name through their routers, as handles do: the
 * target's queue bound (503 `FERRY_ERR_QUEUE_FULL`), its requestTimeoutMs
 * (408), and `control.cancel` to give up. Errors are the registry's, so a
 * handler that lets one propagate answers with the same code and status.
 */
export function handleCalls(targets: (name: string) => HandleTarget | undefined, tracer?: RequestTracer | null): HandleCall {
  const call: HandleCall = async (deployment, inputs, control, method) => {
    const target = targets(deployment);
    try {
      if (!target) throw new ModelNotFoundError(deployment);
      if (!method && !target.servesInference) {
        throw new NotServedError(`deployment '${deployment}' serves no inference: its handler defines neither infer nor inferBatch`);
      }
      if (method && !target.runsCode) throw new NotServedError(`deployment '${deployment}' runs no handler: it has no method '${method.method}' to call (infer its model instead)`);
      if (control.sessionId !== undefined) checkSessionId(control.sessionId);
      if (!method) {
        const modelId = modelIdFor({ name: deployment, modelIds: target.modelIds }, undefined, control.modelId, 'modelId');
        if (modelId === undefined) delete control.modelId;
      } else if (control.modelId !== undefined) throw new BadRequestError(`modelId names a model to infer; a call to '${method.method}' takes none`);
      const timer = armRequestTimeout(control, deployment, target.requestTimeoutMs);
      try {
        if (method) {
          const text = await target.callRoute({ method: method.method, body: method.body, params: {}, query: {}, response: 'json' }, control);
          return JSON.parse(text as string);
        }
        const checked = checkHandleInputs(deployment, inputs, target);
        return await target.infer(checked, target.batching ? rowsOf(checked) : 1, control);
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      throw toRegistryError(err);
    }
  };
  // A call made within a trace (a replica's code serving a request) comes with its caller's traceparent and
  // gets a span of its own under it: exported with its queue and inference when tracing is on, an id only otherwise.
  return async (deployment, inputs, control, method) => {
    const parent = parseTraceparent(control.traceparent);
    if (!parent) return call(deployment, inputs, control, method);
    if (!tracer) {
      control.traceparent = childTraceparent(control.traceparent!);
      return call(deployment, inputs, control, method);
    }
    const { span, traceparent } = tracer.startHandle(parent, deployment, method?.method ?? null);
    control.traceparent = traceparent;
    const served: CallServed = control.served ?? { replica: '', queueWaitMs: 0, batchRows: 0, enqueuedAt: 0, startedAt: 0, answeredAt: 0, inferenceMs: null };
    control.served = served;
    try {
      const answer = await call(deployment, inputs, control, method);
      tracer.finishHandle(span, null, served);
      return answer;
    } catch (err) {
      tracer.finishHandle(span, err as { code?: string; statusCode?: number }, served);
      throw err;
    }
  };
}

/** Runs `run` with a call control that an aborted `signal` cancels (499 FERRY_ERR_CLIENT_CLOSED), carrying the call's session and model. */
function withSignal({ signal, sessionId, modelId }: HandleCallOptions, run: (control: CallControl) => Promise<unknown>): Promise<unknown> {
  if (signal?.aborted) return Promise.reject(new ClientClosedError());
  const control: CallControl = sessionId === undefined ? {} : { sessionId };
  if (modelId !== undefined) control.modelId = modelId;
  const onAbort = () => control.cancel?.(new ClientClosedError());
  signal?.addEventListener('abort', onAbort, { once: true });
  return run(control).finally(() => signal?.removeEventListener('abort', onAbort));
}

/** A {@link DeploymentHandle} over `call`, for code outside any replica (an embedder's `server.handle(name)`). */
export function deploymentHandle(deployment: string, call: HandleCall): DeploymentHandle {
  return {
    deployment,
    infer: (inputs: TensorMap, options: HandleCallOptions = {}) => withSignal(options, (control) => call(deployment, inputs, control)) as Promise<TensorMap>,
    call: (method: string, body?: unknown, options: HandleCallOptions = {}) => withSignal(options, (control) => call(deployment, {}, control, { method, body })),
  };
}
