import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { PACKAGE_ROOT } from '../paths.js';

/** The page's own files, beside this folder's source. */
const PAGE_DIR = join(PACKAGE_ROOT, 'dashboard', 'page');
/** uPlot's browser build, as its package ships it. */
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'));

const ASSETS: Record<string, { dir: string; type: string }> = {
  'status-page.js': { dir: PAGE_DIR, type: 'text/javascript; charset=utf-8' },
  'status-page.css': { dir: PAGE_DIR, type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { dir: UPLOT_DIR, type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { dir: UPLOT_DIR, type: 'text/css; charset=utf-8' },
};

/** Read once, on first use: a few tens of kB, served from memory. */
let files: Map<string, Buffer> | null = null;
function file(name: string): Buffer {
  files ??= new Map([['index.html', readFileSync(join(PAGE_DIR, 'index.html'))], ...Object.entries(ASSETS).map(([n, a]) => [n, readFileSync(join(a.dir, n))] as const)]);
  return files.get(name)!;
}

/** What each route says of itself in the OpenAPI document (`/docs`), under the admin routes' tag. */
const TAGS = ['Administration (admin key)'];
const DOCS = {
  page: { tags: TAGS, summary: 'Status page', description: 'The live status page for a browser (HTTP Basic: the admin key as password).' },
  asset: { tags: TAGS, summary: "Status page's scripts and styles" },
  data: { tags: TAGS, summary: "Status page's data", description: "The samples after `since` (each deployment's last minutes) and every deployment and node now." },
};

/** The page runs only its own scripts and styles, and talks only to this server. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

/**
 * The status page: `GET /-/dashboard` (HTML), its scripts and styles under
 * `/-/dashboard/assets/`, and `GET /-/dashboard/data?since=N`, what the
 * page polls (a {@link StatusPageData}: the samples after N and the state
 * now). Admin routes: with API keys, a browser signs in with HTTP Basic
 * (any user name, the key as password; see registerAuth).
 */
export function registerDashboardRoutes(app: FastifyInstance, data: (since: number) => unknown): void {
  app.get('/-/dashboard', { schema: DOCS.page }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('content-security-policy', CONTENT_SECURITY_POLICY).header('cache-control', 'no-cache').send(file('index.html')),
  );
  // The page's links are relative to /-/dashboard: with a trailing slash they would miss.
  app.get('/-/dashboard/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('../dashboard'));
  app.get<{ Params: { file: string } }>('/-/dashboard/assets/:file', { schema: DOCS.asset }, async (req, reply) => {
    const asset = Object.hasOwn(ASSETS, req.params.file) ? ASSETS[req.params.file]! : null;
    if (!asset) return reply.callNotFound();
    return reply.type(asset.type).header('cache-control', 'no-cache').send(file(req.params.file));
  });
  // The gateway's validator does not coerce types: a query's number arrives as a string of digits.
  app.get<{ Querystring: { since?: string } }>(
    '/-/dashboard/data',
    { schema: { ...DOCS.data, querystring: { type: 'object', properties: { since: { type: 'string', pattern: '^[0-9]{1,15}$' } }, additionalProperties: false } } },
    async (req, reply) => reply.header('cache-control', 'no-store').send(await data(Number(req.query.since ?? 0))),
  );
}
