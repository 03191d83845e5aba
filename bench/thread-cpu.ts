import { readdirSync, readFileSync } from 'node:fs';

/** CPU milliseconds each thread of a process has used, by thread id (Linux /proc). */
export function threadCpu(pid: number): Map<number, number> {
  return new Map([...threadCpuNamed(pid)].map(([tid, t]) => [tid, t.ms]));
}

/** CPU milliseconds and the kernel's name (`comm`: WorkerThread, V8Worker, libuv-worker...) of each thread of a process. */
export function threadCpuNamed(pid: number): Map<number, { name: string; ms: number }> {
  const out = new Map<number, { name: string; ms: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, in clock ticks of 10 ms.
      out.set(Number(tid), { name, ms: (Number(fields[11]) + Number(fields[12])) * 10 });
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
