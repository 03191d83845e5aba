import { readdirSync, readFileSync } from 'node:fs';

/** CPU milliseconds each thread of a process has used, by thread id (Linux /proc). */
export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, in clock ticks of 10 ms.
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return out;
}

/** CPU µs per request between two snapshots: the main (event-loop) thread, and every other thread together. */
export function cpuPerRequest(pid: number, before: Map<number, number>, after: Map<number, number>, requests: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const [tid, ms] of after) {
    const used = ms - (before.get(tid) ?? 0);
    if (tid === pid) main += used;
    else others += used;
  }
  return { main: (main * 1000) / requests, others: (others * 1000) / requests };
}
