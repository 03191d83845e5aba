import type { SimStep, SimSummary } from './simulator.js';

const WIDTH = 900;
const PANEL = 170;
const GAP = 40;
const LEFT = 70;
const RIGHT = 20;
const TOP = 50;

interface Series {
  values: number[];
  color: string;
  label: string;
  dashed?: boolean;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const nice = (n: number) => (Number.isInteger(n) || n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

function panel(title: string, times: number[], series: Series[], index: number, end: number): string {
  const y0 = TOP + index * (PANEL + GAP);
  const plotW = WIDTH - LEFT - RIGHT;
  // A fold, not a spread: a long trace has more points than a call may take arguments.
  const max = series.reduce((m, s) => s.values.reduce((a, v) => (v > a ? v : a), m), 1e-9);
  const x = (t: number) => LEFT + (t / Math.max(end, 1e-9)) * plotW;
  const y = (v: number) => y0 + PANEL - (v / max) * PANEL;
  const out = [
    `<text x="${LEFT}" y="${y0 - 8}" font-size="13" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${LEFT}" y="${y0}" width="${plotW}" height="${PANEL}" fill="none" stroke="#bbb"/>`,
    `<text x="${LEFT - 6}" y="${y0 + 4}" font-size="11" text-anchor="end">${nice(max)}</text>`,
    `<text x="${LEFT - 6}" y="${y0 + PANEL}" font-size="11" text-anchor="end">0</text>`,
  ];
  series.forEach((s, k) => {
    // Thin the points to about one per pixel column.
    const every = Math.max(1, Math.floor(times.length / plotW));
    const pts: string[] = [];
    for (let i = 0; i < times.length; i += every) pts.push(`${x(times[i]).toFixed(1)},${y(s.values[i]).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5,3"' : ''} points="${pts.join(' ')}"/>`);
    out.push(`<text x="${WIDTH - RIGHT - 4}" y="${y0 + 14 + 14 * k}" font-size="11" text-anchor="end" fill="${s.color}">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

/** Draws a simulation: offered load, queue depth, and replicas (ready and target) over time, with the summary. */
export function renderChart(steps: readonly SimStep[], summary: SimSummary, title: string): string {
  const times = steps.map((s) => s.t);
  const end = times[times.length - 1] ?? 0;
  const height = TOP + 3 * (PANEL + GAP) + 40;
  const axisY = TOP + 3 * (PANEL + GAP) - GAP + 16;
  const ticks = Array.from({ length: 6 }, (_, i) => (end * i) / 5)
    .map((t) => `<text x="${LEFT + (t / Math.max(end, 1e-9)) * (WIDTH - LEFT - RIGHT)}" y="${axisY}" font-size="11" text-anchor="middle">${t.toFixed(0)}s</text>`)
    .join('\n');
  const line = `max queue ${nice(summary.maxQueue)} · over target ${summary.timeOverTargetS.toFixed(1)}s · replica-seconds ${summary.replicaSeconds.toFixed(0)} · served ${summary.served.toFixed(0)} of ${summary.offered.toFixed(0)} · ${summary.decisions} decisions`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    panel('offered load (requests/s)', times, [{ values: steps.map((s) => s.rps), color: '#1f77b4', label: 'requests/s' }], 0, end),
    panel('queue depth (requests waiting)', times, [{ values: steps.map((s) => s.queue), color: '#d62728', label: 'queued' }], 1, end),
    panel(
      'replicas',
      times,
      [
        { values: steps.map((s) => s.ready), color: '#2ca02c', label: 'ready' },
        { values: steps.map((s) => s.target), color: '#555', label: 'target', dashed: true },
      ],
      2,
      end,
    ),
    ticks,
    `<text x="${LEFT}" y="${height - 10}" font-size="12">${esc(line)}</text>`,
    '</svg>',
  ].join('\n');
}
