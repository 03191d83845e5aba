import { readFileSync } from 'node:fs';
import t from 'tap';
import * as registry from '../errors.js';

const doc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `(FERRY_ERR_[A-Z_]+)` \| (\d{3}|—) \|/gm)].map((m) => [m[1], m[2]]),
);

t.test('docs/api.md lists exactly the codes in the registry, with their statuses', async (t) => {
  t.same([...rows.keys()].sort(), [...registry.ERROR_CODES].sort());
  for (const [name, value] of Object.entries(registry)) {
    if (typeof value !== 'function') continue;
    const err = new (value as new (...a: unknown[]) => { code: string; statusCode: number })('x', 'y', 'z');
    const documented = rows.get(err.code);
    if (documented === '—') t.match(err.code, /CONFIG|DEVICE/, `${name} is a startup error`);
    else t.equal(documented, String(err.statusCode), `${err.code} is documented with status ${err.statusCode}`);
  }
});

t.test('codes are unique and well formed', async (t) => {
  t.equal(new Set(registry.ERROR_CODES).size, registry.ERROR_CODES.length);
  for (const code of registry.ERROR_CODES) t.match(code, /^FERRY_ERR_[A-Z]+(_[A-Z]+)*$/);
});
