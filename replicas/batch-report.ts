import type { FromReplica } from './protocol.js';
import type { BatchGauges } from './replica-mailbox.js';

/** What a process replica reports of one batch, in one message: its figures, the window adaptive batching chose, its calls' times. */
export interface BatchReport {
  type: 'batch-report';
  finished?: { rows: number; ms: number; sources: number };
  adapted?: { windowMs: number; fixedMs: number; perRowMs: number };
  latenciesMs?: number[];
}

/**
 * Batch gauges for a replica in a child process, whose figures cross to the
 * control plane over IPC: what one batch reports in one turn (its end, the
 * window chosen, the calls answered) leaves as one message, at the end of
 * that turn, rather than one message each. `started` goes at once: the
 * control plane's watchdog times the batch from it.
 */
export function reportingGauges(reply: (msg: FromReplica) => void): BatchGauges {
  let report: BatchReport | null = null;
  const pending = (): BatchReport => {
    if (!report) {
      report = { type: 'batch-report' };
      queueMicrotask(() => {
        const r = report!;
        report = null;
        reply(r);
      });
    }
    return report;
  };
  return {
    started: (at) => reply({ type: 'batch-started', at }),
    finished: (rows, ms, sources) => void (pending().finished = { rows, ms, sources }),
    adapted: (windowMs, fixedMs, perRowMs) => void (pending().adapted = { windowMs, fixedMs, perRowMs }),
    answered: (latenciesMs) => {
      const r = pending();
      r.latenciesMs = r.latenciesMs ? r.latenciesMs.concat(latenciesMs) : latenciesMs;
    },
  };
}
