/**
 * The live WhatsApp inbox `/chats`, the sessions panel and the lead page's thread, end to end: a real
 * server on the simulator driver (API, Socket.io, Qwik City SSR, PostgreSQL) and Debian's Chromium
 * through playwright-core, one browser for the file. Nothing polls fast here: the thread and the list
 * move by the socket's pushes. Every page is checked for console errors and serious or critical
 * axe-core violations.
 */
import { mkdirSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUser, waitFor, type Person } from './lead-helpers.ts';
import { expectAccessible, launchChromium, signIn } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const ARTIFACTS = 'test-artifacts/chats';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const FIRST = '+5511987651001';
const SECOND = '+5511987651002';

type Chat = { id: string; phone: string; lead_id: string | null; last_message: { text: string | null; kind: string } | null };

let s: TestServer;
let browser: Browser;
let admin: string;
let paula: Person;
let rui: Person;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [s, browser] = await Promise.all([
    startTestServer({ RATE_LIMIT_PER_MINUTE: '1000000' }),
    launchChromium(),
  ]);
  admin = await s.login();
  paula = await createUser(s, admin, { name: 'Paula Consultora', max_open_leads: 50 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close();
});

async function signedIn(email: string, password: string): Promise<{ page: Page; errors: string[] }> {
  const session = await signIn(browser, s.url, email, password, { viewport: { width: 1280, height: 900 } });
  contexts.push(session.context);
  return session;
}

async function checkPage(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name, ARTIFACTS);
}

const chats = async (token: string) => (await (await s.api('/api/whatsapp/chats', { token })).json()) as Chat[];
const inject = async (body: Record<string, unknown>) => expect((await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', ...body } })).status).toBe(202);
/** Waits until the page's socket is up (lib/live.ts marks it on <html>). */
const live = (page: Page) => page.waitForFunction(() => document.documentElement.dataset.live === 'socket');

describe('the WhatsApp inbox', { timeout: 120_000 }, () => {
  it('a new chat arrives live; a reply sent with Enter moves its ticks to read; an image and a voice note show', async () => {
    const { page, errors } = await signedIn(paula.email, paula.password);
    await page.getByTestId('nav-chats').click();
    await page.waitForURL(`${s.url}/chats`);
    await page.locator('[data-session="consultant"][data-status="open"]').waitFor();
    await live(page);

    // The customer writes first: a lead is made, assigned to Paula (the only consultant), and the chat shows up without a reload.
    await inject({ from: FIRST, text: 'Oi, quero um empréstimo', name: 'Davi Cliente' });
    const chat = await waitFor('chat with a lead', async () => (await chats(admin)).find((c) => c.phone === FIRST && c.lead_id));
    const row = page.locator(`[data-chat="${chat.id}"]`);
    await row.waitFor();
    expect(await row.getByTestId('unread').textContent()).toBe('1');
    expect(await row.getByTestId('chat-lead').getAttribute('href')).toBe(`/leads/${chat.lead_id}`);

    // Search narrows the list.
    await page.getByTestId('chat-search').fill('ninguém com esse nome');
    await row.waitFor({ state: 'detached' });
    await page.getByTestId('chat-search').fill('davi');
    await row.locator('button').first().click();
    await page.locator('[data-kind="text"]', { hasText: 'quero um empréstimo' }).waitFor();
    await waitFor('read by Paula', async () => (await chats(paula.token)).find((c) => c.id === chat.id && (c as unknown as { unread: number }).unread === 0));
    // Rendered on the server: the chat list and an open chat's thread are in the HTML itself.
    const html = await (await page.context().request.get(`${s.url}/chats?chat=${chat.id}`)).text();
    expect(html).toContain(`data-chat="${chat.id}"`);
    expect(html).toMatch(/data-testid="thread"[^>]*data-chat-id=|data-chat-id="[^"]+"[^>]*data-testid="thread"/);
    expect(html).toContain('Oi, quero um empréstimo');

    await page.getByTestId('reply').fill('Olá, Davi! Já te ajudo.');
    await page.getByTestId('reply').press('Enter');
    const mine = page.locator('.bubble.out', { hasText: 'Já te ajudo' });
    await mine.waitFor();
    await page.locator('.bubble.out[data-status="delivered"]', { hasText: 'Já te ajudo' }).waitFor();
    expect(await mine.getByTestId('tick').getAttribute('title')).toBe('entregue');
    expect((await s.api('/api/simulator/read', { token: admin, body: { to: FIRST } })).status).toBe(200);
    await page.locator('.bubble.out[data-status="read"]', { hasText: 'Já te ajudo' }).waitFor();
    expect(await mine.getByTestId('tick').getAttribute('title')).toBe('lida');

    // Media arrives live into the open thread.
    await inject({ from: FIRST, text: 'olha a foto', media: { type: 'image', mime: 'image/png', base64: PNG } });
    await inject({ from: FIRST, media: { type: 'voice', mime: 'audio/ogg; codecs=opus', base64: Buffer.from('OggS-fake-voice').toString('base64') } });
    const img = page.locator('[data-kind="image"] img');
    await img.waitFor();
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await page.waitForFunction(() => (document.querySelector('[data-kind="image"] img') as HTMLImageElement | null)?.naturalWidth === 1);
    expect(await page.locator('[data-kind="image"]').textContent()).toContain('olha a foto');
    const audio = page.locator('[data-kind="voice"] audio');
    await audio.waitFor();
    expect(await audio.getAttribute('src')).toMatch(/^blob:/);

    // A document to download.
    await inject({ from: FIRST, media: { type: 'document', mime: 'application/pdf', base64: Buffer.from('%PDF-1.4 fake').toString('base64'), file_name: 'contracheque.pdf' } });
    const doc = page.locator('[data-kind="document"]').getByTestId('document');
    await doc.waitFor();
    expect(await doc.getAttribute('download')).toBe('contracheque.pdf');
    expect(await doc.getAttribute('href')).toMatch(/^blob:/);

    // A file attached in the composer goes out.
    await page.getByTestId('attach').setInputFiles({ name: 'proposta.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4 proposta') });
    await page.locator('.bubble.out[data-kind="document"]').waitFor();
    await page.locator('.bubble.out[data-kind="document"][data-status="delivered"], .bubble.out[data-kind="document"][data-status="read"]').waitFor();

    await checkPage(page, 'chats-thread');
    expect(errors).toEqual([]);
  });

  it('a failed send shows its reason and can be sent again', async () => {
    // A phone ending in 0463 answers with error 463 (the simulator's restricted account).
    const restricted = '+5511987650463';
    await inject({ from: restricted, text: 'oi', name: 'Conta Restrita' });
    const chat = await waitFor('restricted chat', async () => (await chats(admin)).find((c) => c.phone === restricted && c.lead_id));
    const { page, errors } = await signedIn(s.admin.email, s.admin.password);
    await page.goto(`${s.url}/chats?chat=${chat.id}`);
    await live(page);
    await page.getByTestId('thread').waitFor();
    await page.getByTestId('reply').fill('Tentativa');
    await page.getByTestId('send').click();
    const failed = page.locator('.bubble.out[data-status="failed"]', { hasText: 'Tentativa' });
    await failed.waitFor();
    expect(await failed.locator('.failure').textContent()).toMatch(/Falhou/);
    await failed.getByTestId('retry').click();
    await waitFor('two failed attempts', async () => (await page.locator('.bubble.out[data-status="failed"]', { hasText: 'Tentativa' }).count()) === 2);
    expect(errors.filter((e) => !/status of 4\d\d/.test(e))).toEqual([]);
  });

  it("a consultant does not see another consultant's chat, and the lead page shows the same thread", async () => {
    rui = await createUser(s, admin, { name: 'Rui Consultor', max_open_leads: 50 });
    await inject({ from: SECOND, text: 'Bom dia, sou o Caio', name: 'Caio Cliente' });
    const second = await waitFor('second chat with a lead', async () => (await chats(admin)).find((c) => c.phone === SECOND && c.lead_id));
    const owner = await waitFor('the second lead assigned', async () => {
      const lead = (await (await s.api(`/api/leads/${second.lead_id}`, { token: admin })).json()) as { consultant_id: string | null; version: number };
      return lead.consultant_id ? lead : undefined;
    });
    const first = (await chats(admin)).find((c) => c.phone === FIRST)!;
    // Round-robin decides who gets it (earlier tests' consultants take part too); what this test
    // is about is visibility, so the lead is Rui's either way: reassigned to him when needed.
    if (owner.consultant_id !== rui.id) {
      const res = await s.api(`/api/leads/${second.lead_id}`, { method: 'PATCH', token: admin, body: { version: owner.version, consultant_id: rui.id } });
      expect(res.status).toBe(200);
    }
    await waitFor('the second chat visible to Rui', async () => (await chats(rui.token)).some((c) => c.id === second.id));

    const { page, errors } = await signedIn(rui.email, rui.password);
    await page.goto(`${s.url}/chats`);
    await page.locator(`[data-chat="${second.id}"]`).waitFor();
    expect(await page.locator(`[data-chat="${first.id}"]`).count()).toBe(0);
    // Paula's customer writes again: nothing of it reaches Rui's page.
    await live(page);
    await inject({ from: FIRST, text: 'mensagem só da Paula' });
    await inject({ from: SECOND, text: 'mensagem do Rui' });
    await page.locator(`[data-chat="${second.id}"]`, { hasText: 'mensagem do Rui' }).waitFor();
    expect(await page.locator(`[data-chat="${first.id}"]`).count()).toBe(0);
    expect(await page.locator('body').textContent()).not.toContain('mensagem só da Paula');
    // Opening Paula's chat by its address shows nothing of it either.
    await page.goto(`${s.url}/chats?chat=${first.id}`);
    await page.getByTestId('chat-list').waitFor();
    await page.locator(`[data-chat="${second.id}"]`).waitFor();
    expect(await page.getByTestId('thread').count()).toBe(0);

    // The lead page: the same thread, live.
    await page.goto(`${s.url}/leads/${second.lead_id}`);
    const thread = page.getByTestId('lead-whatsapp');
    await thread.locator('[data-kind="text"]', { hasText: 'sou o Caio' }).waitFor();
    await live(page);
    await inject({ from: SECOND, text: 'chegou pelo socket' });
    await thread.locator('[data-kind="text"]', { hasText: 'chegou pelo socket' }).waitFor();
    await checkPage(page, 'lead-thread');
    expect(errors).toEqual([]);
  });

  it('quoted replies, edited and deleted messages are marked', async () => {
    // The simulator has no replies, edits or deletions to send: the rows Baileys' events would leave.
    const first = (await chats(admin)).find((c) => c.phone === FIRST)!;
    const page1 = (await (await s.api(`/api/whatsapp/chats/${first.id}/messages?limit=200`, { token: admin })).json()) as { id: string; text: string | null; direction: string }[];
    const byText = (t: string) => page1.find((m) => m.text === t)!.id;
    const sql = s.server.sql;
    await sql`update wa_messages set quoted_wa_id = 'QUOTED1', quoted_text = 'Oi, quero um empréstimo' where id = ${byText('Olá, Davi! Já te ajudo.')}`;
    await sql`update wa_messages set edited_at = now(), text = 'Oi, quero um empréstimo pessoal' where id = ${byText('Oi, quero um empréstimo')}`;
    await sql`update wa_messages set deleted_at = now() where id = ${byText('olha a foto')}`;

    const { page, errors } = await signedIn(paula.email, paula.password);
    await page.goto(`${s.url}/chats?chat=${first.id}`);
    const quoted = page.locator('.bubble.out', { hasText: 'Já te ajudo' }).getByTestId('quoted');
    await quoted.waitFor();
    expect(await quoted.textContent()).toBe('Oi, quero um empréstimo');
    await page.locator('.bubble.in', { hasText: 'empréstimo pessoal' }).getByTestId('edited').waitFor();
    const deleted = page.locator(`[data-message="${byText('olha a foto')}"]`);
    await deleted.getByTestId('deleted').waitFor();
    expect(await deleted.textContent()).not.toContain('olha a foto');
    expect(errors).toEqual([]);
  });

  it('the pairing QR shows for admins while a session waits for pairing; reconnect brings it back', async () => {
    const { page, errors } = await signedIn(s.admin.email, s.admin.password);
    await page.goto(`${s.url}/chats`);
    await page.locator('[data-session="livia"][data-status="open"]').waitFor();
    await live(page);
    expect((await s.api('/api/simulator/pairing', { token: admin, body: { session: 'livia' } })).status).toBe(202);
    const pairing = page.locator('[data-session="livia"][data-status="pairing"]');
    await pairing.waitFor();
    const qr = pairing.getByTestId('qr');
    await qr.waitFor();
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    const firstQr = await qr.getAttribute('src');
    // The QR rotates: the new one replaces it.
    expect((await s.api('/api/simulator/pairing', { token: admin, body: { session: 'livia' } })).status).toBe(202);
    await waitFor('rotated QR', async () => (await qr.getAttribute('src')) !== firstQr);
    // A pairing code by phone number.
    await pairing.getByTestId('pairing-phone').fill('+55 11 98765-4321');
    await pairing.getByTestId('pairing-phone').press('Enter');
    await pairing.getByTestId('pairing-code').waitFor();
    expect((await pairing.getByTestId('pairing-code').textContent())?.trim()).not.toBe('');
    await checkPage(page, 'sessions-pairing');

    // A consultant sees the state, not the QR nor the actions.
    const other = await signedIn(paula.email, paula.password);
    await other.page.goto(`${s.url}/chats`);
    await other.page.locator('[data-session="livia"][data-status="pairing"]').waitFor();
    expect(await other.page.getByTestId('qr').count()).toBe(0);
    expect(await other.page.getByTestId('reconnect').count()).toBe(0);

    await pairing.getByTestId('reconnect').click();
    await page.locator('[data-session="livia"][data-status="open"]').waitFor();
    expect(await page.getByTestId('qr').count()).toBe(0);
    expect(errors).toEqual([]);
    expect(other.errors).toEqual([]);
  });
});
