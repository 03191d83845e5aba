/*
 * `npm run bench -- dashboard`: what the status page costs the control
 * plane. For 10, 100 and 1,000 replicas (over ten deployments, with traffic
 * in Ferry's own counters), the time one sample takes (read the metrics,
 * take the differences, keep them), the time one poll's answer takes to
 * build, and its size: the first poll (ten minutes of samples) and each
 * one after (one sample). Printed as measured in this run; a sample is
 * taken every 2 s, so its share of one core is its time over 2,000 ms.
 */
import { StatusPage, type StatusLike } from '../dashboard/index.js';
import { FerryMetrics } from '../metrics/index.js';

const DEPLOYMENTS = 10;
const SAMPLES = 300;

function statusOf(replicas: number): StatusLike {
  const per = replicas / DEPLOYMENTS;
  return {
    version: 'bench',
    node: { cpus: 64, gpus: 0, usedCpus: replicas / 16, usedGpus: 0 },
    deployments: Array.from({ length: DEPLOYMENTS }, (_, d) => ({
      deployment: `d${d}`,
      queueDepth: d,
      ongoing: per,
      pending: 0,
      target: per,
      restarts: 0,
      readiness: { ready: true, reason: '' },
      replicas: Array.from({ length: per }, (_, i) => ({ id: `d${d}#${i + 1}`, state: 'ready', ongoing: i % 3 })),
      autoscaling: { minReplicas: 1, maxReplicas: per },
      decisions: { changes: [] },
    })),
  };
}

console.log('replicas  sample ms  first poll ms  first poll KiB  next poll ms  next poll KiB  share of a core');
for (const replicas of [10, 100, 1000]) {
  const metrics = new FerryMetrics({ processWide: false });
  const status = statusOf(replicas);
  const page = new StatusPage({ status: () => status, metrics: () => metrics.traffic() }, 2000, SAMPLES);
  let sampling = 0;
  for (let s = 0; s < SAMPLES; s++) {
    for (let d = 0; d < DEPLOYMENTS; d++) for (let r = 0; r < 20; r++) metrics.observeRequest(`d${d}`, r === 0 ? 503 : 200, 0.001 * (1 + (r % 7)));
    const began = performance.now();
    await page.sample();
    sampling += performance.now() - began;
  }
  const timed = (since: number) => {
    const began = performance.now();
    const body = JSON.stringify(page.data(since));
    return { ms: performance.now() - began, kib: Buffer.byteLength(body) / 1024 };
  };
  const first = timed(0);
  const next = timed(page.data(0).seq - 1);
  const sampleMs = sampling / SAMPLES;
  console.log(
    `${String(replicas).padStart(8)}  ${sampleMs.toFixed(3).padStart(9)}  ${first.ms.toFixed(2).padStart(13)}  ${first.kib.toFixed(1).padStart(14)}  ${next.ms.toFixed(3).padStart(12)}  ${next.kib.toFixed(1).padStart(13)}  ${((sampleMs / 2000) * 100).toFixed(3).padStart(14)} %`,
  );
}
