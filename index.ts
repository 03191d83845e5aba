/*
 * ferry-serve's public API: the config helpers users import in
 * `ferry.config.ts`, and the server for embedding Ferry in a program.
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
} from './deployments/index.js';
export { FerryServer, type BodyLimit, type FerryServerOptions, type FerryStatus, type IngressInfo, type IngressStatus } from './ferry-server.js';
export { ERROR_CODES } from './errors.js';
export { VERSION } from './version.js';
