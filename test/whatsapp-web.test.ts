/**
 * The inbox page (/chats) in a real Chromium, on the simulator, with production headers (nonce CSP):
 * the session states show, a customer's image is displayed and their voice note gets a player (media
 * fetched with the session cookie, shown from blob: URLs the CSP allows), and a reply typed in the page
 * goes out on the wire.
 */
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const PHONE = '+5511987650077';

let s: TestServer;
let browser: Browser;

beforeAll(async () => {
  [s, browser] = await Promise.all([
    startTestServer({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), WEBHOOK_SECRET: 'w'.repeat(32) }),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
  ]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

describe('inbox page', { timeout: 90_000 }, () => {
  it('shows sessions, an image and a voice note, and sends a reply', async () => {
    const admin = await s.login();
    for (const body of [
      { session: 'consultant', from: PHONE, text: 'olha a foto', name: 'Davi', media: { type: 'image', mime: 'image/png', base64: PNG } },
      { session: 'consultant', from: PHONE, media: { type: 'voice', mime: 'audio/ogg; codecs=opus', base64: Buffer.from('OggS-fake-voice').toString('base64') } },
    ]) {
      expect((await s.api('/api/simulator/messages', { token: admin, body })).status).toBe(202);
    }
    const chat = await waitFor('chat', async () => {
      const chats = (await (await s.api('/api/whatsapp/chats', { token: admin })).json()) as { id: string; phone: string; last_message: { kind: string } | null }[];
      return chats.find((c) => c.phone === PHONE && c.last_message?.kind === 'voice');
    });

    const context = await browser.newContext({ locale: 'pt-BR' });
    const page = await context.newPage();
    const cspErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
    await page.goto(`${s.url}/login`);
    await page.getByTestId('login-email').fill(s.admin.email);
    await page.getByTestId('login-password').fill(s.admin.password);
    await page.getByTestId('login-submit').click();
    await page.waitForURL(`${s.url}/`);
    await page.getByTestId('nav-chats').click();
    await page.waitForURL(`${s.url}/chats`);
    await page.locator('[data-session="consultant"][data-status="open"]').waitFor();
    await page.locator(`[data-chat="${chat.id}"] button`).click();

    const img = page.locator('[data-kind="image"] img');
    await img.waitFor();
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await page.waitForFunction(() => (document.querySelector('[data-kind="image"] img') as HTMLImageElement | null)?.naturalWidth === 1);
    const audio = page.locator('[data-kind="voice"] audio');
    await audio.waitFor();
    expect(await audio.getAttribute('src')).toMatch(/^blob:/);
    expect(await page.locator('[data-kind="image"]').textContent()).toContain('olha a foto');

    await page.getByTestId('reply').fill('Recebi, obrigado!');
    await page.getByTestId('reply').press('Enter');
    await waitFor('reply on the wire', async () => {
      const wire = (await (await s.api(`/api/simulator/messages?to=${encodeURIComponent(PHONE)}`, { token: admin })).json()) as { text: string }[];
      return wire.some((w) => w.text === 'Recebi, obrigado!');
    });
    expect(cspErrors).toEqual([]);
    await context.close();
  });
});
