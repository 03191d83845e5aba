import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import t, { type Test } from 'tap';
import { buildGateway } from '../gateway/index.js';
import { FerryMetrics } from '../metrics/index.js';
import { StatusPage, type StatusLike } from '../dashboard/index.js';
import { modelPath } from '../models/index.js';
import { randomRow, startFerry } from './helpers/ferry.js';
import { requireCommand } from './helpers/system-tool.js';

/*
 * /-/dashboard as a person sees it: Debian's chromium, driven by
 * playwright-core, kept off the network by its flags.
 */

const CHROMIUM = '/usr/bin/chromium';
const OPS = 'ops-key-for-the-status-page';
const CLIENT = 'client-key-for-the-status-page';
const sha = (key: string) => createHash('sha256').update(key).digest('hex');
/** The README's picture of the page, taken by this test. */
const SCREENSHOT = fileURLToPath(new URL('../docs/images/status-page.png', import.meta.url));

async function launch(t: Test): Promise<Browser | null> {
  if (!requireCommand(t, 'chromium', 'chromium', { whole: true })) return null;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
  t.teardown(() => browser.close());
  return browser;
}

/** Keeps `clients` requests to `url` in flight until stopped; returns how many answered 200. */
function load(url: string, key: string, clients: number) {
  let running = true;
  let ok = 0;
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 784], data: randomRow(7, 784) }] });
  const done = Promise.all(
    Array.from({ length: clients }, async () => {
      while (running) {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
      }
    }),
  );
  return { stop: async () => ((running = false), await done, ok) };
}

t.test('the status page loads behind the admin key, lists the deployments, and its numbers move under load', async (t) => {
  const browser = await launch(t);
  if (!browser) return;
  const server = await startFerry(
    t,
    [
      {
        name: 'mlp',
        model: modelPath('mlp.onnx'),
        batching: { maxBatchSize: 8, batchWaitTimeoutMs: 5 },
        autoscaling: { minReplicas: 1, maxReplicas: 2, targetOngoingRequests: 1, metricsIntervalMs: 100, lookBackPeriodMs: 400, upscaleDelayMs: 200, downscaleDelayMs: 60_000 },
      },
      { name: 'mnist-cnn', model: modelPath('mnist-cnn.onnx') },
    ],
    {},
    {
      auth: {
        apiKeys: [
          { name: 'ops', sha256: sha(OPS), scopes: ['admin'] },
          { name: 'client', sha256: sha(CLIENT), scopes: ['infer'] },
        ],
        public: ['health'],
      },
    },
    { statusPageIntervalMs: 250 },
  );

  // Headless, a browser given no credentials ends a Basic challenge as a failed navigation.
  await t.rejects((await browser.newContext()).newPage().then((p) => p.goto(`${server.url}/-/dashboard`)), /ERR_INVALID_AUTH_CREDENTIALS/, 'no key: the browser is asked for one');
  const refused = await fetch(`${server.url}/-/dashboard/data`);
  t.equal(refused.status, 401, 'no key: refused');
  t.match(refused.headers.get('www-authenticate'), /^Basic realm="ferry"/, 'with a Basic challenge, so a browser shows its sign-in prompt');
  const client = await browser.newContext({ httpCredentials: { username: 'client', password: CLIENT } });
  t.equal((await (await client.newPage()).goto(`${server.url}/-/dashboard`))?.status(), 403, 'a key without admin scope: forbidden');

  const ops = await browser.newContext({ httpCredentials: { username: 'ops', password: OPS }, viewport: { width: 1280, height: 900 } });
  const page = await ops.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => (m.type() === 'error' ? errors.push(m.text()) : undefined));
  const refusals: string[] = [];
  page.on('response', (r) => (r.status() >= 400 ? refusals.push(`${r.status()} ${new URL(r.url()).pathname}`) : undefined));
  const res = await page.goto(`${server.url}/-/dashboard`);
  t.equal(res?.status(), 200);
  t.match(res?.headers()['content-security-policy'], /script-src 'self'/, 'only its own scripts run');
  await page.waitForSelector('[data-deployment="mnist-cnn"] canvas');
  t.same(await page.$$eval('[data-deployment] h2', (hs) => hs.map((h) => h.textContent)), ['mlp', 'mnist-cnn'], 'every deployment listed');
  t.equal(await page.textContent('[data-deployment="mlp"] [data-field="ready"]'), '1');
  t.equal(await page.textContent('[data-deployment="mlp"] [data-field="bounds"]'), '1–2');
  t.equal(await page.$$eval('[data-deployment="mlp"] .cell.ready', (c) => c.length), 1, 'one square per replica');
  t.equal(await page.$$eval('[data-deployment="mlp"] .chart canvas', (c) => c.length), 6, 'six charts, drawn by uPlot');
  t.match(await page.textContent('#nodes tbody'), /this machine/);
  const rateBefore = await page.textContent('[data-deployment="mlp"] [data-stat="rate"]');
  t.equal(rateBefore, '0.0', 'no traffic yet');
  t.equal(await page.textContent('[data-deployment="mlp"] [data-stat="queue"]'), 'queued 0 · in flight 0');
  await page.goto(`${server.url}/-/dashboard/`);
  t.equal(new URL(page.url()).pathname, '/-/dashboard', 'a trailing slash is sent to the page');
  await page.waitForSelector('[data-deployment="mlp"] canvas');

  const traffic = load(`${server.url}/v2/models/mlp/infer`, CLIENT, 6);
  try {
    await page.waitForFunction(() => Number(document.querySelector('[data-deployment="mlp"] [data-stat="rate"]')?.textContent) > 0, undefined, { timeout: 30_000 });
    await page.waitForFunction(() => /^p50 \d/.test(document.querySelector('[data-deployment="mlp"] [data-stat="latency"]')?.textContent ?? ''), undefined, { timeout: 30_000 });
    // The autoscaler sees six calls against a target of one, and adds the second replica.
    await page.waitForFunction(() => document.querySelector('[data-deployment="mlp"] .decisions li')?.textContent?.includes('1 → 2'), undefined, { timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('[data-deployment="mlp"] .cell.ready').length === 2, undefined, { timeout: 30_000 });
    // Some seconds of traffic in the charts, for the README's picture.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await page.evaluate(() => document.querySelectorAll('details').forEach((d) => d.setAttribute('open', '')));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } finally {
    t.ok((await traffic.stop()) > 0, 'the load was answered');
  }
  const rate = Number(await page.textContent('[data-deployment="mlp"] [data-stat="rate"]'));
  t.ok(rate > 0, `requests/s shown: ${rate}`);
  t.match(await page.textContent('[data-deployment="mlp"] .decisions'), /1 → 2 \(up\)/, "the autoscaler's decision, with its reason");
  t.equal(await page.textContent('[data-deployment="mnist-cnn"] [data-stat="rate"]'), '0.0', 'the idle deployment stays at zero');
  t.same(refusals, [], 'nothing the page asked for was refused');
  // Chromium logs Basic authentication's first round (asked without credentials, challenged with 401) as an error.
  t.same(errors.filter((e) => !/status of 401/.test(e)), [], 'no script error, nothing blocked by the page\'s policy');
});

t.test('at hundreds of replicas the page shows one square each, and polls without piling them up', async (t) => {
  const browser = await launch(t);
  if (!browser) return;
  const metrics = new FerryMetrics({ processWide: false });
  const replicas = Array.from({ length: 400 }, (_, i) => ({ id: `big#${i + 1}`, state: i < 390 ? 'ready' : 'starting', ongoing: i % 7 === 0 ? 1 : 0 }));
  const status: StatusLike = {
    version: 'test',
    node: { cpus: 64, gpus: 0, usedCpus: 64, usedGpus: 0 },
    deployments: [
      {
        deployment: 'big',
        queueDepth: 3,
        ongoing: 58,
        pending: 25,
        target: 425,
        restarts: 0,
        readiness: { ready: true, reason: '' },
        replicas,
        autoscaling: { minReplicas: 1, maxReplicas: 425 },
        decisions: { changes: [{ at: Date.now(), deployment: 'big', from: 100, to: 425, direction: 'up', totalRequests: 850, runningReplicas: 100, reason: 'ongoing 850 over target 2 per replica' }] },
      },
    ],
  };
  const statusPage = new StatusPage({ status: () => status, metrics: () => metrics.traffic() }, 100);
  statusPage.start();
  t.teardown(() => statusPage.stop());
  const app = buildGateway({ targets: new Map(), dashboard: (since) => statusPage.data(since) });
  t.teardown(() => app.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  // A phone's width: the page scrolls down, not sideways.
  const page = await (await browser.newContext({ viewport: { width: 400, height: 800 } })).newPage();
  await page.goto(`${url}/-/dashboard`);
  await page.waitForSelector('[data-deployment="big"] canvas');
  const seq = Number(await page.getAttribute('body', 'data-seq'));
  await page.waitForFunction((s) => Number(document.body.dataset.seq) >= s + 5, seq, { timeout: 30_000 });
  t.equal(await page.$$eval('.cell.ready', (c) => c.length), 390);
  t.equal(await page.$$eval('.cell.starting', (c) => c.length), 10);
  t.equal(await page.$$eval('.cell.pending', (c) => c.length), 25, 'pending replicas shown as well');
  t.equal(await page.$$eval('.cell.busy', (c) => c.length), 58, 'those holding calls are marked');
  t.equal(await page.textContent('[data-field="pending"]'), '25');
  t.match(await page.getAttribute('.cell', 'title'), /big#1 · ready · 1 in flight/);
  const box = await page.locator('[data-field="cells"]').boundingBox();
  t.ok(box && box.height <= 8 * 16, `the squares stay within a few lines (${box?.height} px high)`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  t.ok(wide <= 400, `nothing wider than a 400 px screen (${wide} px)`);
});
