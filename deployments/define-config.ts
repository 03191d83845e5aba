import type { FerryConfig } from './config-types.js';

/**
 * Types a config in `ferry.config.ts`. It returns its argument unchanged:
 * validation happens when `ferry serve` loads the file.
 */
export function defineConfig(config: FerryConfig): FerryConfig {
  return config;
}
