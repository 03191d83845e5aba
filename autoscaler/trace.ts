/** A request-rate trace: points of (seconds, requests per second), rate linear between them. */
export interface TracePoint {
  t: number;
  rps: number;
}

/** Parses `time_s,requests_per_s` lines (a header line and `#` comments allowed). */
export function parseTrace(text: string, source = 'trace'): TracePoint[] {
  const points: TracePoint[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [a, b, ...rest] = line.split(',').map((x) => x.trim());
    const t = Number(a);
    const rps = Number(b);
    if (points.length === 0 && (Number.isNaN(t) || Number.isNaN(rps)) && rest.length === 0) return; // header
    if (!Number.isFinite(t) || !Number.isFinite(rps) || rps < 0 || rest.length > 0) {
      throw new Error(`${source}:${i + 1}: expected "seconds,requests_per_second" with non-negative numbers (got ${JSON.stringify(raw)})`);
    }
    if (points.length > 0 && t < points[points.length - 1].t) throw new Error(`${source}:${i + 1}: time ${t} goes backwards`);
    points.push({ t, rps });
  });
  if (points.length < 2) throw new Error(`${source}: a trace needs at least two points`);
  return points;
}

/** The rate at time `t`, linear between points (a repeated time makes a step). */
export function rateAt(trace: readonly TracePoint[], t: number): number {
  if (t <= trace[0].t) return trace[0].rps;
  for (let i = 1; i < trace.length; i++) {
    const a = trace[i - 1];
    const b = trace[i];
    if (t < b.t) return b.t === a.t ? b.rps : a.rps + ((b.rps - a.rps) * (t - a.t)) / (b.t - a.t);
  }
  return trace[trace.length - 1].rps;
}
