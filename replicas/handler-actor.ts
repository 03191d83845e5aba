import { AsyncLocalStorage } from 'node:async_hooks';
import { applyOrtEnvironment, HANDLER_LIFECYCLE } from '../constants.js';
import { ERROR_CODES } from '../errors.js';
import { deviceUnavailableReason } from './device.js';
import type { CallInfo, FerryHandler, FerryHandlerClass, ModelSession, ReplicaContext, RouteRequest } from './handler-types.js';
import { HandleClient, type AmbientCall } from './handle-client.js';
import { importExport } from './import-export.js';
import { checkOutputs, ownInputs } from './handler-tensors.js';
import { OnnxSession, type OnnxruntimeGate } from './onnx-session.js';
import type { FromReplica, HandlerInfo, ReplicaSpec, RouteCall } from './protocol.js';
import { TYPED_ARRAYS, type ModelMetadata, type TensorMap } from './tensor.js';

const LIFECYCLE: ReadonlySet<string> = new Set(HANDLER_LIFECYCLE);

/** What is wrong with a handler's declared tensors (`metadata.inputs` or `.outputs`), or null. */
function specProblem(specs: unknown[], what: string): string | null {
  const names = new Set<string>();
  for (const [i, s] of specs.entries()) {
    const at = `${what}[${i}]`;
    const spec = s as { name?: unknown; dtype?: unknown; shape?: unknown } | null;
    if (typeof spec !== 'object' || spec === null) return `${at} must be { name, dtype, shape }`;
    if (typeof spec.name !== 'string' || spec.name === '') return `${at}.name must be a non-empty string`;
    if (names.has(spec.name)) return `${at}.name '${spec.name}' is declared twice`;
    names.add(spec.name);
    if (typeof spec.dtype !== 'string' || !(spec.dtype === 'string' || Object.hasOwn(TYPED_ARRAYS, spec.dtype))) {
      return `${at}.dtype ${JSON.stringify(spec.dtype)} is not one of ${[...Object.keys(TYPED_ARRAYS), 'string'].join(', ')}`;
    }
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= -1)) {
      return `${at}.shape must be an array of whole numbers, -1 for a dynamic dimension (got ${JSON.stringify(spec.shape)})`;
    }
  }
  return null;
}

/** A call that carries no session. */
const NO_INFO: CallInfo = Object.freeze({ session: null, traceparent: null });

/** Sends a control message to the host. */
type Reply = (msg: FromReplica, transfer: ArrayBuffer[]) => void;

/**
 * A failure inside user code: answered 500 `FERRY_ERR_HANDLER_FAILED` with
 * its message, or, for a handle call's error the code let through, with
 * that call's code and status (a downstream 503 stays a 503).
 */
export class HandlerFailure extends Error {
  readonly code: string;
  readonly statusCode: number;
  /** True for a handle call's error passed through: its message is already the registry's. */
  readonly passed: boolean;

  /** With `as`, a refusal that is not user code's fault, answered with that code and status as they are. */
  constructor(err: unknown, as?: { code: string; statusCode: number }) {
    super(messageOf(err));
    // By shape, not class: a handler module loaded apart (tsImport) has its own copy of the class.
    const e = (err ?? {}) as { name?: unknown; code?: unknown; statusCode?: unknown };
    // Only an error Ferry could have answered passes: a registered code with an error status (never a 200, never a code clients cannot know).
    const passed =
      as !== undefined ||
      (e.name === 'HandleCallError' &&
        typeof e.code === 'string' &&
        ERROR_CODES.includes(e.code) &&
        typeof e.statusCode === 'number' &&
        Number.isInteger(e.statusCode) &&
        e.statusCode >= 400 &&
        e.statusCode <= 599);
    this.code = as?.code ?? (passed ? (e.code as string) : 'FERRY_ERR_HANDLER_FAILED');
    this.statusCode = as?.statusCode ?? (passed ? (e.statusCode as number) : 500);
    this.passed = passed;
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  // A thrown object that is no Error but carries a message (one made by hand, or from another realm).
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

/**
 * A code deployment's replica: the user's class, constructed once with its
 * context (loaded sessions, userConfig, handles), called for each request
 * or batch. Calls made while one request is handled are tied to it through
 * an AsyncLocalStorage, so cancelling the request cancels them.
 */
export class HandlerActor {
  private instance: FerryHandler | null = null;
  /** The outputs the OIP interface declares: every answer must hold them. */
  private outputSpecs: ModelMetadata['outputs'] = [];
  /** Shapes are checked against static metadata only: a model's may leave an output's rank unknown. */
  private shapesDeclared = false;
  /** The request being served where user code runs: its signal, and its trace for the handle calls it makes. */
  private readonly current = new AsyncLocalStorage<AmbientCall>();
  readonly handles: HandleClient;

  constructor(
    private readonly reply: Reply,
    private readonly gate: OnnxruntimeGate,
  ) {
    this.handles = new HandleClient(reply, () => this.current.getStore());
  }

  /** Loads the models and the class, constructs and initialises it; reports `ready` or `init-failed`. Resolves with what it serves, or null. */
  async init(spec: ReplicaSpec): Promise<HandlerInfo | null> {
    const started = performance.now();
    const fail = (message: string, code?: string) => {
      this.reply({ type: 'init-failed', message, ...(code ? { code } : {}) }, []);
      return null;
    };
    const sessions: OnnxSession[] = [];
    const named: Record<string, ModelSession> = {};
    let model: ModelSession | null = null;
    const wanted = Object.entries(spec.models);
    if (spec.modelPath !== null || wanted.length > 0) {
      applyOrtEnvironment();
      const unavailable = deviceUnavailableReason(spec.device);
      if (unavailable) return fail(unavailable, 'FERRY_ERR_DEVICE_UNAVAILABLE');
    }
    const open = async (path: string, what: string): Promise<ModelSession | null> => {
      try {
        const session = await OnnxSession.open(path, spec, this.gate);
        sessions.push(session);
        return { metadata: session.metadata, run: async (inputs) => (await session.run(inputs)).outputs };
      } catch (err) {
        fail(`${what} (${path}): ${messageOf(err)}`);
        return null;
      }
    };
    if (spec.modelPath !== null && !(model = await open(spec.modelPath, 'model'))) return null;
    for (const [name, path] of wanted) {
      const session = await open(path, `models.${name}`);
      if (!session) return null;
      named[name] = session;
    }
    let Handler: unknown;
    try {
      Handler = await importExport(spec.handlerPath!, spec.handlerExport);
    } catch (err) {
      return fail(`handler ${spec.handlerPath} could not be loaded: ${messageOf(err)}`);
    }
    if (typeof Handler !== 'function') {
      const which = spec.handlerExport === 'default' ? 'its default export' : `its export '${spec.handlerExport}'`;
      return fail(`handler ${spec.handlerPath} must export a class as ${which} (got ${typeof Handler})`);
    }
    const HandlerClass = Handler as FerryHandlerClass;
    const context: ReplicaContext = {
      deployment: spec.deployment,
      replicaId: spec.replicaId,
      userConfig: spec.userConfig,
      model,
      models: Object.freeze(named),
      handle: (deployment) => this.handles.handle(deployment),
    };
    try {
      this.instance = new HandlerClass(context);
      await this.instance.init?.();
      if (spec.userConfig !== undefined) await this.instance.reconfigure?.(spec.userConfig);
    } catch (err) {
      return fail(`handler ${HandlerClass.name} failed to start: ${messageOf(err)}`);
    }
    const missing = spec.routeMethods.filter((name) => typeof this.methodOf(name) !== 'function');
    if (missing.length > 0) {
      return fail(`handler ${HandlerClass.name} has no method ${missing.map((m) => `'${m}'`).join(', ')}, which the deployment's routes call`);
    }
    const info: HandlerInfo = {
      infer: typeof this.instance.infer === 'function' || typeof this.instance.inferBatch === 'function',
      batched: typeof this.instance.inferBatch === 'function',
    };
    const metadata = this.metadataOf(HandlerClass, model, info);
    if (typeof metadata === 'string') return fail(metadata);
    this.outputSpecs = metadata.outputs;
    this.shapesDeclared = HandlerClass.metadata !== undefined;
    this.reply({ type: 'ready', metadata, omittedOutputs: [], loadMs: performance.now() - started, handler: info }, []);
    return info;
  }

  /** The OIP interface served: the class's static metadata, else its one model's; none when it serves no inference. */
  private metadataOf(Handler: FerryHandlerClass, model: ModelSession | null, info: HandlerInfo): ModelMetadata | string {
    if (!info.infer) return { inputs: [], outputs: [] };
    const declared = Handler.metadata;
    if (declared) {
      const spec = (t: { name: string; dtype: ModelMetadata['inputs'][number]['dtype']; shape: number[] }) => ({
        name: t.name,
        dtype: t.dtype,
        shape: [...t.shape],
        dimParams: t.shape.map(() => null),
      });
      if (!Array.isArray(declared.inputs) || !Array.isArray(declared.outputs) || declared.outputs.length === 0) {
        return `handler ${Handler.name}: static metadata must list inputs and at least one output`;
      }
      const wrong = specProblem(declared.inputs, 'inputs') ?? specProblem(declared.outputs, 'outputs');
      if (wrong) return `handler ${Handler.name}: static metadata.${wrong}`;
      return { inputs: declared.inputs.map(spec), outputs: declared.outputs.map(spec) };
    }
    if (model) return model.metadata;
    return `handler ${Handler.name} defines infer but no static metadata, and the deployment has no single model whose inputs and outputs it could serve: declare static metadata = { inputs: [...], outputs: [...] }`;
  }

  /** The instance's member `name`: the constructor and what every object inherits are not the class's methods to call. */
  private methodOf(name: string): unknown {
    return LIFECYCLE.has(name) || name in Object.prototype ? undefined : (this.instance as unknown as Record<string, unknown>)[name];
  }

  /**
   * `outputs`, when each output the handler's interface declares is there
   * with its dtype and shape (as many dimensions, the fixed ones equal);
   * else throws naming the first that is not: a client reads the outputs by
   * the metadata it was given.
   */
  private declared(outputs: TensorMap, method: string): TensorMap {
    for (const spec of this.outputSpecs) {
      const t = outputs[spec.name];
      if (!Object.hasOwn(outputs, spec.name)) {
        throw new Error(`${method} returned no output '${spec.name}' (its interface declares ${this.outputSpecs.map((o) => `'${o.name}'`).join(', ')})`);
      }
      if (t.dtype !== spec.dtype) throw new Error(`${method} returned output '${spec.name}' as ${t.dtype}, but its interface declares ${spec.dtype}`);
      if (this.shapesDeclared && (t.dims.length !== spec.shape.length || spec.shape.some((d, i) => d >= 0 && t.dims[i] !== d))) {
        throw new Error(`${method} returned output '${spec.name}' with dims [${t.dims}], which do not fit its interface's [${spec.shape}]`);
      }
    }
    return outputs;
  }

  /** Runs one call's `infer`, with `signal` cancelling the handle calls it makes. Rejects with HandlerFailure. */
  async call(inputs: TensorMap, signal: AbortSignal, info: CallInfo = NO_INFO): Promise<TensorMap> {
    const handler = this.instance!;
    try {
      const outputs = await this.current.run({ signal, traceparent: info.traceparent }, () => handler.infer!(ownInputs(inputs), info));
      return this.declared(checkOutputs(outputs, 'infer'), 'infer');
    } catch (err) {
      throw new HandlerFailure(err);
    }
  }

  /** Runs one batch through `inferBatch`; one output map per call, in order. Rejects with HandlerFailure (every call of the batch fails). */
  async batch(calls: TensorMap[], signal: AbortSignal, infos: CallInfo[] = calls.map(() => NO_INFO)): Promise<TensorMap[]> {
    const handler = this.instance!;
    try {
      // A batch's handle calls serve every call of it: they carry a trace only when the batch is one call's.
      const traceparent = infos.length === 1 ? infos[0].traceparent : null;
      const outputs = await this.current.run({ signal, traceparent }, () => handler.inferBatch!(calls.map(ownInputs), infos));
      if (!Array.isArray(outputs) || outputs.length !== calls.length) {
        throw new Error(`inferBatch must return one output map per call: ${calls.length} calls, got ${Array.isArray(outputs) ? outputs.length : typeof outputs}`);
      }
      return outputs.map((o, i) => this.declared(checkOutputs(o, `inferBatch (call ${i})`), `inferBatch (call ${i})`));
    } catch (err) {
      throw new HandlerFailure(err);
    }
  }

  /**
   * Calls a handler method for one of its own routes with `{ body, params,
   * query }`; resolves with its return value as JSON text, or as bytes (a
   * copy) for a route that answers bytes. Rejects with HandlerFailure.
   */
  async route(route: RouteCall, signal: AbortSignal, info: CallInfo = NO_INFO): Promise<string | Uint8Array> {
    const handler = this.instance as unknown as Record<string, unknown>;
    const method = this.methodOf(route.method);
    // Only a handle's call() can name a method the class lacks (routes are checked at start): the caller's mistake, a 404.
    if (typeof method !== 'function') {
      throw new HandlerFailure(`handler ${(this.instance as object).constructor.name} has no method '${route.method}'`, { code: 'FERRY_ERR_NOT_SERVED', statusCode: 404 });
    }
    try {
      const request: RouteRequest = { body: route.body, params: route.params, query: route.query, session: info.session };
      const result: unknown = await this.current.run({ signal, traceparent: info.traceparent }, () => method.call(handler, request));
      if (route.response === 'json') {
        const text = JSON.stringify(result ?? null) as string | undefined;
        if (text === undefined) throw new Error(`'${route.method}' returned a ${typeof result}, which is not JSON`);
        return text;
      }
      if (typeof result === 'string') return new TextEncoder().encode(result);
      if (ArrayBuffer.isView(result)) return new Uint8Array(result.buffer, result.byteOffset, result.byteLength).slice();
      if (result instanceof ArrayBuffer) return new Uint8Array(result.slice(0));
      throw new Error(`'${route.method}' answers bytes: it must return a Uint8Array, an ArrayBuffer or a string (got ${result === null ? 'null' : typeof result})`);
    } catch (err) {
      throw new HandlerFailure(err);
    }
  }

  /** Applies a new userConfig; resolves with the error message, or null. */
  async reconfigure(userConfig: unknown): Promise<string | null> {
    try {
      await this.instance?.reconfigure?.(userConfig);
      return null;
    } catch (err) {
      return messageOf(err);
    }
  }

  /** Runs the class's health check; resolves with the error message, or null when healthy (or when it defines none). */
  async checkHealth(): Promise<string | null> {
    try {
      await this.instance?.checkHealth?.();
      return null;
    } catch (err) {
      return messageOf(err);
    }
  }
}
