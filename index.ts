/*
 * ferry-serve's public API: the config helpers users import in
 * `ferry.config.ts`, the types a handler (a code deployment's class) is
 * written against, and the server for embedding Ferry in a program.
 */
export {
  defineConfig,
  loadConfig,
  validateConfig,
  type BatchingConfig,
  type DeploymentConfig,
  type FerryConfig,
  type HttpConfig,
  type ResolvedConfig,
  type RouteConfig,
  type SessionAffinityConfig,
  type WebSocketRouteConfig,
} from './deployments/index.js';
export { FerryServer, type BodyLimit, type FerryServerOptions, type FerryStatus, type IngressInfo, type IngressStatus, type StartProgress } from './ferry-server.js';
export {
  HandleCallError,
  type CallInfo,
  type CallSession,
  type DeploymentHandle,
  type FerryHandler,
  type FerryHandlerClass,
  type HandleCallOptions,
  type HandlerTensorSpec,
  type ModelMetadata,
  type ModelSession,
  type ReplicaContext,
  type ReplicaCandidate,
  type RequestRouter,
  type RouterContext,
  type RoutingRequest,
  type RouteRequest,
  type TensorDtype,
  type TensorMap,
  type WireTensor as Tensor,
} from './replicas/index.js';
export { type DeploymentPanel, type NodePanel, type StatusPageData } from './dashboard/index.js';
export { ERROR_CODES } from './errors.js';
export { VERSION } from './version.js';
