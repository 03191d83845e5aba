import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { freePort, requireCommand } from './system-tool.js';

/** A real redis-server a test started on a free port, in a folder of its own. */
export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGTERM; with AOF, what was acknowledged is on disk) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder (an AOF server reloads its data). */
  start(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open and nothing answers, as a hung Redis. */
  pause(): void;
  /** Lets a frozen one go on (SIGCONT). */
  resume(): void;
}

/** Resolves once something answers PING on `port` (within `ms`). */
async function answersPing(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', () => resolve(false));
      socket.once('data', (d) => {
        socket.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      socket.once('connect', () => socket.write('PING\r\n'));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts redis-server for a test (Debian's `redis-server` package; without
 * it the test is skipped with that message, or fails under CI), stopped when
 * the test ends. `aof` turns on the append-only file with fsync on every
 * write, as Ferry's docker-compose runs it. Resolves null when skipped.
 */
export async function startRedis(t: Test, opts: { aof?: boolean } = {}): Promise<TestRedis | null> {
  if (!requireCommand(t, 'redis-server', 'redis-server', { whole: true })) return null;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-redis-'));
  let child: ChildProcess | null = null;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--protected-mode', 'no'];
  if (opts.aof) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      await answersPing(port);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      // A frozen one would not hear SIGTERM.
      c.kill('SIGCONT');
      await new Promise((resolve) => {
        c.once('exit', resolve);
        c.kill('SIGTERM');
      });
    },
  };
  await redis.start();
  t.teardown(() => redis.stop());
  return redis;
}
