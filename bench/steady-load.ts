import http from 'node:http';

/** What a steady load measured: requests answered per second, latency percentiles (ms), failures. */
export interface SteadyResult {
  rps: number;
  p50: number;
  p99: number;
  failures: number;
}

/**
 * Sends `rate` POSTs a second for `seconds`, spread evenly (a few every
 * millisecond, catching up when the timer is late), each on whichever
 * keep-alive connection is free: an open loop, where autocannon's rate limit
 * sends each second's requests in bursts. Latency is from send to the end of
 * the answer.
 */
export function steadyLoad(url: string, body: string | Buffer, headers: Record<string, string>, rate: number, seconds: number): Promise<SteadyResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const target = new URL(url);
  const latencies: number[] = [];
  let failures = 0;
  let sent = 0;
  let open = 0;
  const started = performance.now();
  return new Promise((resolve) => {
    const finish = () => {
      agent.destroy();
      const sorted = latencies.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
      resolve({ rps: latencies.length / ((performance.now() - started) / 1000), p50: at(0.5), p99: at(0.99), failures });
    };
    const send = () => {
      const t0 = performance.now();
      open++;
      const req = http.request(target, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => {
          open--;
          if (res.statusCode === 200) latencies.push(performance.now() - t0);
          else failures++;
          if (done && open === 0) finish();
        });
      });
      req.on('error', () => {
        open--;
        failures++;
        if (done && open === 0) finish();
      });
      req.end(body);
    };
    let done = false;
    const tick = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed >= seconds) {
        clearInterval(tick);
        done = true;
        if (open === 0) finish();
        return;
      }
      const due = Math.floor(elapsed * rate);
      while (sent < due) {
        sent++;
        send();
      }
    }, 1);
  });
}
