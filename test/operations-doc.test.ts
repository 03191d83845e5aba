import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';

/* docs/operations.md points each guarantee at the test that holds it: every pointer names a test file, and a test in it. */

const doc = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
const pointers = [...doc.matchAll(/`(test\/[a-z0-9-]+\.test\.ts)`(?: › ([^|]+?))?\s*\|/g)].map((m) => ({ file: m[1], title: m[2]?.trim() }));

t.test('every guarantee in docs/operations.md points at a test file that exists, and at a test in it', async (t) => {
  t.ok(pointers.length >= 20, `${pointers.length} pointers`);
  for (const { file, title } of pointers) {
    const path = new URL(`../${file}`, import.meta.url);
    t.ok(existsSync(path), `${file} exists`);
    if (!title || !existsSync(path)) continue;
    const titles = [...readFileSync(path, 'utf8').matchAll(/t\.test\((['"`])(.+?)\1/g)].map((m) => m[2]);
    t.ok(titles.some((x) => x.startsWith(title)), `${file} has a test beginning "${title}"`);
  }
  for (const section of ['Deploy', 'Update', 'Scale', 'Secure', 'Drain', 'Observe']) t.match(doc, new RegExp(`^## ${section}$`, 'm'), `a section on ${section.toLowerCase()}`);
});
