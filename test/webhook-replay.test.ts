/**
 * Replay-proof webhooks and their own rate limit, against a real server and database: a signature
 * is accepted once whatever its Idempotency-Key, and signed traffic from one address is limited
 * per sender key rather than by the per-client limit (production mode).
 */
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../src/http/webhook-signature.ts';
import { mapLimit } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const SECRET = 'replay-test-webhook-secret-0123456789';
const now = () => Math.floor(Date.now() / 1000);

/** A signed request, ready to send (and to send again, byte for byte). */
function signed(body: Record<string, unknown>, ts = now(), secret = SECRET) {
  const raw = JSON.stringify(body);
  return { raw, ts, signature: signWebhook(secret, ts, raw) };
}

function send(s: TestServer, r: ReturnType<typeof signed>, headers: Record<string, string> = {}) {
  return fetch(`${s.url}/api/webhooks/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-webhook-timestamp': String(r.ts), 'x-webhook-signature': r.signature, ...headers },
    body: r.raw,
  });
}

async function counts(s: TestServer) {
  const [row] = await s.server.sql<{ leads: number; jobs: number }[]>`
    select (select count(*)::int from leads) as leads,
           (select count(*)::int from pgboss.job where name = 'lead.pipeline') as jobs`;
  return row!;
}

let n = 0;
const lead = () => ({ name: `Replay ${++n}`, phone: `(11) 9${String(87_000_000 + n)}` });

describe('a signature is accepted once', () => {
  it('a replay with a new Idempotency-Key (or none) answers 200 {id, duplicate: true} and creates nothing', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET: SECRET });
    const r = signed(lead());
    const first = await send(s, r, { 'idempotency-key': 'k-1' });
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const before = await counts(s);

    const variants: Record<string, string>[] = [{ 'idempotency-key': 'k-2' }, {}, { 'idempotency-key': 'k-1' }];
    for (const headers of variants) {
      const again = await send(s, r, headers);
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ id, duplicate: true });
    }
    expect(await counts(s)).toEqual(before);
  });

  it('20 concurrent replays, each with its own key: one lead, every answer names it', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET: SECRET });
    const r = signed(lead());
    const before = await counts(s);
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await send(s, r, { 'idempotency-key': `concurrent-${i}` });
        return { status: res.status, body: (await res.json()) as { id: string } };
      }),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(19);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const after = await counts(s);
    expect(after.leads).toBe(before.leads + 1);
    expect(after.jobs).toBe(before.jobs + 1);
  });

  it('a request answered as a duplicate by its key, replayed with another key, is still that duplicate', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET: SECRET });
    const body = lead();
    const a = await send(s, signed(body, now() - 1), { 'idempotency-key': 'same' });
    expect(a.status).toBe(202);
    const { id } = (await a.json()) as { id: string };
    const b = signed(body, now());
    const dup = await send(s, b, { 'idempotency-key': 'same' });
    expect(await dup.json()).toEqual({ id, duplicate: true });
    const before = await counts(s);
    const replay = await send(s, b, { 'idempotency-key': 'another' });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ id, duplicate: true });
    expect(await counts(s)).toEqual(before);
  });

  it('the same body signed at another timestamp is a new request (signatures, not bodies, are remembered)', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET: SECRET });
    const body = lead();
    expect((await send(s, signed(body, now() - 2))).status).toBe(202);
    expect((await send(s, signed(body, now()))).status).toBe(202);
  });
});

describe('rate limits in production', () => {
  it('400 signed leads in a minute from one address are all accepted; bad signatures from it still meet the per-client limit', async () => {
    const s = await startTestServer({
      NODE_ENV: 'production',
      JWT_SECRET: 'replay-test-jwt-secret-0123456789-abcdefgh',
      WEBHOOK_SECRET: SECRET,
    });
    expect(s.server.config.rateLimitPerMinute).toBe(200);
    const statuses = await mapLimit(Array.from({ length: 400 }, (_, i) => i), 16, async () => (await send(s, signed(lead()))).status);
    expect(statuses.filter((x) => x === 202)).toHaveLength(400);

    // A forged signature is unsigned traffic: the per-client limit (200 a minute) applies.
    const forged = { ...signed(lead()), signature: `sha256=${'0'.repeat(64)}` };
    const bad = await mapLimit(Array.from({ length: 210 }, (_, i) => i), 16, async () => (await send(s, forged)).status);
    expect(bad.filter((x) => x === 401).length).toBeGreaterThan(0);
    expect(bad.filter((x) => x === 401).length).toBeLessThanOrEqual(200);
    expect(bad.filter((x) => x === 429).length).toBeGreaterThanOrEqual(10);
    // ...and leaves the sender's own limit alone.
    expect((await send(s, signed(lead()))).status).toBe(202);
  });

  it('signed traffic is limited per sender key (WEBHOOK_RATE_LIMIT_PER_MINUTE) with Retry-After', async () => {
    // A sender key of its own: the earlier tests' leads, signed with SECRET, count in the same
    // shared per-minute row of this database.
    const own = 'replay-test-sender-limit-secret-0123456789';
    const s = await startTestServer({ WEBHOOK_SECRET: own, WEBHOOK_RATE_LIMIT_PER_MINUTE: '5' });
    // The sender limit counts per clock minute (one shared row per minute for all instances): start
    // well inside one, or the count starts afresh halfway through the test.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await send(s, signed(lead(), now(), own))).status);
    expect(statuses).toEqual([202, 202, 202, 202, 202]);
    const over = await send(s, signed(lead(), now(), own));
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
  });
});
