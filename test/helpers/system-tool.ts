import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Test } from 'tap';

/** True when `command` is on PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a system tool a test needs. Missing: the check is skipped with the
 * Debian package to install — or fails under CI, which installs it. With
 * `whole`, called before any assertion, the whole test is reported skipped
 * (`# SKIP` on its own line, which `.ci/run` does not count as passed).
 */
export function requireCommand(t: Test, command: string, debianPackage: string, opts: { whole?: boolean } = {}): boolean {
  if (hasCommand(command)) return true;
  const message = `${command} not found: install Debian's ${debianPackage} package (apt-get install ${debianPackage})`;
  if (process.env.CI) t.fail(message);
  else if (opts.whole) t.plan(0, message);
  else t.skip(message, () => {});
  return false;
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
