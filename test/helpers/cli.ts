import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
/** tsx, loaded so the CLI's coverage maps to its TypeScript (see tsx-coverage.mjs). */
export const TSX = new URL('./tsx-coverage.mjs', import.meta.url).href;

/** A running `ferry` command: its process, what it printed so far, and its exit code. */
export interface FerryRun {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

/** Runs the `ferry` CLI from source (through tsx) with `args`, and `env` beside the test's environment. */
export function ferry(args: string[], env: Record<string, string> = {}): FerryRun {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

/** Waits for `ferry serve` to print where it listens; fails with its output if it never does. */
export async function urlOf(run: FerryRun): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const m = run.out().match(/listening on (http:\/\/\S+)/);
    if (m) return m[1];
    if (run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`ferry did not start: ${run.out()} ${run.err()}`);
}
