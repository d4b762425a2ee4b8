/**
 * The state-machine studio `/machines` end to end: a real server (API, Socket.io, Qwik City SSR,
 * the actor runtime on PostgreSQL and pg-boss) and Debian's Chromium through playwright-core, one
 * browser for the file. A consultant's real socket moves its actor; a conversation actor runs
 * through the runtime with the scripted brain and a WhatsApp transport that is down, so its reply
 * is dead-lettered while its follow-up timer is armed (an admin retries it), and a brain that is
 * down, so a turn's think is dead-lettered (an admin discards it). Every page is checked for console errors and
 * serious or critical axe-core violations.
 */
import { mkdirSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONVERSATION, conversationActor } from '../src/actors/conversation.ts';
import { scriptedBrain } from '../src/actors/conversation/brain.ts';
import type { ConversationEvent } from '../src/actors/conversation.machine.ts';
import type { EffectSpec } from '../src/actors/types.ts';
import { liviaSettings } from '../src/boot/livia.ts';
import { connectSocket, createUser, waitFor, type Person } from './lead-helpers.ts';
import { expectAccessible, launchChromium, signIn } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const ARTIFACTS = 'test-artifacts/machines';
const STAGES = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED', 'HUMAN', 'ABANDONED', 'OPTED_OUT'];

type Detail = {
  state: string;
  events: { seq: number; type: string; state: string | null }[];
  timers: { event: string; due_at: string }[];
  dead_effects: { id: string; type: string }[];
  discarded_effects: { id: string; type: string; discarded_by: string; discarded_at: string }[];
};

let s: TestServer;
let browser: Browser;
let admin: string;
let manager: Person;
let paula: Person;
const contexts: BrowserContext[] = [];
const sockets: Socket[] = [];
/** The WhatsApp side of the conversation actor: down until a test brings it back. */
const whatsapp = { up: false, sent: [] as string[] };
/** Lívia's brain: up unless a test takes it down. */
const brain = { up: true };
/** The actor type of the conversation actor this file drives. */
let TYPE = CONVERSATION;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [s, browser] = await Promise.all([
    startTestServer({ LIVIA_BURST_MS: '100', RATE_LIMIT_PER_MINUTE: '1000000' }),
    launchChromium(),
  ]);
  const { system, config } = s.server;
  // Lívia's conversation actor through the runtime, with a transport this file controls: under its
  // own type when the server already runs one (the WhatsApp part registers it).
  if (system.definitions().some((d) => d.type === CONVERSATION)) TYPE = 'conversation-studio';
  {
    const def = conversationActor({
      settings: liviaSettings(config),
      brain: {
        kind: 'scripted',
        decide: async (input) => {
          if (!brain.up) throw new Error('Cérebro indisponível (teste)');
          return scriptedBrain.decide(input);
        },
      },
      transport: {
        send: async (m) => {
          if (!whatsapp.up) throw new Error('WhatsApp indisponível (teste)');
          whatsapp.sent.push(m.text);
        },
      },
      send: (phone, e: ConversationEvent) => system.send(TYPE, phone, e),
    });
    // One attempt, so the reply is dead-lettered at once.
    const reply = def.effects!['conversation.reply'] as EffectSpec;
    def.effects!['conversation.reply'] = { ...reply, attempts: 1 };
    const think = def.effects!['conversation.think'] as EffectSpec;
    def.effects!['conversation.think'] = { ...think, attempts: 1 };
    system.register({ ...def, type: TYPE });
  }
  admin = await s.login();
  manager = await createUser(s, admin, { name: 'Marina Gestora', role: 'MANAGER' });
  paula = await createUser(s, admin, { name: 'Paula Consultora' });
}, 120_000);

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await browser?.close();
  await s?.stop();
});

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close();
});

async function signedIn(email: string, password: string): Promise<{ page: Page; errors: string[] }> {
  const session = await signIn(browser, s.url, email, password, { viewport: { width: 1440, height: 900 } });
  contexts.push(session.context);
  return session;
}

async function checkPage(page: Page, name: string): Promise<void> {
  await expectAccessible(page, name, ARTIFACTS);
}

const detail = async (type: string, id: string): Promise<Detail> => {
  const res = await s.api(`/api/actors/${type}/${encodeURIComponent(id)}`, { token: admin });
  expect(res.status).toBe(200);
  return (await res.json()) as Detail;
};
const lit = (page: Page, id: string) => page.locator(`[data-state-id="${id}"][data-active]`);
const state = (page: Page, id: string) => page.locator(`[data-state-id="${id}"]`);
const live = (page: Page) => page.waitForFunction(() => document.documentElement.dataset.live === 'socket');
const machinesUrl = (type: string, id?: string) => `${s.url}/machines?type=${type}${id ? `&id=${encodeURIComponent(id)}` : ''}`;

describe('/machines', { timeout: 90_000 }, () => {
  it('draws the conversation machine with every stage, sub-state and labelled transition, before any JavaScript', async () => {
    const { page, errors } = await signedIn(manager.email, manager.password);
    await page.getByRole('link', { name: 'Máquinas' }).click();
    await page.waitForURL(/\/machines$/);
    await page.getByTestId('machine-tab').filter({ hasText: new RegExp(`^${TYPE}$`) }).click();
    await page.waitForURL(new RegExp(`type=${TYPE}$`));
    for (const stage of STAGES) await expect(state(page, `conversation.${stage}`).count(), stage).resolves.toBe(1);
    for (const sub of ['idle', 'collecting', 'thinking', 'waiting', 'nudged']) await expect(state(page, `conversation.QUALIFICATION.${sub}`).count()).resolves.toBe(1);
    const labels = await page.locator('.sc-edge').evaluateAll((edges) => edges.map((e) => (e as SVGGElement).dataset.label ?? ''));
    expect(await page.locator('.sc-edge .sc-label').count()).toBe(labels.length);
    expect(labels.length).toBeGreaterThan(20);
    expect(labels.every((l) => l.trim().length > 0)).toBe(true);
    expect(labels).toContain('after BURST');
    expect(labels).toContain('after FOLLOW_UP_1');
    expect(labels).toContain('brain.decided [turnLeadsTo(QUALIFICATION, SIMULATION)]');
    // Every label is drawn, its guards on lines of their own.
    const drawn = page.locator('[data-edge-source="conversation.QUALIFICATION.thinking"][data-edge-target="conversation.SIMULATION.waiting"] tspan');
    expect(await drawn.allTextContents()).toEqual(['brain.decided', '[turnLeadsTo(QUALIFICATION, SIMULATION)]']);
    expect(labels.some((l) => l.startsWith('conversation.takeover'))).toBe(true);
    expect(await page.locator('[data-state-id="conversation.INTRO"] .sc-internal').allTextContents()).toContain('message.received [duplicate]');

    // Server-rendered: the same chart is in the HTML itself.
    const html = await (await page.context().request.get(machinesUrl(TYPE))).text();
    expect(html).toContain('data-state-id="conversation.OPTED_OUT"');
    expect(html).toContain('after FOLLOW_UP_2');
    await checkPage(page, 'conversation-chart');
    expect(errors).toEqual([]);
  });

  it("lights a live consultant's state, moves when their socket connects, and steps back with the scrubber", async () => {
    await waitFor('the consultant actor', async () => (await s.api(`/api/actors/consultant/${paula.id}`, { token: admin })).status === 200);
    const { page, errors } = await signedIn(manager.email, manager.password);
    await page.goto(`${s.url}/machines?type=consultant&q=${paula.id.slice(0, 8)}`);
    await page.locator(`[data-actor-id="${paula.id}"]`).click();
    await page.waitForURL(/id=/);
    await lit(page, 'consultant.presence.offline').waitFor();
    await lit(page, 'consultant.status.active').waitFor();
    expect(await lit(page, 'consultant.presence.online').count()).toBe(0);
    // Lit on the server already: the HTML itself carries it.
    const html = await (await page.context().request.get(page.url())).text();
    expect(html).toMatch(/data-state-id="consultant\.presence\.offline"[^>]*data-active/);
    expect(html).not.toMatch(/data-state-id="consultant\.presence\.online"[^>]*data-active/);
    await live(page);

    // Paula opens the app: her socket connects and her actor goes online.
    sockets.push((await connectSocket(s.url, paula.token)).socket);
    await lit(page, 'consultant.presence.online.available').waitFor();
    await lit(page, 'consultant.presence.online').waitFor();
    expect(await lit(page, 'consultant.presence.offline').count()).toBe(0);
    await page.locator('[data-testid="event-list"] li', { hasText: 'presence.connected' }).waitFor();
    // The arrow the event took is marked too.
    await page.locator('.sc-edge[data-taken][data-event="presence.connected"][data-edge-source="consultant.presence.offline"]').waitFor();
    expect(await page.locator('.sc-edge[data-taken]').count()).toBe(1);
    expect(await page.getByTestId('actor-shown-state').textContent()).toContain('presence.online.available');

    // Back one event with the keyboard: the state before she connected.
    await page.getByTestId('scrubber').focus();
    await page.keyboard.press('ArrowLeft');
    await lit(page, 'consultant.presence.offline').waitFor();
    expect(await lit(page, 'consultant.presence.online.available').count()).toBe(0);
    expect(await page.getByTestId('actor-shown-state').textContent()).toContain('presence.offline');
    expect(await page.getByTestId('actor-mode').textContent()).toMatch(/^Após o evento #\d+$/);
    await checkPage(page, 'consultant-stepped-back');
    // And forward again, then live.
    await page.keyboard.press('ArrowRight');
    await lit(page, 'consultant.presence.online.available').waitFor();
    await page.getByTestId('scrub-back').click();
    await lit(page, 'consultant.presence.offline').waitFor();
    await page.getByTestId('scrub-live').click();
    await lit(page, 'consultant.presence.online.available').waitFor();
    expect(await page.getByTestId('actor-mode').textContent()).toBe('Agora');
    expect(errors).toEqual([]);
  });

  it('moves when a simulator message arrives: a live Lívia conversation goes from INTRO to QUALIFICATION on the open page, then steps back', async () => {
    // A customer on Lívia's number (the simulator driver), through the server's own conversation actor.
    const phone = '+5511987650003';
    const say = async (text: string) => expect((await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: phone, text } })).status).toBe(202);
    const settled = (want: RegExp, after = 0) =>
      waitFor(`the conversation in ${want}`, async () => {
        const d = await detail(CONVERSATION, phone).catch(() => undefined);
        return d && want.test(d.state) && (d.events.at(-1)?.seq ?? 0) > after ? d : undefined;
      });
    await say('Oi, aqui é a Carla Souza');
    const before = await settled(/^INTRO\.waiting$/);
    const lastSeq = before.events.at(-1)!.seq;

    const { page, errors } = await signedIn(manager.email, manager.password);
    await page.goto(`${s.url}/machines?type=${CONVERSATION}&q=${encodeURIComponent(phone.slice(1, 9))}`);
    await page.locator(`[data-actor-id="${phone}"]`).click();
    await page.waitForURL(/id=/);
    await lit(page, 'conversation.INTRO.waiting').waitFor();
    await live(page);
    // The same document all along (no reload), and every state the chart shows, as it shows it.
    await page.evaluate(() => {
      const w = window as unknown as { __sameDocument: boolean; __shown: string[] };
      w.__sameDocument = true;
      w.__shown = [];
      const chart = document.querySelector('svg[data-machine]')!;
      new MutationObserver(() => w.__shown.push(chart.getAttribute('data-shown') ?? '')).observe(chart, { attributes: true, attributeFilter: ['data-shown'] });
    });
    const listed = await page.locator('[data-testid="event-list"] li').count();

    // The customer says what the credit is for: Lívia has name and purpose, and qualifies.
    await say('quero reformar a casa');
    await lit(page, 'conversation.QUALIFICATION').waitFor();
    await lit(page, 'conversation.QUALIFICATION.waiting').waitFor();
    expect(await lit(page, 'conversation.INTRO').count()).toBe(0);
    const after = await settled(/^QUALIFICATION\.waiting$/, lastSeq);
    await page.waitForFunction((state) => document.querySelector('svg[data-machine]')?.getAttribute('data-shown') === state, after.state);
    expect(await page.getByTestId('actor-shown-state').textContent()).toBe('QUALIFICATION.waiting');
    // The new events stream into the list: the message, and the brain's decision that moved the stage.
    const fresh = after.events.filter((e) => e.seq > lastSeq);
    for (const e of fresh) await page.locator(`[data-testid="event-list"] li[data-seq="${e.seq}"]`).waitFor();
    expect(await page.locator('[data-testid="event-list"] li').count()).toBeGreaterThan(listed);
    await page.locator(`[data-testid="event-list"] li[data-seq="${fresh[0]!.seq}"]`, { hasText: 'message.received' }).waitFor();
    await page.locator('.sc-edge[data-taken][data-edge-target="conversation.QUALIFICATION.waiting"]').waitFor();
    const shown = await page.evaluate(() => (window as unknown as { __shown: string[] }).__shown);
    // It moved, and never back: a late answer must not light a state the actor has left.
    const reached = shown.indexOf('QUALIFICATION.waiting');
    expect(reached, shown.join(' → ')).toBeGreaterThanOrEqual(0);
    expect(shown.slice(reached), shown.join(' → ')).toEqual(shown.slice(reached).map(() => 'QUALIFICATION.waiting'));
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await checkPage(page, 'conversation-moved');

    // One event back: the state before the decision, still in INTRO.
    await page.getByTestId('scrubber').focus();
    await page.keyboard.press('ArrowLeft');
    await lit(page, 'conversation.INTRO').waitFor();
    expect(await lit(page, 'conversation.QUALIFICATION').count()).toBe(0);
    expect(await page.getByTestId('actor-shown-state').textContent()).toMatch(/^INTRO\./);
    await page.getByTestId('scrub-live').click();
    await lit(page, 'conversation.QUALIFICATION.waiting').waitFor();
    expect(errors).toEqual([]);
  });

  it("shows a conversation's armed timer and its dead-lettered reply, which an admin retries", async () => {
    const phone = '+5511987650001';
    await s.server.system.send(TYPE, phone, { type: 'message.received', id: 'w-1', text: 'oi', kind: 'text', at: new Date().toISOString() });
    const d = await waitFor('a dead reply and an armed follow-up', async () => {
      const x = await detail(TYPE, phone);
      return x.dead_effects.length > 0 && x.timers.length > 0 ? x : undefined;
    });
    expect(d.state).toBe('INTRO.waiting');
    expect(d.timers[0]!.event).toContain('FOLLOW_UP_1');
    expect(d.dead_effects[0]!.type).toBe('conversation.reply');

    const { page, errors } = await signedIn(s.admin.email, s.admin.password);
    await page.goto(machinesUrl(TYPE, phone));
    await lit(page, 'conversation.INTRO.waiting').waitFor();
    await lit(page, 'conversation.INTRO').waitFor();
    const timer = page.getByTestId('timers').locator('li');
    expect(await timer.textContent()).toContain('after FOLLOW_UP_1');
    expect(await timer.locator('time').getAttribute('datetime')).toBe(d.timers[0]!.due_at);
    const dead = page.getByTestId('dead-effects').locator('li');
    expect(await dead.textContent()).toContain('WhatsApp indisponível');
    await checkPage(page, 'conversation-actor');

    whatsapp.up = true;
    await page.getByTestId('retry-effect').click();
    const answer = page.getByTestId('retry-result');
    await answer.filter({ hasText: 'Reenviado' }).waitFor();
    expect(await answer.textContent()).toContain('INTRO.waiting');
    await waitFor('the reply sent', async () => whatsapp.sent.length > 0);
    await page.getByTestId('dead-effects').waitFor({ state: 'detached' });
    expect((await detail(TYPE, phone)).dead_effects).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("a conversation stuck thinking on a dead-lettered think: an admin discards it and the conversation goes on", async () => {
    const phone = '+5511987650003';
    brain.up = false;
    await s.server.system.send(TYPE, phone, { type: 'message.received', id: 'w-3', text: 'oi', kind: 'text', at: new Date().toISOString() });
    const d = await waitFor('a dead think', async () => {
      const x = await detail(TYPE, phone);
      return x.dead_effects.length > 0 ? x : undefined;
    });
    expect(d.state).toBe('INTRO.thinking');
    expect(d.dead_effects[0]!.type).toBe('conversation.think');
    brain.up = true;

    const { page, errors } = await signedIn(s.admin.email, s.admin.password);
    await page.goto(machinesUrl(TYPE, phone));
    await lit(page, 'conversation.INTRO.thinking').waitFor();
    const dead = page.getByTestId('dead-effects').locator('li');
    expect(await dead.textContent()).toContain('Cérebro indisponível');
    // Both actions side by side; discarding asks first, and a "no" changes nothing.
    expect(await dead.getByRole('button').allTextContents()).toEqual(['Tentar de novo', 'Descartar']);
    // Each dialog is waited for before the next click: the page's handler may load lazily, and a
    // late first dialog would otherwise meet both listeners.
    const dismissed = new Promise<void>((resolve) => page.once('dialog', (dialog) => void dialog.dismiss().then(resolve)));
    await page.getByTestId('discard-effect').click();
    await dismissed;
    expect((await detail(TYPE, phone)).dead_effects).toHaveLength(1);
    let asked = '';
    const accepted = new Promise<void>((resolve) =>
      page.once('dialog', (dialog) => {
        asked = dialog.message();
        void dialog.accept().then(resolve);
      }),
    );
    await page.getByTestId('discard-effect').click();
    await accepted;
    expect(asked).toContain('conversation.think');
    const answer = page.getByTestId('discard-result');
    await answer.filter({ hasText: 'Descartado' }).waitFor();
    expect(await answer.textContent()).toContain('INTRO.idle');
    await lit(page, 'conversation.INTRO.idle').waitFor();
    await page.getByTestId('dead-effects').waitFor({ state: 'detached' });
    const kept = page.getByTestId('discarded-effects').locator('li');
    expect(await kept.textContent()).toContain('conversation.think');
    expect(await kept.textContent()).toContain(`Descartado por ${s.admin.name}`);
    await checkPage(page, 'conversation-discarded');
    const after = await detail(TYPE, phone);
    expect(after.state).toBe('INTRO.idle');
    expect(after.dead_effects).toEqual([]);
    expect(after.discarded_effects.map((x) => x.type)).toEqual(['conversation.think']);
    expect(after.events.map((e) => e.type)).toEqual(expect.arrayContaining(['actor.effect.discarded', 'effect.discarded']));

    // Not stuck: the customer's next message gets an answer.
    await s.server.system.send(TYPE, phone, { type: 'message.received', id: 'w-4', text: 'aqui é a Carla', kind: 'text', at: new Date().toISOString() });
    await waitFor('an answer to the next turn', async () => ((await detail(TYPE, phone)).state.endsWith('.waiting') ? true : undefined));
    expect(errors).toEqual([]);
  });

  it('every page is in the navigation of the roles that may see it, and a forbidden page says so', async () => {
    const navOf = async (page: Page) => page.locator('nav[aria-label="Principal"] a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    const m = await signedIn(manager.email, manager.password);
    expect(await navOf(m.page)).toEqual(['/', '/analytics', '/admin/consultants', '/machines', '/chats', '/conversations']);
    for (const href of ['/analytics', '/admin/consultants', '/machines', '/chats', '/conversations']) {
      await m.page.locator(`nav[aria-label="Principal"] a[href="${href}"]`).click();
      await m.page.waitForURL(`${s.url}${href}`);
      expect(await m.page.locator('main h1').first().textContent()).not.toBe('');
      expect(await m.page.locator('main [role="alert"]').count(), href).toBe(0);
    }
    // An admin has every page, the simulator too (this server runs the simulator driver).
    const a = await signedIn(s.admin.email, s.admin.password);
    expect(await navOf(a.page)).toEqual(['/', '/analytics', '/admin/consultants', '/machines', '/chats', '/conversations', '/simulator']);
    await a.page.locator('nav[aria-label="Principal"] a[href="/simulator"]').click();
    await a.page.waitForURL(`${s.url}/simulator`);
    expect(await a.page.locator('main [role="alert"]').count()).toBe(0);
    await a.page.locator('svg[data-machine]').waitFor();
    const c = await signedIn(paula.email, paula.password);
    expect(await navOf(c.page)).toEqual(['/', '/chats', '/conversations']);
    for (const [href, text] of [
      ['/analytics', 'Somente gestores e administradores podem ver as análises'],
      ['/admin/consultants', 'Somente gestores e administradores podem ver a equipe'],
      ['/machines', 'Somente gestores e administradores podem ver as máquinas de estado'],
      ['/simulator', 'Somente administradores podem usar o simulador'],
    ] as const) {
      await c.page.goto(`${s.url}${href}`);
      expect(await c.page.locator('main').textContent(), href).toContain(text);
    }
    expect([...m.errors, ...a.errors, ...c.errors].filter((e) => !/status of 403/.test(e))).toEqual([]);
  });

  it('a manager has no retry or discard button; a consultant is told the page is not for them', async () => {
    const m = await signedIn(manager.email, manager.password);
    await m.page.goto(machinesUrl(TYPE, '+5511987650002'));
    expect(await m.page.getByTestId('actor-message').textContent()).toContain('não encontrado');
    expect(await m.page.getByTestId('retry-effect').count()).toBe(0);
    expect(await m.page.getByTestId('discard-effect').count()).toBe(0);

    const c = await signedIn(paula.email, paula.password);
    expect(await c.page.locator('nav a[href="/machines"]').count()).toBe(0);
    await c.page.goto(`${s.url}/machines`);
    const forbidden = c.page.getByTestId('machines-forbidden');
    await forbidden.waitFor();
    expect(await forbidden.textContent()).toContain('Somente gestores e administradores');
    expect(await c.page.getByTestId('statechart').count()).toBe(0);
    await checkPage(c.page, 'consultant-forbidden');
    // The browser reports the 403 document itself; nothing else may be logged.
    expect([...m.errors, ...c.errors].filter((e) => !/status of (403|404)/.test(e))).toEqual([]);
  });
});
