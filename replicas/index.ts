export { BatchQueue, type Batchable, type BatchQueueOptions } from './batch-queue.js';
export { batchingPlanOf, type BatchingPlan } from './batching-plan.js';
export { BufferPool } from './buffer-pool.js';
export { deviceUnavailableReason, executionProviders, SYSTEM_DEVICE_PROBE, type DeviceProbe } from './device.js';
export { defaultHostFactory } from './host-factory.js';
export {
  BackPressureError,
  InferenceError,
  ModelCannotBatchError,
  PoolClosedError,
  ReplicaCrashedError,
  ReplicaStartFailedError,
} from './pool-errors.js';
export { DeploymentCounters, epochMs, SlotState } from './deployment-counters.js';
export { DeploymentRouter, type AnswerObserver, type DeploymentRouterOptions } from './deployment-router.js';
export type { Answer, FromActor, FromReplica, LoadedModel, OmittedOutput, ReplicaSpec, RouteCall, ToActor, ToReplica, WireCall } from './protocol.js';
export type { HostEvents, HostFactory, ReplicaHost } from './replica-host.js';
export { NodeResources, type Lease, type Reservation } from './node-resources.js';
export type { CallControl, CallServed, PoolStats } from './pool-types.js';
export { ReplicaPool, type IngressPeer, type PoolObserver } from './replica-pool.js';
export type { ServingPool } from './serving-pool.js';
export { ModelView } from './model-view.js';
export { poolRouterOf, type PoolRouter } from './pool-router.js';
export { childTraceparent, newSpanId, newTraceId, parseTraceparent, traceparentOf, type TraceParent } from './trace-context.js';
export { ReplicaSet, type ReplicaSetEvents, type ReplicaSetOptions } from './replica-set.js';
export type { HandleCalls, LifecycleObserver, ReplicaLossCause, ReplicaState, ReplicaStats } from './replica.js';
export {
  PowerOfTwoChoicesRouter,
  type ReplicaCandidate,
  type RequestRouter,
  type RequestRouterClass,
  type RouterContext,
  type RoutingRequest,
} from './request-router.js';
export { buildRouter, heldModelsOf, loadRouterClass, routerFallbackMessage, routingSpecOf, type BuiltRouter, type RoutingSpec } from './router-factory.js';
export { HeldModels } from './held-models.js';
export { ModelAwareRouter } from './model-aware-router.js';
export { MultiplexedModels, signatureMismatch, type MultiplexGauges, type MultiplexSpec } from './multiplexed-models.js';
export { SessionAffinityRouter, type CallRouting, type SessionAffinityOptions, type SlotCandidate } from './session-affinity.js';
export { SessionTable, sessionKey } from './session-table.js';
export type {
  CallInfo,
  CallSession,
  DeploymentHandle,
  FerryHandler,
  FerryHandlerClass,
  HandleCallOptions,
  HandlerTensorSpec,
  ModelSession,
  ReplicaContext,
  RouteRequest,
} from './handler-types.js';
export { HandleCallError } from './handle-client.js';
export { checkOutputs as checkTensorMap } from './handler-tensors.js';
export { batchKeyOf, concatInputs, splitOutputs } from './tensor-batch.js';
export {
  allocate,
  bytesPerElement,
  TYPED_ARRAYS,
  type TensorData,
  type ModelMetadata,
  type TensorDtype,
  type TensorMap,
  type TensorSpec,
  type TypedArray,
  type WireTensor,
} from './tensor.js';
export { startWorker, threadsInsideOnnxruntime } from './thread-host.js';
