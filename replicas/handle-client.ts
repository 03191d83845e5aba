import type { DeploymentHandle, HandleCallOptions } from './handler-types.js';
import type { FromReplica, HandleAnswer } from './protocol.js';
import type { TensorMap } from './tensor.js';

/** The request user code is serving, as the replica's AsyncLocalStorage holds it. */
export interface AmbientCall {
  signal: AbortSignal;
  traceparent: string | null;
}

/** A handle call's failure, with the code the gateway would answer it with. */
export class HandleCallError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** The HTTP status the gateway gives this error. */
    readonly statusCode: number,
  ) {
    super(message);
    this.name = 'HandleCallError';
  }
}

/**
 * Handle calls one replica may have waiting for answers. Each is a message
 * the control plane's thread handles: a fan-out of a million calls would
 * hold that thread (and every gateway beside it) for seconds just refusing
 * them, so past this many they are refused here, as a full queue (503).
 */
export const MAX_HANDLE_CALLS_WAITING = 10_000;

interface Waiting {
  resolve(outputs: unknown): void;
  reject(err: Error): void;
  /** The signals that cancel it. */
  signals: AbortSignal[];
}

/**
 * The replica's side of its handles: each call goes to the control plane
 * (the replica's host), which runs it through the target deployment's
 * router; the answer comes back by call id. A call whose signal aborts, or
 * that was made while handling a request that is cancelled, is cancelled
 * there too.
 */
export class HandleClient {
  private seq = 0;
  private readonly waiting = new Map<number, Waiting>();
  /**
   * The calls each signal cancels, with one listener per signal: a request
   * fanning out thousands of calls would otherwise hang thousands of
   * listeners on its signal.
   */
  private readonly bySignal = new WeakMap<AbortSignal, Set<number>>();

  constructor(
    private readonly reply: (msg: FromReplica, transfer: ArrayBuffer[]) => void,
    /** The request being handled when a call is made, if any: its signal and trace. */
    private readonly ambient: () => AmbientCall | undefined,
  ) {}

  /** A handle to `deployment`. */
  handle(deployment: string): DeploymentHandle {
    return {
      deployment,
      infer: (inputs, options) => this.send(deployment, inputs, undefined, options) as Promise<TensorMap>,
      call: (method, body, options) => this.send(deployment, {}, { method, body }, options),
    };
  }

  private send(deployment: string, inputs: TensorMap, method: { method: string; body: unknown } | undefined, options: HandleCallOptions = {}): Promise<unknown> {
    const ambient = this.ambient();
    const signals = [options.signal, ambient?.signal].filter((s): s is AbortSignal => s !== undefined);
    if (signals.some((s) => s.aborted)) return Promise.reject(new HandleCallError('the call was cancelled before it was sent', 'FERRY_ERR_CLIENT_CLOSED', 499));
    if (this.waiting.size >= MAX_HANDLE_CALLS_WAITING) {
      return Promise.reject(
        new HandleCallError(`this replica has ${MAX_HANDLE_CALLS_WAITING} handle calls waiting for answers; cut the work into fewer calls`, 'FERRY_ERR_QUEUE_FULL', 503),
      );
    }
    const id = ++this.seq;
    return new Promise<unknown>((resolve, reject) => {
      for (const s of signals) this.callsOf(s).add(id);
      this.waiting.set(id, { resolve, reject, signals });
      // Inputs are copied, not handed over: the caller may still read them (a pipeline keeps its request).
      this.reply(
        {
          type: 'handle-call',
          id,
          deployment,
          inputs,
          ...method,
          ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
          ...(options.modelId === undefined ? {} : { modelId: options.modelId }),
          // The control plane makes the call's own span (a child of this one): an exported span when tracing is on.
          ...(ambient?.traceparent ? { traceparent: ambient.traceparent } : {}),
        },
        [],
      );
    });
  }

  private callsOf(signal: AbortSignal): Set<number> {
    let ids = this.bySignal.get(signal);
    if (!ids) {
      const calls = (ids = new Set());
      this.bySignal.set(signal, calls);
      signal.addEventListener('abort', () => {
        for (const id of calls) this.reply({ type: 'handle-cancel', id }, []);
      }, { once: true });
    }
    return ids;
  }

  /** The control plane's answer to a call. */
  settle(msg: HandleAnswer): void {
    const w = this.waiting.get(msg.id);
    if (!w) return;
    this.waiting.delete(msg.id);
    for (const s of w.signals) this.bySignal.get(s)?.delete(msg.id);
    if ('outputs' in msg) w.resolve(msg.outputs);
    else if ('result' in msg) w.resolve(msg.result);
    else w.reject(new HandleCallError(msg.error, msg.code, msg.statusCode));
  }
}
