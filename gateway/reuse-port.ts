import { createServer } from 'node:net';

/**
 * Whether this runtime lets several threads listen on one port: Node's
 * `reusePort` listen option (SO_REUSEPORT) arrived in Node 22.12 and 23.1,
 * and Ferry uses it on Linux, where the kernel spreads connections over the
 * listeners. Null when it can, else why not (said once at start).
 */
export function reusePortUnavailable(version: string = process.versions.node, platform: string = process.platform): string | null {
  const [major, minor] = version.split('.').map(Number);
  const supported = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  if (!supported) return `Node ${version} cannot share a port between threads (reusePort needs Node 22.12 or later)`;
  if (platform !== 'linux') return `threads share a port only on Linux here (this is ${platform})`;
  return null;
}

/**
 * Fails as a plain listen would (EADDRINUSE, EACCES…) when something already
 * listens on `host`:`port`, another Ferry's reusePort threads included:
 * threads that share a port with reusePort would otherwise join it silently
 * and split its traffic. A socket without reusePort cannot bind where
 * others have it, so a bind and close here tells.
 */
export function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host, port }, () => probe.close(() => resolve()));
  });
}
