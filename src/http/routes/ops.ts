/**
 * Operations: `/health`, `/ready`, `/metrics`, and the API's own description at
 * `/api/openapi.json` and `/api/docs`.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../types.ts';

export type CheckStatus = { status: 'ok' | 'down' | 'starting' | 'disabled'; [k: string]: unknown };
/** Whether the server can do its job now: what a process supervisor should watch (`/health`). */
export type Liveness = () => { status: 'ok' | 'unavailable'; [k: string]: unknown };
export type ReadinessChecks = Record<'database' | 'jobs' | 'actors' | 'whatsapp', () => Promise<CheckStatus>>;

/** A check that does not answer within this time is reported down rather than hanging /ready. */
const CHECK_TIMEOUT_MS = 2000;

async function runCheck(check: () => Promise<CheckStatus>): Promise<CheckStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      check(),
      new Promise<CheckStatus>((resolve) => {
        timer = setTimeout(() => resolve({ status: 'down', reason: 'timeout' }), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    return { status: 'down', reason: (err as Error).name };
  } finally {
    clearTimeout(timer);
  }
}

export function opsRoutes(deps: {
  checks: ReadinessChecks;
  isShuttingDown(): boolean;
  liveness?: Liveness | undefined;
  metrics: { contentType: string; render(): Promise<string> };
  openApiDocument(): unknown;
}) {
  const r = new Hono<AppEnv>();
  r.get('/health', (c) => {
    const live = deps.liveness?.() ?? { status: 'ok' as const };
    return c.json(live, live.status === 'ok' ? 200 : 503);
  });
  r.get('/ready', async (c) => {
    const names = Object.keys(deps.checks) as (keyof ReadinessChecks)[];
    const results = await Promise.all(names.map((n) => runCheck(deps.checks[n])));
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i]]));
    // WhatsApp is reported but does not gate readiness: the CRM works while a number is paired.
    const ready =
      !deps.isShuttingDown() &&
      names.every((n, i) => n === 'whatsapp' || results[i]!.status === 'ok' || results[i]!.status === 'disabled');
    return c.json({ status: ready ? 'ready' : 'unavailable', checks }, ready ? 200 : 503);
  });
  r.get('/metrics', async (c) => c.body(await deps.metrics.render(), 200, { 'Content-Type': deps.metrics.contentType }));
  r.get('/api/openapi.json', (c) => c.json(deps.openApiDocument() as object));
  r.get('/api/docs', (c) => c.html(DOCS_HTML));
  r.get('/api/docs.js', (c) => c.body(DOCS_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  return r;
}

// A self-contained page (no CDN, so it works offline and under a strict CSP) that renders the
// OpenAPI document: every operation with its parameters, body schema and responses.
const DOCS_HTML = `<!doctype html>
<html lang="pt-BR"><head><meta charset="utf-8"><title>Lívia API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{background:#0f766e;color:#fff;padding:16px 24px}main{max-width:980px;margin:0 auto;padding:16px 24px}
details{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:8px 0;padding:8px 12px}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}pre{background:#f1f5f9;padding:8px;overflow:auto;border-radius:6px}
.m{display:inline-block;min-width:64px;font-weight:700;text-transform:uppercase}
.get{color:#0369a1}.post{color:#15803d}.patch{color:#b45309}.delete{color:#b91c1c}h2{margin-top:28px}
</style></head><body><header><h1>Lívia API</h1><p>Documento OpenAPI: <a style="color:#fff" href="/api/openapi.json">/api/openapi.json</a></p></header>
<main id="app">Carregando…</main><script src="/api/docs.js"></script></body></html>`;

const DOCS_JS = `(async () => {
  const doc = await (await fetch('/api/openapi.json')).json();
  const app = document.getElementById('app');
  app.textContent = '';
  const el = (tag, attrs, ...kids) => { const e = document.createElement(tag); Object.assign(e, attrs || {}); for (const k of kids) e.append(k); return e; };
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths || {})) for (const [method, op] of Object.entries(ops)) {
    const tag = (op.tags && op.tags[0]) || 'other'; (byTag[tag] ||= []).push({ path, method, op });
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    app.append(el('h2', { textContent: tag }));
    for (const { path, method, op } of ops) {
      const d = el('details', {}, el('summary', {}, el('span', { className: 'm ' + method, textContent: method }), el('code', { textContent: path })));
      if (op.security) d.append(el('p', { textContent: 'Autenticação: Bearer JWT' }));
      const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
      if (op.parameters && op.parameters.length) d.append(el('p', { textContent: 'Parâmetros' }), el('pre', { textContent: JSON.stringify(op.parameters, null, 2) }));
      if (body) d.append(el('p', { textContent: 'Corpo' }), el('pre', { textContent: JSON.stringify(body.schema, null, 2) }));
      for (const [status, res] of Object.entries(op.responses || {})) d.append(el('p', { textContent: status + ' — ' + (res.description || '') }));
      app.append(d);
    }
  }
  if (doc.components && doc.components.schemas) {
    app.append(el('h2', { textContent: 'Esquemas' }));
    for (const [name, s] of Object.entries(doc.components.schemas)) app.append(el('details', {}, el('summary', { textContent: name }), el('pre', { textContent: JSON.stringify(s, null, 2) })));
  }
})();`;
