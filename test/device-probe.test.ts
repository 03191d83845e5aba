import t from 'tap';
import { validateConfig } from '../deployments/index.js';
import { modelPath } from '../models/index.js';
import { deviceUnavailableReason, type DeviceProbe } from '../replicas/index.js';

/** A machine described by hand: its platform and the files that exist on it. */
const machine = (platform: NodeJS.Platform, files: string[]): DeviceProbe => ({
  platform,
  nativeFolder: () => '/ort/bin',
  exists: (path) => files.includes(path),
});

t.test('every branch of the CUDA check, on machines described by hand', async (t) => {
  const cases: [string, DeviceProbe, RegExp | null][] = [
    ['macOS', machine('darwin', []), /^CUDA is not supported by onnxruntime-node on darwin; use device 'cpu'$/],
    ['Linux without the provider', machine('linux', ['/proc/driver/nvidia/version']), /needs onnxruntime-node's CUDA provider \(libonnxruntime_providers_cuda\.so\).*ONNXRUNTIME_NODE_INSTALL=cuda12 npm install, or use device 'cpu'$/],
    ['Linux with the provider, no driver', machine('linux', ['/ort/bin/libonnxruntime_providers_cuda.so']), /needs an NVIDIA GPU and driver, and none was found \(\/proc\/driver\/nvidia\/version is missing\)/],
    ['Windows without the provider', machine('win32', []), /onnxruntime_providers_cuda\.dll/],
    ['Linux with both', machine('linux', ['/ort/bin/libonnxruntime_providers_cuda.so', '/proc/driver/nvidia/version']), null],
    ['Windows with the provider', machine('win32', ['/ort/bin/onnxruntime_providers_cuda.dll']), null],
  ];
  for (const [what, probe, want] of cases) {
    const reason = deviceUnavailableReason('cuda', probe);
    if (want === null) t.equal(reason, null, `${what}: CUDA can run`);
    else t.match(reason, want, `${what}: ${reason}`);
  }
  t.equal(deviceUnavailableReason('cpu', machine('darwin', [])), null, 'cpu runs anywhere');
});

t.test('the config refuses cuda with the reason the check gives, and takes it where the check passes', async (t) => {
  const config = (probe: DeviceProbe) => () =>
    validateConfig({ deployments: [{ name: 'gpu', model: './mlp.onnx', device: 'cuda' }] }, modelPath('x.ts'), {
      checkDevice: (d) => deviceUnavailableReason(d, probe),
    });
  t.throws(config(machine('linux', [])), { code: 'FERRY_ERR_CONFIG_INVALID', message: /deployments\[0\]\.device: 'cuda' needs onnxruntime-node's CUDA provider/ });
  t.equal(config(machine('linux', ['/ort/bin/libonnxruntime_providers_cuda.so', '/proc/driver/nvidia/version']))().deployments[0].device, 'cuda');
});
