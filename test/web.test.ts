/**
 * The web app's frame, end to end: a real server (API + Qwik City SSR + static files) and a real
 * Chromium driven by playwright-core. The browser is the system's; nothing is downloaded.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.ts';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  [server, browser] = await Promise.all([
    startTestServer(),
    chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS }),
  ]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

beforeEach(async () => {
  // A fresh context per test: no cookie or localStorage leaks from one test into the next.
  context = await browser.newContext({ locale: 'pt-BR' });
  page = await context.newPage();
});

afterEach(async () => {
  await context?.close();
});

async function signIn(email: string, password: string): Promise<void> {
  await page.goto(`${server.url}/login`);
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

describe('web app', { timeout: 60_000 }, () => {
  it('serves the hashed client files as immutable and keeps the rest of the disk out of reach', async () => {
    const html = await (await fetch(`${server.url}/login`)).text();
    const asset = html.match(/(?:href|src)="(\/(?:build|assets)\/[^"]+)"/)?.[1];
    expect(asset, 'the login page links a hashed file').toBeDefined();

    const hashed = await fetch(`${server.url}${asset}`);
    expect(hashed.status).toBe(200);
    expect(hashed.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

    const favicon = await fetch(`${server.url}/favicon.svg`);
    expect(favicon.status).toBe(200);
    expect(favicon.headers.get('cache-control')).not.toContain('immutable');

    for (const path of ['/q-manifest.json', '/build/..%2f..%2fpackage.json', '/assets/%2e%2e/%2e%2e/package.json']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain('"dependencies"');
    }
  });

  it('sends a visitor without a session to /login', async () => {
    await page.goto(`${server.url}/`);
    await page.waitForURL(`${server.url}/login`);
    await expect(page.getByTestId('login-submit').textContent()).resolves.toBe('Entrar');
  });

  it('shows an error in Portuguese for a wrong password', async () => {
    await signIn(server.admin.email, `${server.admin.password}-wrong`);

    const error = page.getByTestId('login-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('E-mail ou senha inválidos');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect((await context.cookies()).find((c) => c.name === 'livia_session')).toBeUndefined();
  });

  it('signs in with an httpOnly cookie, keeps the session over a reload, and signs out (revoking it)', async () => {
    await signIn(server.admin.email, server.admin.password);

    await page.waitForURL(`${server.url}/`);
    const currentUser = page.getByTestId('current-user');
    await currentUser.waitFor();
    expect(await currentUser.textContent()).toBe(server.admin.name);
    expect(await page.getByTestId('current-role').getAttribute('data-role')).toBe('ADMIN');

    // The token is in an httpOnly, SameSite=Strict cookie, and nowhere a script can reach.
    const cookie = (await context.cookies()).find((c) => c.name === 'livia_session');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    expect(cookie?.secure).toBe(false);
    const token = cookie!.value;
    const visible = await page.evaluate(() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage), location.href].join(' '));
    expect(visible).not.toContain(token);
    expect(await page.content()).not.toContain(token);

    // A reload renders the signed-in page again from the server, thanks to the cookie.
    await page.reload();
    await currentUser.waitFor();
    expect(await currentUser.textContent()).toBe(server.admin.name);

    await page.getByTestId('logout').click();
    await page.waitForURL(`${server.url}/login?reason=signed_out`);
    expect((await context.cookies()).find((c) => c.name === 'livia_session')).toBeUndefined();
    // Revoked, not just forgotten: the same token is refused even if someone kept a copy.
    expect((await server.api('/api/auth/me', { token })).status).toBe(401);
    expect((await server.api('/api/auth/me', { headers: { cookie: `livia_session=${token}` } })).status).toBe(401);
    await page.goto(`${server.url}/`);
    await page.waitForURL(`${server.url}/login`);
  });

  it('drops a session the API no longer accepts and says so on /login', async () => {
    await context.addCookies([{ name: 'livia_session', value: 'expired', url: server.url }]);
    await page.goto(`${server.url}/`);
    await page.waitForURL(`${server.url}/login?reason=expired`);
    expect(await page.getByTestId('login-notice').textContent()).toContain('sessão expirou');
    expect((await context.cookies()).find((c) => c.name === 'livia_session')).toBeUndefined();
  });

  it('refuses a cookie-authenticated mutation from another origin, and accepts it from this one', async () => {
    const login = await server.api('/api/auth/login', { body: { email: server.admin.email, password: server.admin.password, session: 'cookie' } });
    expect(login.status).toBe(200);
    expect(((await login.json()) as { token?: string }).token).toBeUndefined();
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/livia_session=[^;]+;.*HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = setCookie.split(';')[0]!;
    const host = new URL(server.url).host;

    const foreign = await server.api('/api/notifications/read-all', { method: 'POST', headers: { cookie, origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    const missing = await server.api('/api/notifications/read-all', { method: 'POST', headers: { cookie } });
    expect(missing.status).toBe(403);
    const same = await server.api('/api/notifications/read-all', { method: 'POST', headers: { cookie, origin: `http://${host}` } });
    expect(same.status).toBe(200);
    // Reads need no Origin, and a bearer token needs none either.
    expect((await server.api('/api/auth/me', { headers: { cookie } })).status).toBe(200);
    const bearer = await server.login();
    expect((await server.api('/api/notifications/read-all', { method: 'POST', token: bearer, headers: { origin: 'https://evil.example' } })).status).toBe(200);
  });
});

describe('web app under the production content security policy', { timeout: 60_000 }, () => {
  let production: TestServer;

  beforeAll(async () => {
    production = await startTestServer({
      NODE_ENV: 'production',
      JWT_SECRET: 'web-test-jwt-secret-0123456789abcdef',
      WEBHOOK_SECRET: 'web-test-webhook-secret',
    });
  }, 120_000);

  it('runs the page scripts, which carry the nonce of the policy', async () => {
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });

    const response = await page.goto(`${production.url}/login`);
    expect(response?.headers()['content-security-policy']).toContain("'nonce-");
    // A blocked inline script is reported while the page loads, so this fails before any waiting.
    expect(violations).toEqual([]);
    await page.getByTestId('login-email').fill(production.admin.email);
    await page.getByTestId('login-password').fill(production.admin.password);
    await page.getByTestId('login-submit').click();

    await page.waitForURL(`${production.url}/`);
    await page.getByTestId('current-user').waitFor();
    expect(await page.getByTestId('current-user').textContent()).toBe(production.admin.name);
    expect(violations).toEqual([]);

    // The board rendered as a whole document: its inline handlers (drag and drop) carry the nonce too,
    // and the session cookie is Secure in production.
    await page.reload();
    await page.locator('[data-status="NEW"]').waitFor();
    await page.waitForFunction(() => document.documentElement.dataset.live === 'socket');
    expect(violations).toEqual([]);
  });
});
