import type { Writable } from 'node:stream';
import ora, { type Ora } from 'ora';
import type { StartProgress } from '../ferry-server.js';

/** What `ferry serve` shows while replicas start: told each step, then done (or failed) once the start ends. */
export interface ProgressView {
  step(event: StartProgress): void;
  /** The start ended: the spinner goes (its last line stays on a terminal, with the replicas still `pending` per deployment: room on no node), nothing more is written. */
  done(ok: boolean, pending?: Readonly<Record<string, number>>): void;
  /**
   * The log's way out while the spinner spins: where the log goes to the same
   * terminal, each line is written above the spinner (cleared, the line,
   * drawn again), so its redraws never erase a line; otherwise, and once the
   * start is over, lines go straight to `dest`.
   */
  logTo(dest: { write(chunk: string): unknown }, sameTerminal: boolean): { write(chunk: string): boolean };
}

/** A log destination that writes straight through. */
const through = (dest: { write(chunk: string): unknown }) => ({
  write: (chunk: string) => {
    dest.write(chunk);
    return true;
  },
});

/**
 * Whether a spinner can be drawn on `stream`: a terminal with a width. A
 * pseudo-terminal of no size (0 columns) is a terminal to Node, but ora would
 * redraw on it without end, so it gets the plain lines.
 */
export function drawsSpinner(stream: { isTTY?: boolean; columns?: number }): boolean {
  return stream.isTTY === true && (stream.columns ?? 0) > 0;
}

/**
 * Each deployment's replicas starting, as it happens. On a terminal, one
 * spinner line (ora) with every deployment's replicas ready out of those
 * starting and the latest step; elsewhere (a pipe, a log collector), a plain
 * line per step: `ferry: mlp: starting replica mlp#1`, `ferry: mlp: replica
 * mlp#1 ready in 85 ms`.
 */
export function startProgress(stream: Writable & { isTTY?: boolean; columns?: number }): ProgressView {
  if (!drawsSpinner(stream)) {
    let over = false;
    return {
      step: (e) => {
        if (over) return;
        stream.write(e.phase === 'starting' ? `ferry: ${e.deployment}: starting replica ${e.replica}\n` : `ferry: ${e.deployment}: replica ${e.replica} ready in ${e.ms} ms\n`);
      },
      done: () => {
        over = true;
      },
      logTo: through,
    };
  }
  const counts = new Map<string, { starting: number; ready: number }>();
  let spinner: Ora | null = null;
  let finished = false;
  return {
    step: (e) => {
      if (finished) return;
      const c = counts.get(e.deployment) ?? { starting: 0, ready: 0 };
      counts.set(e.deployment, c);
      if (e.phase === 'starting') c.starting++;
      else c.ready++;
      const each = [...counts].map(([name, n]) => `${name} ${n.ready}/${n.starting}`).join(', ');
      const latest = e.phase === 'starting' ? `loading ${e.replica}` : `${e.replica} ready in ${e.ms} ms`;
      const text = `starting replicas: ${each} (${latest})`;
      if (spinner) spinner.text = text;
      else spinner = ora({ text, stream }).start();
    },
    done: (ok, pending = {}) => {
      finished = true;
      if (!spinner) return;
      for (const name of Object.keys(pending)) if (pending[name]! > 0 && !counts.has(name)) counts.set(name, { starting: 0, ready: 0 });
      const each = [...counts]
        .map(([name, n]) => {
          const waiting = pending[name] ?? 0;
          return `${name} ${n.ready}/${n.starting + waiting}${waiting > 0 ? ` (${waiting} pending: no room)` : ''}`;
        })
        .join(', ');
      if (ok) spinner.succeed(`replicas ready: ${each}`);
      else spinner.fail(`start failed: ${each} ready`);
    },
    logTo: (dest, sameTerminal) => {
      if (!sameTerminal) return through(dest);
      return {
        write: (chunk) => {
          if (!spinner || finished) {
            dest.write(chunk);
            return true;
          }
          spinner.clear();
          stream.write(chunk);
          spinner.render();
          return true;
        },
      };
    },
  };
}
