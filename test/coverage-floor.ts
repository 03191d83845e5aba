/**
 * The coverage floor `npm test` holds after tap has run (its `posttest`):
 * line and branch coverage of each guarded folder, summed over its files from
 * tap's json-summary report, must not fall below the floors in
 * coverage-floor.json. Floors are set at what the suite reaches and are only
 * ever raised. A run of some test files only (`npm test -- test/x.test.ts`)
 * is not held to them: the check says so and passes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

interface Counts {
  total: number;
  covered: number;
}
type Floors = Record<string, { lines: number; branches: number }>;

const TAP_DIR = join(PACKAGE_ROOT, '.tap');
const floors: Floors = JSON.parse(readFileSync(new URL('./coverage-floor.json', import.meta.url), 'utf8'));

/** Test files under test/, relative to the root, as tap names them. */
function testFiles(dir = join(PACKAGE_ROOT, 'test')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [relative(PACKAGE_ROOT, join(dir, e.name)).split(sep).join('/')] : [],
  );
}

/** The test files tap ran last time, from its per-process records. */
function filesRun(): Set<string> {
  const dir = join(TAP_DIR, 'processinfo');
  const ids = new Set<string>();
  for (const f of readdirSync(dir)) {
    const id = JSON.parse(readFileSync(join(dir, f), 'utf8')).externalID;
    if (typeof id === 'string') ids.add(id);
  }
  return ids;
}

const all = testFiles();
const ran = filesRun();
const missing = all.filter((f) => !ran.has(f));
if (missing.length > 0) {
  console.log(`coverage floor: not checked, ${all.length - missing.length} of ${all.length} test files ran`);
  process.exit(0);
}

const summary: Record<string, { lines: Counts; branches: Counts }> = JSON.parse(readFileSync(join(TAP_DIR, 'report', 'coverage-summary.json'), 'utf8'));
const sums = new Map<string, { lines: Counts; branches: Counts }>();
for (const [file, c] of Object.entries(summary)) {
  if (file === 'total') continue;
  const folder = relative(PACKAGE_ROOT, file).split(sep)[0];
  const s = sums.get(folder) ?? { lines: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 } };
  for (const k of ['lines', 'branches'] as const) {
    s[k].total += c[k].total;
    s[k].covered += c[k].covered;
  }
  sums.set(folder, s);
}

const pct = (c: Counts) => (c.total === 0 ? 100 : (100 * c.covered) / c.total);
const short: string[] = [];
const rows: string[] = [];
for (const [folder, floor] of Object.entries(floors)) {
  const s = sums.get(folder);
  if (!s) {
    short.push(`${folder}/ has no coverage at all`);
    continue;
  }
  const lines = pct(s.lines);
  const branches = pct(s.branches);
  rows.push(`${folder}/ lines ${lines.toFixed(2)}% (floor ${floor.lines}), branches ${branches.toFixed(2)}% (floor ${floor.branches})`);
  if (lines < floor.lines) short.push(`${folder}/ lines ${lines.toFixed(2)}% < ${floor.lines}%`);
  if (branches < floor.branches) short.push(`${folder}/ branches ${branches.toFixed(2)}% < ${floor.branches}%`);
}
for (const r of rows) console.log(`coverage floor: ${r}`);
if (short.length > 0) {
  console.log(`coverage floor not met: ${short.join('; ')}`);
  process.exit(1);
}
console.log('coverage floor: met');
