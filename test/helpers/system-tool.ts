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
 * Checks a system tool a test needs. Missing: the test is skipped with the
 * Debian package to install — or fails under CI, which installs it.
 */
export function requireCommand(t: Test, command: string, debianPackage: string): boolean {
  if (hasCommand(command)) return true;
  const message = `${command} not found: install Debian's ${debianPackage} package (apt-get install ${debianPackage})`;
  if (process.env.CI) t.fail(message);
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
