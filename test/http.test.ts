/**
 * The HTTP layer's promises, over real HTTP: the error shape for every status, no internals in
 * error bodies, security headers and request ids, production CSP and CORS, metrics, OpenAPI.
 */
import { request as httpRequest } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

type ErrorBody = { error: { code: string; message: string; details?: { path: string; message: string }[] } };

let s: TestServer;
let adminToken: string;
let consultantToken: string;
let consultantId: string;

/** Frames of a JS stack, or SQL/driver text, must never reach a client. */
const LEAKS = [/\n\s+at /, /\bat .+\.(ts|js):\d+/, /\b(select|insert|update|delete)\b.+\b(from|into|set)\b/i, /postgres/i, /syntax error/i, /violates/i, /byte sequence/i];

function expectNoLeaks(text: string): void {
  for (const re of LEAKS) expect(text, `response leaks ${re}`).not.toMatch(re);
}

/**
 * Checks one error response against the contract: the status, `{error: {code, message, details?}}`
 * and nothing else, JSON, a request id, and no internals. Returns the body.
 */
async function expectError(res: Response, status: number, code?: string): Promise<ErrorBody> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  expectNoLeaks(text);
  const body = JSON.parse(text) as ErrorBody;
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).filter((k) => !['code', 'message', 'details'].includes(k))).toEqual([]);
  expect(body.error.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  if (code) expect(body.error.code).toBe(code);
  return body;
}

function expectSecureHeaders(res: Response): void {
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('x-frame-options')).toMatch(/^(DENY|SAMEORIGIN)$/);
  expect(res.headers.get('referrer-policy')).toBeTruthy();
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

/**
 * POSTs `total` bytes of JSON whitespace in 256 KiB chunks on a fresh connection, stopping as soon
 * as the server answers (it may answer before the body is complete, as it does for 413).
 */
function postBytes(path: string, opts: { total: number; contentLength: boolean }): Promise<Response> {
  const url = new URL(path, s.url);
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  return new Promise<Response>((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', ...(opts.contentLength ? { 'content-length': String(opts.total) } : {}) },
      },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          resolve(new Response(Buffer.concat(parts), { status: res.statusCode!, headers }));
          req.destroy();
        });
      },
    );
    // Writing into a connection the server closed after answering is expected; before, it is not.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    let sent = 0;
    const pump = () => {
      while (!answered && sent < opts.total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

beforeAll(async () => {
  s = await startTestServer();
  adminToken = await s.login();
  const res = await s.api('/api/consultants', {
    token: adminToken,
    body: { name: 'Carla', email: 'carla@livia.test', password: 'carla-pass-123', role: 'CONSULTANT' },
  });
  expect(res.status).toBe(201);
  consultantId = ((await res.json()) as { id: string }).id;
  consultantToken = await s.login('carla@livia.test', 'carla-pass-123');
});

describe('error shapes', () => {
  it('400: malformed JSON', async () => {
    for (const body of ['{"email":', 'not json at all', '{"email": "a@b.c",}']) {
      const res = await s.api('/api/auth/login', { body });
      const err = await expectError(res, 400);
      expect(err.error.code).toBe('malformed_json');
    }
  });

  it('401: no token, bad token', async () => {
    await expectError(await s.api('/api/auth/me'), 401, 'unauthorized');
    await expectError(await s.api('/api/auth/me', { token: 'abc.def.ghi' }), 401, 'unauthorized');
    await expectError(await s.api('/api/consultants', { token: 'garbage' }), 401);
  });

  it('403: forbidden by role', async () => {
    await expectError(await s.api('/api/consultants', { token: consultantToken }), 403, 'forbidden');
  });

  it('404: an unknown /api route, signed in or not', async () => {
    await expectError(await s.api('/api/no-such-thing'), 404, 'not_found');
    await expectError(await s.api('/api/no/such/thing', { method: 'POST', body: {} }), 404, 'not_found');
    await expectError(await s.api('/api/no-such-thing', { token: adminToken }), 404, 'not_found');
  });

  it('404: an unknown method on a known path', async () => {
    await expectError(await s.api('/api/auth/login', { method: 'DELETE' }), 404);
    await expectError(await s.api('/api/consultants', { method: 'PUT', token: adminToken, body: {} }), 404);
    await expectError(await s.api(`/api/consultants/${consultantId}`, { method: 'DELETE', token: adminToken }), 404);
    // The consultant is still there.
    const list = (await (await s.api('/api/consultants', { token: adminToken })).json()) as { id: string }[];
    expect(list.some((c) => c.id === consultantId)).toBe(true);
  });

  // The oversized uploads go over their own connections (node:http, no agent): the server answers
  // 413 as soon as it knows, then may close the socket, which must not break later requests here.
  it('413: a body over 10 MB, refused on its Content-Length before it is sent', async () => {
    const res = await postBytes('/api/auth/login', { total: 11 * 1024 * 1024, contentLength: true });
    await expectError(res, 413, 'payload_too_large');
  });

  it('413: a body over 10 MB, streamed without a Content-Length (chunked)', async () => {
    const res = await postBytes('/api/auth/login', { total: 11 * 1024 * 1024, contentLength: false });
    await expectError(res, 413, 'payload_too_large');
  });

  it('a body just under the limit is not refused for its size', async () => {
    const body = JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(9 * 1024 * 1024) });
    const res = await s.api('/api/auth/login', { body });
    // Too long a password for validation, but not too large a body.
    await expectError(res, 422, 'validation_failed');
  });

  it('422: validation, with details [{path, message}]', async () => {
    const res = await s.api('/api/auth/login', { body: { email: 'not-an-email', password: 123 } });
    const err = await expectError(res, 422, 'validation_failed');
    expect(Array.isArray(err.error.details)).toBe(true);
    for (const d of err.error.details!) {
      expect(Object.keys(d).sort()).toEqual(['message', 'path']);
      expect(typeof d.message).toBe('string');
    }
    expect(err.error.details!.map((d) => d.path).sort()).toEqual(['email', 'password']);
  });

  it('415: a body that is not JSON keeps the same shape', async () => {
    const res = await s.api('/api/auth/login', { body: 'email=a@b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const err = await expectError(res, res.status);
    expect([400, 415, 422]).toContain(res.status);
    expect(err.error.code).toBeTruthy();
  });

  it('a value the database refuses (a NUL character) reveals nothing about the database', async () => {
    const res = await s.api('/api/consultants', {
      token: adminToken,
      body: { name: 'Nul\u0000Byte', email: 'nul@livia.test', password: 'nul-pass-1234' },
    });
    // Ideally 422; at worst a bare 500. Never the driver's message.
    expect([422, 500]).toContain(res.status);
    const err = await expectError(res, res.status);
    if (res.status === 500) expect(err).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
  });
});

describe('429 from the general rate limit', () => {
  it('the 6th request in a minute on a 5/minute server is 429 with Retry-After', async () => {
    const limited = await startTestServer({ RATE_LIMIT_PER_MINUTE: '5' });
    for (let i = 0; i < 5; i++) {
      const ok = await limited.api('/health');
      expect(ok.status, `request ${i + 1}`).toBe(200);
      expect(ok.headers.get('ratelimit-remaining')).toBe(String(4 - i));
    }
    const res = await limited.api('/health');
    const retryAfter = Number(res.headers.get('retry-after'));
    const err = await expectError(res, 429, 'rate_limited');
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(err.error.details).toMatchObject({ retry_after_seconds: retryAfter });
    expectSecureHeaders(res);
    // API routes are limited too, with the same answer.
    await expectError(await limited.api('/api/auth/login', { body: { email: 'a@b.c', password: 'x' } }), 429, 'rate_limited');
    // The default server in this file (2000/minute) is unaffected.
    expect((await s.api('/health')).status).toBe(200);
  });
});

describe('headers', () => {
  it('secure headers and x-request-id on successes and on errors alike', async () => {
    const answers = await Promise.all([
      s.api('/health'),
      s.api('/api/auth/me', { token: adminToken }),
      s.api('/api/auth/me'),
      s.api('/api/no-such-thing'),
      s.api('/api/auth/login', { body: '{' }),
      s.api('/api/consultants', { token: consultantToken }),
      s.api('/api/openapi.json'),
    ]);
    const ids = new Set<string>();
    for (const res of answers) {
      expectSecureHeaders(res);
      ids.add(res.headers.get('x-request-id')!);
      await res.body?.cancel();
    }
    expect(ids.size).toBe(answers.length); // one id per request
  });

  it("echoes the caller's X-Request-Id", async () => {
    const res = await s.api('/api/auth/me', { headers: { 'x-request-id': 'trace-abc-123' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('trace-abc-123');
  });

  it('development: any origin may call the API (CORS *) and there is no strict CSP', async () => {
    const res = await s.api('/api/auth/login', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('a NODE_ENV=production server', () => {
  const FRONTEND = 'https://app.livia.example';
  let prod: TestServer;

  beforeAll(async () => {
    prod = await startTestServer({
      NODE_ENV: 'production',
      JWT_SECRET: 'p'.repeat(48),
      WEBHOOK_SECRET: 'w'.repeat(40),
      FRONTEND_URL: FRONTEND,
    });
  });

  it('sends a content-security-policy and HSTS', async () => {
    for (const res of [await prod.api('/health'), await prod.api('/api/auth/me')]) {
      const csp = res.headers.get('content-security-policy');
      expect(csp).toBeTruthy();
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-eval');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expectSecureHeaders(res);
    }
  });

  it("CORS answers only FRONTEND_URL's origin", async () => {
    const preflight = (origin: string) =>
      prod.api('/api/auth/login', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });

    const allowed = await preflight(FRONTEND);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');

    for (const origin of ['https://evil.example', 'https://app.livia.example.evil.example', 'http://app.livia.example']) {
      const denied = await preflight(origin);
      expect(denied.headers.get('access-control-allow-origin'), origin).toBeNull();
    }

    // Simple requests too.
    const simpleOk = await prod.api('/health', { headers: { origin: FRONTEND } });
    const login = await prod.api('/api/auth/login', { body: { email: prod.admin.email, password: prod.admin.password }, headers: { origin: FRONTEND } });
    expect(login.status).toBe(200);
    expect(login.headers.get('access-control-allow-origin')).toBe(FRONTEND);
    const evil = await prod.api('/api/auth/login', { body: { email: prod.admin.email, password: prod.admin.password }, headers: { origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-origin')).not.toBe('*');
    await simpleOk.body?.cancel();
  });

  it('production uses the given JWT_SECRET', async () => {
    expect(prod.server.config.jwtSecret).toBe('p'.repeat(48));
    expect(prod.server.config.isProduction).toBe(true);
  });
});

describe('/metrics', () => {
  it('has http_request_duration_seconds labelled by route pattern, and db_pool_connections', async () => {
    // Traffic to label: a login, a parameterised route, an unknown route.
    await s.login();
    const patch = await s.api(`/api/consultants/${consultantId}`, { method: 'PATCH', token: adminToken, body: { max_open_leads: 9 } });
    expect(patch.status).toBe(200);
    await (await s.api('/api/no-such-thing')).body?.cancel();

    const res = await s.api('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    const series = text.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count{'));
    const routes = new Set(series.map((l) => /route="([^"]*)"/.exec(l)?.[1]));
    expect(routes).toContain('/api/auth/login');
    expect(routes).toContain('/api/consultants/:id');
    // Patterns, never raw ids: label cardinality stays bounded.
    expect(text).not.toContain(consultantId);
    expect(series.find((l) => l.includes('route="/api/auth/login"') && l.includes('method="POST"') && l.includes('status="200"'))).toBeTruthy();

    expect(text).toContain('# TYPE db_pool_connections gauge');
    expect(text).toMatch(/^db_pool_connections\{state="max",instance="[^"]+"\} 20$/m);
    expect(text).toMatch(/^db_pool_connections\{state="open",instance="[^"]+"\} \d+$/m);
    // Process metrics come along.
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe('API description', () => {
  it('/api/openapi.json lists /api/auth/login and /api/consultants', async () => {
    const res = await s.api('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/api/auth/login']).toHaveProperty('post');
    expect(doc.paths['/api/consultants']).toHaveProperty('get');
    expect(doc.paths['/api/consultants']).toHaveProperty('post');
    expect(doc.paths['/api/consultants/{id}']).toHaveProperty('patch');
  });

  it('/api/docs is an HTML page that loads the document', async () => {
    const res = await s.api('/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html).toContain('/api/openapi.json');
    const script = await s.api('/api/docs.js');
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('/api/openapi.json');
  });
});
