export type {
  AsyncInferenceConfig,
  BatchingConfig,
  DeploymentConfig,
  Device,
  FerryConfig,
  HostKind,
  HttpConfig,
  MultiplexConfig,
  NodeConfig,
  ResourcesConfig,
  ResolvedBatching,
  ResolvedConfig,
  ResolvedDeployment,
  ResolvedMultiplex,
  RouteConfig,
  ResolvedTracing,
  SessionAffinityConfig,
  TracingConfig,
  WebSocketRouteConfig,
} from './config-types.js';
export { resolveAuth, type ApiKeyConfig, type AuthConfig, type PublicRoute, type ResolvedApiKey, type ResolvedAuth } from './auth-config.js';
export { ferryConfigSchema } from './config-schema.js';
export { initialOf } from './cpu-shares.js';
export { ASYNC_INFERENCE_DEFAULTS, defaultIngressThreads, DEPLOYMENT_DEFAULTS, HTTP_DEFAULTS, NODE_DEFAULTS } from './defaults.js';
export { defineConfig } from './define-config.js';
export { loadConfig } from './load-config.js';
export { insideDirectory, notPlainJson, validateConfig, type ValidateOptions } from './validate-config.js';
export { describeChanges, FIXED_AT_START, planConfigChange, type ConfigChangePlan, type DeploymentChange, type ServingNow } from './config-change.js';
