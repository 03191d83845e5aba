/*
 * `npm run bench -- slow-senders [receive-ms]`: 200 clients send their
 * headers and then one body byte per second (a slowloris), while 16 others
 * send ordinary requests flat out. With `http.receiveTimeoutMs` (5 s here by
 * default; 30 s unless configured), each slow client must get 408 and have
 * its socket closed, and the server's open descriptors must come back down.
 * Prints the slow clients by outcome and when they were cut off, the server's
 * descriptors before, during and after, and what the ordinary load got.
 */
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { runLoad, startChild, stopChild } from './bench-kit.js';
import { jsonRequest } from './payloads.js';

const RECEIVE_MS = Number(process.argv[3] ?? 5000);
const SLOW = 200;
process.env.FERRY_BENCH_RECEIVE_MS = String(RECEIVE_MS);
const server = await startChild('slow-senders-server');
const { hostname, port } = new URL(server.url);
const fds = () => readdirSync(`/proc/${server.child.pid}/fd`).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Slow {
  socket: Socket;
  status: string;
  closedAfterMs: number | null;
}
const started = performance.now();
const fdsBefore = fds();
const slow: Slow[] = [];
for (let i = 0; i < SLOW; i++) {
  const socket = connect(Number(port), hostname);
  const s: Slow = { socket, status: 'no answer', closedAfterMs: null };
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    if (s.status === 'no answer') s.status = d.slice(0, d.indexOf('\r\n')).replace(/^HTTP\/1\.1 /, '');
  });
  socket.on('close', () => (s.closedAfterMs = performance.now() - started));
  socket.on('error', () => {});
  socket.write(`POST /v2/models/mlp/infer HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
  slow.push(s);
}
const drip = setInterval(() => {
  for (const s of slow) if (s.closedAfterMs === null) s.socket.write(' ');
}, 1000);
await sleep(1000);
const fdsDuring = fds();
const load = await runLoad(
  { url: `${server.url}/v2/models/mlp/infer`, body: jsonRequest(1), headers: { 'content-type': 'application/json' }, connections: 16 },
  Math.ceil((RECEIVE_MS + 3000) / 1000),
);
await sleep(1000);
clearInterval(drip);
const fdsAfter = fds();
for (const s of slow) s.socket.destroy();
await stopChild(server);

const byStatus = new Map<string, number>();
for (const s of slow) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
const closed = slow.filter((s) => s.closedAfterMs !== null && s.status !== 'no answer').map((s) => s.closedAfterMs!).sort((a, b) => a - b);
console.log(`\nFerry slow-sender bench — ${SLOW} clients sending a body byte a second, http.receiveTimeoutMs ${RECEIVE_MS}, one run`);
console.log(`  slow clients: ${[...byStatus].map(([k, n]) => `${n} × ${k}`).join(', ')}`);
console.log(
  `  closed by the server: ${closed.length} of ${SLOW}` +
    (closed.length ? `, ${(closed[0] / 1000).toFixed(1)}–${(closed.at(-1)! / 1000).toFixed(1)} s after they connected` : ''),
);
console.log(`  server file descriptors: ${fdsBefore} before, ${fdsDuring} with the slow clients connected, ${fdsAfter} after the timeout`);
console.log(
  `  ordinary load meanwhile (16 connections): ${load.requests.total} answers, ${load.non2xx} non-2xx, ${load.errors} errors, ` +
    `p50 ${load.latency.p50} ms, p99 ${load.latency.p99} ms`,
);
