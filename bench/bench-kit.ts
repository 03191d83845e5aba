import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import type { PoolStats } from '../replicas/index.js';
import { haveWrk, wrkLoad, type LoadSample } from './wrk.js';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** A server under test, in its own process so the load generator does not share its event loop. */
export interface Child {
  child: ChildProcess;
  url: string;
}

/** Forks `bench/<script>` and waits for the URL it listens on. */
export function startChild(script: string, args: string[] = []): Promise<Child> {
  const child = fork(fileURLToPath(new URL(`./${script}${ext}`, import.meta.url)), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, url: (m as { url: string }).url }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** Runs `ferry serve <args>` (the CLI, as users run it) and waits for the URL it prints; its stdout is kept in `out()`. */
export function serveCli(args: string[]): Promise<Child & { out(): string }> {
  const cli = fileURLToPath(new URL(`../cli/main${ext}`, import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) (clearInterval(poll), resolve({ child, url: m[1], out: () => out }));
    }, 20);
    child.once('exit', (code) => (clearInterval(poll), reject(new Error(`ferry serve exited with ${code}: ${out}`))));
  });
}

/** Ends a server started by {@link startChild}. */
export function stopChild(c: Child): Promise<void> {
  return new Promise((resolve) => {
    c.child.once('exit', () => resolve());
    c.child.disconnect();
  });
}

/** An HTTP load: where, what, and how many connections. */
export interface HttpLoad {
  url: string;
  body: string | Buffer;
  headers: Record<string, string>;
  connections: number;
}

/** Runs autocannon for `seconds`, flat out or at `rate` requests per second. */
export function runLoad(load: HttpLoad, seconds: number, rate?: number): Promise<Result> {
  return autocannon({
    url: load.url,
    connections: load.connections,
    duration: seconds,
    method: 'POST',
    headers: load.headers,
    body: load.body,
    ...(rate ? { overallRate: rate } : {}),
  });
}

/** A target's figures over its rounds: requests/s over the summed time, median p50/p99 (ms). */
export interface Figures {
  rps: number;
  p50: number;
  p99: number;
  failures: number;
}

/** The load generator of {@link measure}: Debian's wrk where installed (it leaves the cores to the servers), else autocannon. */
export const generator = haveWrk() ? 'wrk' : 'autocannon';

/** One flat-out run of `load` for `seconds` with {@link generator}. */
export async function measure(load: HttpLoad, seconds: number): Promise<LoadSample> {
  if (generator === 'wrk') return wrkLoad(load.url, load.body, load.headers, load.connections, seconds);
  const r = await runLoad(load, seconds);
  return { requests: r.requests.total, seconds: r.duration, p50: r.latency.p50, p99: r.latency.p99, failures: r.non2xx + r.errors };
}

/** Summarises rounds of one load. */
export function summarise(samples: LoadSample[]): Figures {
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return {
    rps: samples.reduce((n, r) => n + r.requests, 0) / samples.reduce((n, r) => n + r.seconds, 0),
    p50: median(samples.map((r) => r.p50)),
    p99: median(samples.map((r) => r.p99)),
    failures: samples.reduce((n, r) => n + r.failures, 0),
  };
}

/**
 * Warms every load up, then runs `rounds` rounds that alternate between them,
 * so that drift on a shared machine falls on all alike.
 */
export async function alternate(loads: HttpLoad[], seconds: number, rounds: number): Promise<Figures[]> {
  for (const l of loads) await measure(l, 2);
  const results: LoadSample[][] = loads.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < loads.length; i++) results[i].push(await measure(loads[i], seconds / rounds));
  }
  return results.map(summarise);
}

/** One printed line of figures; `rows` > 1 adds rows/s. */
export function line(name: string, f: Figures, rows = 1): string {
  const failures = f.failures > 0 ? `   (${f.failures} failed)` : '';
  const perRow = rows > 1 ? `  = ${(f.rps * rows).toFixed(0).padStart(7)} rows/s` : '';
  const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0)).padStart(5);
  return `${name.padEnd(44)} ${f.rps.toFixed(0).padStart(7)} req/s${perRow}   p50 ${ms(f.p50)} ms   p99 ${ms(f.p99)} ms${failures}`;
}

let statsSeq = 0;

/** Asks a Ferry bench server for its pools' counters (answers are matched by id: several may be in flight). */
export function poolStats(c: Child): Promise<PoolStats[]> {
  const id = ++statsSeq;
  const answer = new Promise<PoolStats[]>((resolve) => {
    const on = (m: unknown) => {
      const msg = m as { id?: number; stats?: PoolStats[] };
      if (msg.id !== id || !msg.stats) return;
      c.child.off('message', on);
      resolve(msg.stats);
    };
    c.child.on('message', on);
  });
  c.child.send({ type: 'stats', id });
  return answer;
}

/** Average rows per batch between two snapshots of a pool. */
export function averageBatch(before: PoolStats, after: PoolStats): number {
  const sum = (s: PoolStats, k: 'batches' | 'rows') => s.replicas.reduce((n, r) => n + r[k], 0);
  return (sum(after, 'rows') - sum(before, 'rows')) / Math.max(1, sum(after, 'batches') - sum(before, 'batches'));
}
