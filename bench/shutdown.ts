/*
 * `npm run bench -- shutdown`: `ferry serve` (the example config) under
 * steady keep-alive load from 32 clients, then SIGTERM. Prints what every
 * request sent got — 200, 503 FERRY_ERR_SHUTTING_DOWN, or a connection reset
 * (a request on the wire that no answer came back for) — and how long the
 * process took to exit. A client stops sending once it was told to go away
 * (503 or Connection: close) or its connection was refused.
 */
import { Agent, request } from 'node:http';
import { EXAMPLE_CONFIG } from '../paths.js';
import { serveCli } from './bench-kit.js';
import { jsonRequest } from './payloads.js';

const { child, url } = await serveCli([EXAMPLE_CONFIG, '--port', '0']);
const exited = new Promise<number>((resolve) => child.on('exit', () => resolve(performance.now())));

const body = jsonRequest(1);
const outcomes = new Map<string, number>();
const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
let sigtermAt = 0;

function post(agent: Agent): Promise<'again' | 'stop'> {
  return new Promise((resolve) => {
    const req = request(`${url}/v2/models/mlp/infer`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const code = res.statusCode === 200 ? '200' : `${res.statusCode} ${JSON.parse(text).code}`;
        count(sigtermAt && res.statusCode === 200 ? '200 (after SIGTERM)' : code);
        resolve(res.statusCode === 200 && res.headers.connection !== 'close' ? 'again' : 'stop');
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      count(err.code === 'ECONNREFUSED' ? 'refused (listener closed; not an accepted request)' : `error ${err.code}`);
      resolve('stop');
    });
    req.end(body);
  });
}

const clients = Array.from({ length: 32 }, async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while ((await post(agent)) === 'again');
  agent.destroy();
});
await new Promise((r) => setTimeout(r, 3000));
sigtermAt = performance.now();
child.kill('SIGTERM');
await Promise.all(clients);
const exitAt = await exited;

console.log('\nFerry shutdown bench — example config, 32 keep-alive JSON clients, SIGTERM after 3 s, one run');
for (const [k, n] of [...outcomes].sort()) console.log(`  ${k.padEnd(56)} ${n}`);
const resets = [...outcomes].filter(([k]) => k.startsWith('error')).reduce((a, [, n]) => a + n, 0);
console.log(`  connection resets / unanswered requests:               ${resets}`);
console.log(`  SIGTERM → process exit:                                ${((exitAt - sigtermAt) / 1000).toFixed(2)} s`);
