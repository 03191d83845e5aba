/** The deployment's queue is full; the gateway answers 503 with Retry-After. */
export class BackPressureError extends Error {
  override readonly name = 'BackPressureError';
  constructor(
    readonly deployment: string,
    readonly queued: number,
    readonly maxQueued: number,
  ) {
    super(`deployment ${deployment} has ${queued} queued requests (limit ${maxQueued})`);
  }
}

/** A call was held by replicas that died twice; it was not retried again. */
export class ReplicaCrashedError extends Error {
  override readonly name = 'ReplicaCrashedError';
  constructor(
    readonly deployment: string,
    readonly reason: string,
  ) {
    super(`replica of ${deployment} crashed: ${reason}`);
  }
}

/**
 * onnxruntime rejected the batch the call was in, or (with a `code`) the
 * deployment's handler failed: its own error (FERRY_ERR_HANDLER_FAILED), or
 * one it let through from a handle call, with that call's code and status.
 */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  constructor(
    readonly deployment: string,
    readonly reason: string,
    readonly code?: string,
    readonly statusCode?: number,
    /** The handler let a handle call's error through: `reason` is that error's message, as the registry wrote it. */
    readonly passed = false,
  ) {
    super(`inference failed in ${deployment}: ${reason}`);
  }
}

/** A replica could not load its model. */
export class ReplicaStartFailedError extends Error {
  override readonly name = 'ReplicaStartFailedError';
  constructor(
    readonly deployment: string,
    readonly reason: string,
    readonly code?: string,
  ) {
    super(`replica of ${deployment} failed to start: ${reason}`);
  }
}

/** The config requires batching but the model's shapes do not allow it. */
export class ModelCannotBatchError extends Error {
  override readonly name = 'ModelCannotBatchError';
  constructor(
    readonly deployment: string,
    readonly reason: string,
  ) {
    super(`deployment ${deployment} asks for batching, but its model cannot batch along dimension 0: ${reason}`);
  }
}

/** The pool is stopping and takes no new calls. */
export class PoolClosedError extends Error {
  override readonly name = 'PoolClosedError';
  constructor(readonly deployment: string) {
    super(`deployment ${deployment} is shutting down`);
  }
}
