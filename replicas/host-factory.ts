import { ProcessHost } from './process-host.js';
import type { HostFactory } from './replica-host.js';
import { ThreadHost } from './thread-host.js';

/** Creates thread or process hosts; remote hosts plug in through the same signature. */
export const defaultHostFactory: HostFactory = (kind, events) =>
  kind === 'process' ? new ProcessHost(events) : new ThreadHost(events);
