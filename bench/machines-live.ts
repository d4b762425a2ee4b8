/**
 * Issue 13, "Measure": the time from a simulator message to the state lit on `/machines`, p50 and
 * p99 (BENCH_ONLY=machines-live; runnable alone, like every bench, through `npm run bench`).
 *
 * Our server runs in a child process (bench/serve-child.ts) on the WhatsApp simulator with Lívia's
 * scripted brain and a burst window of BENCH_MACHINES_BURST_MS (default 300 ms), so every customer
 * message moves her conversation actor out of `<stage>.waiting` into `<stage>.collecting`. Debian's
 * Chromium has `/machines` open on that actor (subscribed with `actor:subscribe` by the page's own
 * socket). For each of BENCH_MACHINES_MESSAGES messages (default 100; quick 30):
 *
 *   t0    this process, just before `POST /api/simulator/messages` (a customer's text on Lívia's number);
 *   lit   the page: a MutationObserver on the chart's `data-shown` sees the new state
 *         (performance.timeOrigin + performance.now() in the page);
 *   base  this process: a plain socket.io-client, subscribed to the same actor with `actor:subscribe`,
 *         receives the first snapshot in the new state (performance.timeOrigin + performance.now()).
 *
 * Both clocks are this machine's wall clock in ms. The ratio lit / base is what the browser adds
 * (its socket, Qwik's task that lights the chart) over the bare subscription. The actor is let
 * settle back to `waiting` (Lívia answered) before the next message; a conversation that leaves
 * the talking stages is replaced by a new customer.
 *
 * Needs the built web app (`npm run build:ui`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { io as connectSocket, type Socket } from 'socket.io-client';
import postgres from 'postgres';
import { forkServer, type ChildServer } from './http.ts';
import { liviaEnv, progress, row, summarize, type BenchOptions, type BenchResult } from './lib/common.ts';
import type { BenchDatabase } from './lib/db.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TYPE = 'conversation';
/** Words the scripted brain takes for no data at all: the conversation stays in its stage. */
const FILLER = 'hum, deixa eu pensar';

function count(env: string, fallback: number): number {
  const n = Number(process.env[env] ?? '');
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runMachinesLive(opts: BenchOptions, db: BenchDatabase): Promise<BenchResult> {
  const messages = count('BENCH_MACHINES_MESSAGES', opts.quick ? 30 : 100);
  const burstMs = count('BENCH_MACHINES_BURST_MS', 300);

  const dbName = `bench_machines_${Math.random().toString(36).slice(2, 10)}`;
  const adminSql = postgres(db.url, { max: 1, onnotice: () => {} });
  await adminSql.unsafe(`create database ${dbName}`);
  const url = new URL(db.url);
  url.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'livia-bench-machines-'));
  const admin = { email: 'admin@bench.test', password: 'bench-admin-password' };
  let server: ChildServer | undefined;
  let browser: Browser | undefined;
  let socket: Socket | undefined;
  try {
    server = await forkServer('livia', {
      ...liviaEnv({ databaseUrl: url.href, dataDir, admin, webhookSecret: 'bench-webhook-secret-0123456789' }),
      GROQ_API_KEY: '',
      LIVIA_BURST_MS: String(burstMs),
      LIVIA_TYPING_MS_PER_CHAR: '0',
      WHATSAPP_SEND_PER_MINUTE: '10000',
    });
    const base = server.url;
    const token = await login(base, admin);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await signIn(page, base, admin);

    // The baseline listener: the bare subscription, in this process.
    socket = connectSocket(base, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket!.once('connect', () => resolve());
      socket!.once('connect_error', reject);
    });
    const snapshots: { id: string; state: string; at: number }[] = [];
    socket.on('actor:snapshot', (s: { type: string; id: string; state: string }) => {
      if (s.type === TYPE) snapshots.push({ id: s.id, state: s.state, at: now() });
    });

    const lit: number[] = [];
    const bare: number[] = [];
    const extra: number[] = [];
    const missed: { message: number; states: string[] }[] = [];
    let customers = 0;
    let phone = '';
    let shown = '';
    const say = async (text: string) => {
      const res = await fetch(`${base}/api/simulator/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ session: 'livia', from: phone, text }),
      });
      if (res.status !== 202) throw new Error(`simulator: ${res.status} ${await res.text()}`);
    };
    /** Waits for Lívia's answer: the actor back in `<stage>.waiting`, on the page and for the listener. */
    const settle = async (): Promise<boolean> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const onPage = await page.evaluate(() => document.querySelector('svg[data-machine]')?.getAttribute('data-shown') ?? '');
        const heard = snapshots.filter((s) => s.id === phone).at(-1)?.state ?? '';
        if (/^(INTRO|QUALIFICATION|SIMULATION|CONVERSION)\.waiting$/.test(onPage) && onPage === heard) {
          shown = onPage;
          return true;
        }
        if (Date.now() > deadline) return false;
        await sleep(20);
      }
    };
    /** A new customer: their first message makes the actor; the page opens on it and subscribes. */
    const newCustomer = async () => {
      customers++;
      phone = `+55119876${String(10_000 + customers).slice(-5)}`;
      await socketAck(socket!, 'actor:unsubscribe', { type: TYPE, id: phone });
      await say('Oi');
      for (let tries = 0; ; tries++) {
        const res = await fetch(`${base}/api/actors/${TYPE}/${encodeURIComponent(phone)}`, { headers: { authorization: `Bearer ${token}` } });
        if (res.status === 200 && /waiting$/.test(((await res.json()) as { state: string }).state)) break;
        if (tries > 400) throw new Error(`the conversation of ${phone} did not start`);
        await sleep(50);
      }
      await socketAck(socket!, 'actor:subscribe', { type: TYPE, id: phone });
      await page.goto(`${base}/machines?type=${TYPE}&id=${encodeURIComponent(phone)}`);
      await page.waitForFunction(() => document.documentElement.dataset.live === 'socket');
      await page.evaluate(() => {
        const w = window as unknown as { __connects: number };
        w.__connects = 0;
        window.addEventListener('livia-connected', () => w.__connects++);
        const r = window as unknown as { __heard: { state: string; at: number }[] };
        r.__heard = [];
        window.addEventListener('livia-actor', (e) => r.__heard.push({ state: (e as CustomEvent<{ state: string }>).detail.state, at: performance.timeOrigin + performance.now() }));
      });
      if (!(await settle())) throw new Error(`the page did not show ${phone}'s conversation waiting`);
    };

    await newCustomer();
    progress(`machines-live: /machines open on ${TYPE} ${phone}; ${messages} messages`);
    for (let i = 0; i < messages; i++) {
      const before = shown;
      const heardBefore = snapshots.length;
      // The observer is in place before the message leaves.
      await page.evaluate((prev) => {
        const w = window as unknown as { __lit: Promise<number> };
        const chart = document.querySelector('svg[data-machine]')!;
        w.__lit = new Promise<number>((resolve) => {
          const obs = new MutationObserver(() => {
            if (chart.getAttribute('data-shown') !== prev) {
              obs.disconnect();
              resolve(performance.timeOrigin + performance.now());
            }
          });
          obs.observe(chart, { attributes: true, attributeFilter: ['data-shown'] });
        });
      }, before);
      const t0 = now();
      await say(FILLER);
      const heard = await waitUntil(() => snapshots.slice(heardBefore).find((s) => s.id === phone && s.state !== before), 60_000);
      if (!heard) {
        const res = await fetch(`${base}/api/actors/${TYPE}/${encodeURIComponent(phone)}?limit=5`, { headers: { authorization: `Bearer ${token}` } });
        throw new Error(`message ${i + 1}: the bare listener never saw the actor leave ${before} in 60 s; it is ${res.status === 200 ? ((await res.json()) as { state: string }).state : `unreadable (${res.status})`}`);
      }
      // The page has until 5 s after the actor is back in a waiting state. On a starved machine the
      // browser can get all three snapshots (collecting, thinking, waiting) in one go, late, and then
      // lights only the last: such a message is counted as a miss (with what its socket brought
      // when), not timed.
      const back = waitUntil(() => snapshots.slice(heardBefore).find((s) => s.id === phone && /waiting$/.test(s.state)), 60_000).then(() => sleep(5_000));
      const litAt = await Promise.race([page.evaluate(() => (window as unknown as { __lit: Promise<number> }).__lit), back.then(() => Number.NaN)]);
      if (Number.isNaN(litAt)) {
        const inPage = await page.evaluate((t) => (window as unknown as { __heard: { state: string; at: number }[] }).__heard.filter((h) => h.at >= t).map((h) => `${h.state}@${Math.round(h.at - t)}`), t0);
        missed.push({ message: i + 1, states: snapshots.slice(heardBefore).filter((s) => s.id === phone).map((s) => `${s.state}@${Math.round(s.at - t0)}`) });
        progress(`machines-live: message ${i + 1}: the page did not show ${missed.at(-1)!.states.join(' → ')}; its socket brought ${inPage.join(' → ') || 'nothing'}`);
      } else {
        lit.push(litAt - t0);
        extra.push(litAt - heard.at);
      }
      bare.push(heard.at - t0);
      if (!(await settle())) {
        progress(`machines-live: ${phone} left the talking stages; a new customer`);
        await newCustomer();
      }
    }
    const reconnects = await page.evaluate(() => (window as unknown as { __connects: number }).__connects);
    await context.close();

    const l = summarize(lit);
    const b = summarize(bare);
    const x = summarize(extra);
    progress(`machines-live: lit p50 ${l.p50.toFixed(1)} ms p99 ${l.p99.toFixed(1)} ms; socket p50 ${b.p50.toFixed(1)} ms p99 ${b.p99.toFixed(1)} ms`);
    return {
      name: 'machines-live',
      rows: [
        row({ bench: 'machines-live', metric: '/machines: simulator message → new state lit p50', value: l.p50, unit: 'ms', baseline: { label: 'socket.io-client actor:snapshot p50', value: b.p50 }, goal: '< 1000 ms' }),
        row({ bench: 'machines-live', metric: '/machines: simulator message → new state lit p99', value: l.p99, unit: 'ms', baseline: { label: 'socket.io-client actor:snapshot p99', value: b.p99 }, goal: '< 1000 ms' }),
        row({ bench: 'machines-live', metric: '/machines: what the page adds after the bare snapshot, p50', value: x.p50, unit: 'ms' }),
        row({ bench: 'machines-live', metric: '/machines: what the page adds after the bare snapshot, p99', value: x.p99, unit: 'ms' }),
        row({ bench: 'machines-live', metric: '/machines: messages whose passing state the page never showed', value: missed.length, unit: 'count', note: `of ${messages}; page socket reconnects: ${reconnects}` }),
      ],
      notes: [
        `machines-live: ${messages} customer messages on Lívia's number (simulator driver, scripted brain, burst ${burstMs} ms) over ${customers} conversation(s), one at a time; timed from just before the POST (this process) to the chart's data-shown changing on /machines (a MutationObserver in Chromium) and, as the baseline, to the first actor:snapshot in the new state at a socket.io-client subscribed in this process; performance.timeOrigin + now() on both sides (one machine)`,
      ],
      details: { messages, burstMs, customers, lit: l, bare: b, extra: x, missed, reconnects },
    };
  } finally {
    socket?.close();
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
    await adminSql.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
    await adminSql.end({ timeout: 5 });
  }
}

async function waitUntil<T>(fn: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined || Date.now() > deadline) return v;
    await sleep(5);
  }
}

function socketAck(socket: Socket, event: string, payload: unknown): Promise<unknown> {
  return socket.timeout(10_000).emitWithAck(event, payload);
}

async function login(base: string, who: { email: string; password: string }): Promise<string> {
  const res = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who) });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

async function signIn(page: Page, base: string, who: { email: string; password: string }): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', who.email);
  await page.fill('input[name="password"]', who.password);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${base}/`);
}
