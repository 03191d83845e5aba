/*
 * `npm run bench -- handles`: what one handler stage and one handle hop add.
 * The same single-row JSON request, one at a time, to the MLP deployment
 * directly and to a handler that relays it there through a handle (request →
 * handler replica → control plane → MLP replica and back), in alternating
 * rounds of one run: p50 of each and the difference.
 */
import { fileURLToPath } from 'node:url';
import { FerryServer, validateConfig } from '../index.js';
import { modelPath } from '../models/index.js';
import { jsonRequest } from './payloads.js';

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const relay = fileURLToPath(new URL(`./relay.handler${ext}`, import.meta.url));
const config = validateConfig(
  {
    http: { port: 0 },
    node: { cpus: 2 },
    deployments: [
      { name: 'mlp', model: './mlp.onnx', resources: { cpus: 1 } },
      { name: 'relay', handler: relay, userConfig: { to: 'mlp' }, resources: { cpus: 1 } },
    ],
  },
  modelPath('ferry.config.ts'),
);
const server = await FerryServer.start(config);
const body = jsonRequest(1);

async function p50(name: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await fetch(`${server.url}/v2/models/${name}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(n / 2)];
}

await p50('mlp', 200);
await p50('relay', 200);
const rounds: [number, number][] = [];
for (let r = 0; r < 3; r++) rounds.push([await p50('mlp', 300), await p50('relay', 300)]);
await server.close(1000);
console.log(`\nFerry bench — one handle hop, single-row JSON, one request at a time, ${rounds.length} alternating rounds of 300`);
for (const [direct, relayed] of rounds) {
  console.log(`  p50 direct ${direct.toFixed(3)} ms   through a relaying handler ${relayed.toFixed(3)} ms   added ${(relayed - direct).toFixed(3)} ms`);
}
