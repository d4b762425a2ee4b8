/**
 * Lívia's side of the web app end to end: `/simulator` (an admin chats as a customer on Lívia's number
 * while the conversation's statechart follows the actor to TRANSFERRED) and `/conversations` (by stage,
 * the transcript live, the data collected and the simulation quoted, take over and give back with the
 * consultant writing from the page, the LGPD export and erasure behind a confirmation). A real server on
 * the simulator driver with Lívia's scripted brain, Debian's Chromium through playwright-core, one
 * browser for the file; console errors and serious or critical axe-core violations fail the test.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUser, waitFor, type Person } from './lead-helpers.ts';
import { expectAccessible, launchChromium, signIn } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const ARTIFACTS = 'test-artifacts/conversations';
const SCRIPT = ['Oi, aqui é a Carla Souza', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim'];
const CARLA = '+5511987659001';
const JOAO = '+5511987659002';

interface Conversation {
  id: string;
  phone: string;
  stage: string;
  lead_id: string | null;
}

let s: TestServer;
let browser: Browser;
let admin: string;
let rafael: Person;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [s, browser] = await Promise.all([
    startTestServer({ LIVIA_BURST_MS: '0', LIVIA_TYPING_MS_PER_CHAR: '0', WHATSAPP_SEND_PER_MINUTE: '10000', RATE_LIMIT_PER_MINUTE: '1000000' }),
    launchChromium(),
  ]);
  admin = await s.login();
  rafael = await createUser(s, admin, { name: 'Rafael Lima', max_open_leads: 50 });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close();
});

async function signedIn(email: string, password: string): Promise<{ page: Page; errors: string[] }> {
  const session = await signIn(browser, s.url, email, password, { viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  contexts.push(session.context);
  return session;
}

async function checkPage(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name, ARTIFACTS);
}

const live = (page: Page) => page.waitForFunction(() => document.documentElement.dataset.live === 'socket');
const wire = async (phone: string) => (await (await s.api(`/api/simulator/messages?to=${encodeURIComponent(phone)}`, { token: admin })).json()) as { session: string; text: string }[];
const conversationOf = async (phone: string, token = admin) => ((await (await s.api('/api/conversations', { token })).json()) as Conversation[]).find((c) => c.phone === phone);

describe("Lívia's pages", { timeout: 180_000 }, () => {
  it('/simulator: a dialogue on Lívia’s number reaches TRANSFERRED, the statechart following it', async () => {
    const { page, errors } = await signedIn(s.admin.email, s.admin.password);
    await page.getByTestId('nav-simulator').click();
    await page.waitForURL(`${s.url}/simulator`);
    await page.locator('svg[data-machine="conversation"]').waitFor();
    await live(page);
    await page.getByTestId('sim-phone').fill(CARLA);
    await page.getByTestId('sim-phone').press('Tab');

    const shown: string[] = [];
    for (const [i, text] of SCRIPT.entries()) {
      await page.getByTestId('sim-input').fill(text);
      await page.getByTestId('sim-input').press('Enter');
      // Lívia's answer shows in the chat (as on the customer's phone), then the chart has moved.
      await waitFor(`an answer to "${text}"`, async () => (await page.locator('[data-testid="sim-chat"] [data-direction="out"]').count()) > i, 30_000);
      const state = await page.locator('svg[data-machine="conversation"]').getAttribute('data-shown');
      if (state && shown.at(-1) !== state) shown.push(state);
    }
    await page.locator('[data-state-id$="TRANSFERRED"][data-active]').waitFor();
    await waitFor('TRANSFERRED shown', async () => (await page.getByTestId('sim-state').textContent())?.includes('TRANSFERRED'));
    expect(shown.length, shown.join(' → ')).toBeGreaterThanOrEqual(3);
    expect(shown.at(0)).not.toContain('TRANSFERRED');
    // The chat shows what was on the wire.
    await waitFor('who will call', async () => (await wire(CARLA)).some((m) => m.text.includes('Rafael')));
    await page.locator('[data-testid="sim-chat"] [data-direction="out"]', { hasText: 'Rafael' }).first().waitFor();
    // The customer reads: READ receipts.
    await page.getByTestId('sim-read').click();
    await page.getByTestId('sim-message').waitFor();
    await checkPage(page, 'simulator-transferred');
    expect(errors).toEqual([]);
  });

  it('/conversations: by stage, transcript and data; take over, write, give back; the transcript is live', async () => {
    const conv = await waitFor('Carla’s conversation with a lead', async () => {
      const c = await conversationOf(CARLA);
      return c?.lead_id ? c : undefined;
    });
    const { page, errors } = await signedIn(rafael.email, rafael.password);
    await page.getByTestId('nav-conversations').click();
    await page.waitForURL(`${s.url}/conversations`);
    const row = page.locator(`[data-stage="TRANSFERRED"] [data-conversation="${conv.id}"]`);
    await row.waitFor();
    await live(page);
    await row.locator('button').click();
    const article = page.getByTestId('conversation');
    await article.waitFor();
    expect(await article.getAttribute('data-stage')).toBe('TRANSFERRED');
    await page.locator('[data-role="customer"]', { hasText: 'quero reformar a casa' }).waitFor();
    expect(await page.locator('[data-role="livia"]').count()).toBeGreaterThan(3);
    expect(await page.getByTestId('conversation-data').textContent()).toContain('Carla Souza');
    expect(await page.getByTestId('conversation-data').textContent()).toMatch(/R\$\s*30\.000,00/);
    // Only admins get the LGPD buttons.
    expect(await page.getByTestId('export').count()).toBe(0);
    await checkPage(page, 'conversation-transferred');

    await page.getByTestId('takeover').click();
    await page.locator('[data-testid="conversation"][data-stage="HUMAN"]').waitFor();
    await page.locator('[data-stage="HUMAN"] [data-conversation]').first().waitFor();
    await page.getByTestId('conversation-reply').fill('Oi Carla, aqui é o Rafael. Posso te ligar às 15h?');
    await page.getByTestId('conversation-reply').press('Enter');
    await waitFor('the consultant on the wire', async () => (await wire(CARLA)).some((m) => m.session === 'livia' && m.text.includes('Posso te ligar')));
    await page.locator('[data-role="consultant"]', { hasText: 'Posso te ligar' }).waitFor();

    // The customer answers while the consultant has the conversation: it shows without a reload, and Lívia stays silent.
    const before = (await wire(CARLA)).length;
    expect((await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: CARLA, text: 'Pode ser às 15h, obrigada' } })).status).toBe(202);
    await page.locator('[data-role="customer"]', { hasText: 'Pode ser às 15h' }).waitFor();
    expect((await wire(CARLA)).length).toBe(before);
    await checkPage(page, 'conversation-human');

    await page.getByTestId('release').click();
    await page.getByTestId('takeover').waitFor();
    expect(await article.getAttribute('data-stage')).not.toBe('HUMAN');
    expect(await page.getByTestId('conversation-reply').count()).toBe(0);

    // The simulator is an admin's: not in a consultant's navigation, and its page says it is forbidden.
    expect(await page.getByTestId('nav-simulator').count()).toBe(0);
    await page.goto(`${s.url}/simulator`);
    await page.getByTestId('simulator-forbidden').waitFor();
    expect(errors.filter((e) => !/status of 403/.test(e))).toEqual([]);
  });

  it('LGPD: an admin exports a customer’s data as JSON and erases it after confirming', async () => {
    expect((await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: JOAO, text: 'Oi, aqui é o João Pedro' } })).status).toBe(202);
    const conv = await waitFor('João’s conversation', async () => conversationOf(JOAO));
    const { page, errors } = await signedIn(s.admin.email, s.admin.password);
    await page.goto(`${s.url}/conversations?id=${conv.id}`);
    await page.getByTestId('conversation').waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
    expect(download.suggestedFilename()).toBe('dados-5511987659002.json');
    const exported = JSON.parse(readFileSync((await download.path())!, 'utf8')) as unknown;
    expect(JSON.stringify(exported)).toContain('João Pedro');

    // Cancelling keeps everything.
    await page.getByTestId('erase').click();
    await page.getByTestId('erase-dialog').waitFor();
    await checkPage(page, 'erase-dialog');
    await page.getByTestId('erase-cancel').click();
    await page.getByTestId('erase-dialog').waitFor({ state: 'hidden' });
    expect(await conversationOf(JOAO)).toBeDefined();

    await page.getByTestId('erase').click();
    await page.getByTestId('erase-confirm').click();
    await page.getByTestId('conversation-message').filter({ hasText: 'apagados' }).waitFor();
    await waitFor('erased', async () => !(await conversationOf(JOAO)));
    await page.locator(`[data-conversation="${conv.id}"]`).waitFor({ state: 'detached' });
    expect(errors).toEqual([]);
  });
});
