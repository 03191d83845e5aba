import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Device } from '../deployments/index.js';

const require = createRequire(import.meta.url);

/** Folder holding onnxruntime-node's native libraries for this platform. */
function nativeFolder(): string {
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** What the device check reads of the machine; tests pass their own, so every branch runs anywhere. */
export interface DeviceProbe {
  platform: NodeJS.Platform;
  /** Folder holding onnxruntime-node's native libraries. */
  nativeFolder(): string;
  exists(path: string): boolean;
}

/** This machine. */
export const SYSTEM_DEVICE_PROBE: DeviceProbe = Object.freeze({ platform: process.platform, nativeFolder, exists: existsSync });

/**
 * Why `device` cannot run here, or null when it can. CUDA needs both the
 * provider libraries (installed by `ONNXRUNTIME_NODE_INSTALL=cuda12 npm install`)
 * and an NVIDIA driver.
 */
export function deviceUnavailableReason(device: Device, probe: DeviceProbe = SYSTEM_DEVICE_PROBE): string | null {
  if (device === 'cpu') return null;
  if (probe.platform !== 'linux' && probe.platform !== 'win32') {
    return `CUDA is not supported by onnxruntime-node on ${probe.platform}; use device 'cpu'`;
  }
  const lib = probe.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (!probe.exists(join(probe.nativeFolder(), lib))) {
    return (
      `'cuda' needs onnxruntime-node's CUDA provider (${lib}), which is not installed; ` +
      `reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install, or use device 'cpu'`
    );
  }
  if (probe.platform === 'linux' && !probe.exists('/proc/driver/nvidia/version')) {
    return `'cuda' needs an NVIDIA GPU and driver, and none was found (/proc/driver/nvidia/version is missing); use device 'cpu'`;
  }
  return null;
}

/** onnxruntime execution providers for a device, fastest first. */
export function executionProviders(device: Device): string[] {
  return device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
}
