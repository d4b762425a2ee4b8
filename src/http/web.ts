/**
 * The web app: the files of the Qwik City client build, and server-side rendering of every page.
 * Runtime-neutral (`node:fs/promises` and web Responses), so it serves the same under Node and Deno.
 *
 * @example
 * app.route('/api/auth', authRoutes(deps));
 * // ... every other API route ...
 * app.route('/', await webRoutes({ uiDir: 'ui' })); // last: it answers any page path
 */
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlibConstants, gzip } from 'node:zlib';
import { extname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
// Types only: declares the `secureHeadersNonce` variable that Hono's secureHeaders middleware sets.
import type {} from 'hono/secure-headers';

/** The default export of `ui/server/entry.fetch.js` (see `ui/src/entry.fetch.tsx`). */
type QwikFetch = (request: Request, options?: { nonce?: string; api?: InternalApi }) => Promise<Response>;

/** The API called in process, for the pages' server-side loaders (set by app.ts). */
export type InternalApi = (request: Request) => Response | Promise<Response>;

declare module 'hono' {
  interface ContextVariableMap {
    internalApi?: InternalApi;
  }
}

interface StaticFile {
  path: string;
  contentType: string;
  cacheControl: string;
  /** Compressed once, on first request, then served from memory (the build never changes underfoot). */
  encoded?: Map<'br' | 'gzip', Promise<Buffer>>;
}

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
const COMPRESSIBLE = /^(?:text\/|application\/(?:json|manifest\+json)|image\/svg\+xml)/;

/** The encoding to answer with, by the request's Accept-Encoding (brotli first). */
function pickEncoding(accept: string | undefined): 'br' | 'gzip' | undefined {
  const a = (accept ?? '').toLowerCase();
  if (/\bbr\b/.test(a)) return 'br';
  if (/\bgzip\b/.test(a)) return 'gzip';
  return undefined;
}

async function encodedBody(file: StaticFile, encoding: 'br' | 'gzip'): Promise<Buffer> {
  file.encoded ??= new Map();
  let body = file.encoded.get(encoding);
  if (!body) {
    body = readFile(file.path).then((raw) =>
      encoding === 'br' ? brotli(raw, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }) : gzipAsync(raw, { level: 9 }),
    );
    // A failed compression is retried on the next request rather than remembered.
    body.catch(() => file.encoded?.delete(encoding));
    file.encoded.set(encoding, body);
  }
  return body;
}

export interface WebRoutesOptions {
  /** The `ui/` directory, holding `dist/` (client build) and `server/` (SSR bundle). */
  uiDir: string;
}

// Paths the web app never answers, so an unknown API path gets the API's JSON 404, not a page.
const NOT_PAGES = /^\/(?:api|socket\.io)(?:\/|$)|^\/(?:health|ready|metrics)$/;

// Vite names these files by content hash: a changed file is a new URL, so they never go stale.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=300';

// Build metadata the server reads, not something to hand to browsers.
const PRIVATE_FILES = new Set(['/q-manifest.json']);

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

/**
 * Builds the sub-app that serves the web app; throws if `npm run build:ui` has not been run.
 */
export async function webRoutes(opts: WebRoutesOptions): Promise<Hono> {
  const uiDir = resolve(opts.uiDir);
  const distDir = join(uiDir, 'dist');
  const serverEntry = join(uiDir, 'server', 'entry.fetch.js');

  const files = await indexStaticFiles(distDir);
  const renderPage = await loadServerBundle(serverEntry);

  const app = new Hono();

  // Only files found in dist/ at start-up are served, so no request path can reach outside it.
  app.get('*', async (c, next) => {
    const file = files.get(c.req.path);
    if (!file) {
      if (isBuildPath(c.req.path)) return c.text('Not Found', 404, { 'Cache-Control': 'no-store' });
      return next();
    }
    const encoding = COMPRESSIBLE.test(file.contentType) ? pickEncoding(c.req.header('accept-encoding')) : undefined;
    const headers: Record<string, string> = { 'Content-Type': file.contentType, 'Cache-Control': file.cacheControl, Vary: 'Accept-Encoding' };
    if (!encoding) return c.body(await readFile(file.path), 200, headers);
    return c.body(new Uint8Array(await encodedBody(file, encoding)), 200, { ...headers, 'Content-Encoding': encoding });
  });

  // Pages stream compressed: a board of a few hundred cards is mostly repetitive HTML.
  const compressPage = compress();
  app.on(['GET', 'POST'], '*', async (c, next) => {
    if (NOT_PAGES.test(c.req.path)) return next();
    await compressPage(c, async () => {
      // The nonce is set when the app's secureHeaders policy uses NONCE; Qwik's inline scripts need it.
      c.res = await renderPage(c.req.raw, { nonce: c.get('secureHeadersNonce'), api: c.get('internalApi') });
    });
    return c.res;
  });

  return app;
}

function isBuildPath(path: string): boolean {
  return path.startsWith('/build/') || path.startsWith('/assets/');
}

/** Maps each URL path under dist/ to its file, content type and cache policy. */
async function indexStaticFiles(distDir: string): Promise<Map<string, StaticFile>> {
  let paths: string[];
  try {
    paths = await listFiles(distDir);
  } catch (err) {
    throw missingBuild(`${distDir} cannot be read (${(err as Error).message})`);
  }
  const files = new Map<string, StaticFile>();
  for (const path of paths) {
    const urlPath = '/' + relative(distDir, path).split(sep).join('/');
    const contentType = CONTENT_TYPES[extname(path).toLowerCase()];
    if (!contentType || PRIVATE_FILES.has(urlPath)) continue;
    files.set(urlPath, { path, contentType, cacheControl: isBuildPath(urlPath) ? IMMUTABLE : SHORT });
  }
  if (!paths.includes(join(distDir, 'q-manifest.json'))) {
    throw missingBuild(`${join(distDir, 'q-manifest.json')} is missing`);
  }
  return files;
}

async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

async function loadServerBundle(serverEntry: string): Promise<QwikFetch> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(serverEntry).href)) as { default?: unknown };
  } catch (err) {
    throw missingBuild(`${serverEntry} cannot be imported (${(err as Error).message})`);
  }
  if (typeof mod.default !== 'function') {
    throw missingBuild(`${serverEntry} has no default export function`);
  }
  return mod.default as QwikFetch;
}

function missingBuild(reason: string): Error {
  return new Error(`The web app is not built: ${reason}. Run \`npm run build:ui\` first.`);
}
