/*
 * `npm run bench -- kill`: 32 clients send steady requests to a deployment of
 * two process replicas while one replica is SIGKILLed every 2 s for 12 s.
 * Every answer is checked against its own request (scaled = x·k, next = k+1):
 * prints answers by status, wrong answers, and requests with no answer.
 */
import { request, Agent } from 'node:http';
import { poolStats, startChild, stopChild } from './bench-kit.js';

const server = await startChild('kill-server');
const url = `${server.url}/v2/models/mixed/infer`;
const outcomes = new Map<string, number>();
const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
let wrong = 0;
let running = true;

function ask(agent: Agent, x: number[], k: number): Promise<void> {
  const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: x }, { name: 'k', shape: [1, 1], datatype: 'INT64', data: [k] }] });
  return new Promise((resolve) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const answer = JSON.parse(text);
        count(res.statusCode === 200 ? '200' : `${res.statusCode} ${answer.code}`);
        if (res.statusCode === 200) {
          const out = Object.fromEntries(answer.outputs.map((o: { name: string; data: number[] }) => [o.name, o.data]));
          const ok = out.next[0] === k + 1 && out.scaled.every((v: number, i: number) => Math.abs(v - Math.fround(x[i]) * k) < 1e-3);
          if (!ok) wrong++;
        }
        resolve();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => (count(`no answer (${err.code})`), resolve()));
    req.end(body);
  });
}

const clients = Array.from({ length: 32 }, async (_, c) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; running; i++) await ask(agent, [c, i % 97, -i, 0.5], (c * 31 + i) % 1000);
  agent.destroy();
});
for (let i = 0; i < 6; i++) {
  await new Promise((r) => setTimeout(r, 2000));
  server.child.send({ type: 'kill', deployment: 'mixed' });
}
await new Promise((r) => setTimeout(r, 2000));
running = false;
await Promise.all(clients);
const [pool] = await poolStats(server);
await stopChild(server);

console.log('\nFerry replica-kill bench — mixed-inputs, 2 process replicas, 32 clients, a SIGKILL every 2 s (6 in all), one run');
for (const [k, n] of [...outcomes].sort()) console.log(`  ${k.padEnd(44)} ${n}`);
console.log(`  wrong answers:                               ${wrong}`);
console.log(`  replicas replaced: ${pool.restarts}, calls retried on another replica: ${pool.retried}`);
