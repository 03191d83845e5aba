import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

/** One load run's figures, whichever generator produced them. Latencies in milliseconds. */
export interface LoadSample {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  failures: number;
}

/** Whether Debian's `wrk` is on the PATH (`apt-get install wrk`). */
export function haveWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk prints its version and exits 1; only a missing binary is "no".
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

// The body is read from a file so binary tensors pass through Lua untouched; the summary comes back as one JSON line.
const SCRIPT = `
local f = assert(io.open(os.getenv("FERRY_WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"us":%d,"p50":%d,"p99":%d,"failures":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

let scratch: string | null = null;

/**
 * Runs wrk against `url` for `seconds` with `connections` keep-alive
 * connections; wrk is C and one thread of it drives a server's whole core,
 * so the servers under test keep the other cores (autocannon, in Node, takes
 * about as much CPU as the server it loads).
 */
export function wrkLoad(url: string, body: string | Buffer, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadSample> {
  scratch ??= mkdtempSync(join(tmpdir(), 'ferry-wrk-'));
  const bodyFile = join(scratch, `body-${connections}-${Buffer.byteLength(body)}`);
  const scriptFile = join(scratch, 'post.lua');
  writeFileSync(bodyFile, body);
  writeFileSync(scriptFile, SCRIPT);
  const threads = Math.max(1, Math.min(connections, Math.floor(availableParallelism() / 8)));
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${Math.max(1, Math.round(seconds))}s`, '-s', scriptFile];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { env: { ...process.env, FERRY_WRK_BODY: bodyFile } }, (err, stdout) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (err || !last.startsWith('{')) return reject(new Error(`wrk failed: ${err?.message ?? stdout}`));
      const r = JSON.parse(last) as { requests: number; us: number; p50: number; p99: number; failures: number };
      resolve({ requests: r.requests, seconds: r.us / 1e6, p50: r.p50 / 1000, p99: r.p99 / 1000, failures: r.failures });
    });
  });
}

/** Removes wrk's scratch files. */
export function wrkCleanup(): void {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = null;
}
