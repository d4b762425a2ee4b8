/**
 * Lead webhook intake against a real server and database: signature, timestamp, validation,
 * hostile input, body size, idempotency under concurrent duplicates, E.164 storage.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../src/http/webhook-signature.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const SECRET = 'webhook-test-secret-0123456789abcdef';
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'silent' });
});

const now = () => Math.floor(Date.now() / 1000);

/** Posts a raw body, signed with `secret` at `ts` unless told otherwise. */
function post(
  raw: string,
  opts: { secret?: string; ts?: number; sign?: string; headers?: Record<string, string>; signedBody?: string } = {},
) {
  const ts = opts.ts ?? now();
  const signature = opts.sign ?? signWebhook(opts.secret ?? SECRET, ts, opts.signedBody ?? raw);
  return fetch(`${s.url}/api/webhooks/leads`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-webhook-timestamp': String(ts), 'x-webhook-signature': signature, ...opts.headers },
    body: raw,
  });
}
const postJson = (body: unknown, headers: Record<string, string> = {}) => post(JSON.stringify(body), { headers });

let n = 0;
const lead = (over: Record<string, unknown> = {}) => ({ name: `Lead ${++n}`, phone: '(11) 98765-4321', ...over });

async function expectError(res: Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string; details?: { path: string; message: string }[] } };
  expect(typeof body.error.code).toBe('string');
  expect(body.error.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof body.error.message).toBe('string');
  if (code) expect(body.error.code).toBe(code);
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/ at .*\.ts:\d+|stack|postgres|syntax error|relation "/i);
  return body.error;
}

async function leadCount(): Promise<number> {
  const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads`;
  return row!.n;
}

describe('signature', () => {
  it('valid signature → 202 {id, status: NEW}, stored', async () => {
    const res = await postJson(lead({ email: 'Maria@Example.com', message: 'Quero um crédito' }));
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string };
    expect(body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'NEW' });
    const [row] = await s.server.sql<{ email: string; status: string }[]>`select email, status from leads where id = ${body.id}`;
    expect(row).toEqual({ email: 'maria@example.com', status: expect.any(String) });
    // The created interaction and the pipeline job were committed with the lead.
    const [i] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from interactions where lead_id = ${body.id} and type = 'created'`;
    expect(i!.n).toBe(1);
    const [j] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from pgboss.job where name = 'lead.pipeline' and data->'leadIds' ? ${body.id}`;
    expect(j!.n).toBe(1);
  });

  it('wrong secret → 401', async () => {
    const before = await leadCount();
    const err = await expectError(await post(JSON.stringify(lead()), { secret: 'another-secret-0123456789abcdef' }), 401);
    expect(err.code).toBe('bad_signature');
    expect(await leadCount()).toBe(before);
  });

  it('tampered body (signed one body, sent another) → 401', async () => {
    const signed = JSON.stringify(lead({ requested_amount: 1000 }));
    const sent = signed.replace('1000', '9000000');
    await expectError(await post(sent, { signedBody: signed }), 401, 'bad_signature');
  });

  it('signature over a different timestamp → 401', async () => {
    const raw = JSON.stringify(lead());
    const ts = now();
    await expectError(await post(raw, { ts, sign: signWebhook(SECRET, ts - 1, raw) }), 401, 'bad_signature');
  });

  it('garbage and truncated signatures → 401', async () => {
    const raw = JSON.stringify(lead());
    const ts = now();
    const good = signWebhook(SECRET, ts, raw);
    for (const sign of ['sha256=', 'sha256=zz', good.slice(0, -2), good.replace('sha256=', ''), good.replace('sha256=', 'sha1='), `${good}00`]) {
      await expectError(await post(raw, { ts, sign }), 401);
    }
  });

  it('missing headers → 401', async () => {
    const raw = JSON.stringify(lead());
    const ts = now();
    const sig = signWebhook(SECRET, ts, raw);
    const variants: Record<string, string>[] = [
      { 'content-type': 'application/json' },
      { 'content-type': 'application/json', 'x-webhook-timestamp': String(ts) },
      { 'content-type': 'application/json', 'x-webhook-signature': sig },
    ];
    for (const headers of variants) {
      const res = await fetch(`${s.url}/api/webhooks/leads`, { method: 'POST', headers, body: raw });
      await expectError(res, 401, 'missing_signature');
    }
  });

  it('timestamp more than 300 s off (past or future) → 401; within 300 s → 202', async () => {
    const raw = () => JSON.stringify(lead());
    // 305, not 301: the test's clock reads whole seconds before the server's does, and a second
    // boundary between the two reads brings "now + 301" to 300 s off on the server (CI saw that once).
    await expectError(await post(raw(), { ts: now() - 305 }), 401, 'stale_timestamp');
    await expectError(await post(raw(), { ts: now() + 305 }), 401, 'stale_timestamp');
    await expectError(await post(raw(), { ts: 0 }), 401, 'stale_timestamp');
    for (const ts of ['abc', '-5', '1e9', '']) {
      const body = raw();
      const res = await fetch(`${s.url}/api/webhooks/leads`, {
        method: 'POST',
        headers: { 'x-webhook-timestamp': ts, 'x-webhook-signature': signWebhook(SECRET, ts, body) },
        body,
      });
      await expectError(res, 401);
    }
    expect((await post(raw(), { ts: now() - 290 })).status).toBe(202);
  });

  it('the window is exact on a fixed clock: 300 s off either way passes, 301 s does not', () => {
    const at = 1_800_000_000;
    const check = (ts: number) => verifyWebhook({ secret: SECRET, timestamp: String(ts), signature: signWebhook(SECRET, ts, '{}'), rawBody: '{}', nowSeconds: at });
    expect([check(at - 300), check(at + 300)]).toEqual([{ ok: true }, { ok: true }]);
    expect([check(at - 301).ok, check(at + 301).ok]).toEqual([false, false]);
    expect(check(at + 301)).toMatchObject({ code: 'stale_timestamp' });
  });
});

describe('body', () => {
  it('malformed JSON, signed → 400 malformed_json', async () => {
    for (const raw of ['{"name": "x", ', 'not json', '', '{"name": "a",}']) {
      await expectError(await post(raw), 400, 'malformed_json');
    }
  });

  it('JSON that is not an object → 422', async () => {
    for (const raw of ['[]', '"lead"', '42', 'null']) await expectError(await post(raw), 422, 'validation_failed');
  });

  it('a body over 10 MB → 413', async () => {
    const big = JSON.stringify({ name: 'x', phone: '11987654321', message: 'a'.repeat(10 * 1024 * 1024 + 10) });
    const before = await leadCount();
    await expectError(await post(big), 413, 'payload_too_large');
    expect(await leadCount()).toBe(before);
  });
});

describe('validation → 422 with field paths', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['missing name', { phone: '11987654321' }, ['name']],
    ['empty name', { name: '   ', phone: '11987654321' }, ['name']],
    ['neither phone nor email', { name: 'Ana' }, ['phone']],
    ['bad phone', { name: 'Ana', phone: '123' }, ['phone']],
    ['bad email', { name: 'Ana', email: 'not-an-email' }, ['email']],
    ['name: 123', { name: 123, phone: '11987654321' }, ['name']],
    ['phone as a number', { name: 'Ana', phone: 11987654321 }, ['phone']],
    ['requested_amount: "abc"', { name: 'Ana', phone: '11987654321', requested_amount: 'abc' }, ['requested_amount']],
    ['requested_amount as a numeric string', { name: 'Ana', phone: '11987654321', requested_amount: '5000' }, ['requested_amount']],
    ['negative requested_amount', { name: 'Ana', phone: '11987654321', requested_amount: -1 }, ['requested_amount']],
    ['negative monthly_income', { name: 'Ana', phone: '11987654321', monthly_income: -100 }, ['monthly_income']],
    ['absurd amount', { name: 'Ana', phone: '11987654321', requested_amount: 1e15 }, ['requested_amount']],
    ['source: {}', { name: 'Ana', phone: '11987654321', source: {} }, ['source']],
    ['metadata not an object', { name: 'Ana', phone: '11987654321', metadata: 'x' }, ['metadata']],
    ['nested metadata', { name: 'Ana', phone: '11987654321', metadata: { a: { b: 1 } } }, ['metadata.a']],
    ['several at once', { name: 5, email: 'x', requested_amount: 'abc', monthly_income: -1 }, ['name', 'email', 'requested_amount', 'monthly_income']],
  ];

  it.each(cases)('%s', async (_label, body, paths) => {
    const before = await leadCount();
    const err = await expectError(await postJson(body), 422, 'validation_failed');
    const got = (err.details ?? []).map((d) => d.path);
    for (const p of paths) expect(got, JSON.stringify(err.details)).toContain(p);
    for (const d of err.details ?? []) expect(typeof d.message).toBe('string');
    expect(await leadCount()).toBe(before);
  });

  it('Idempotency-Key over 200 characters → 422', async () => {
    await expectError(await postJson(lead(), { 'idempotency-key': 'k'.repeat(201) }), 422, 'validation_failed');
  });
});

describe('hostile strings', () => {
  async function stored(id: string) {
    const [row] = await s.server.sql<{ name: string; message: string | null; email: string | null; source: string }[]>`
      select name, message, email, source from leads where id = ${id}`;
    return row!;
  }

  it("SQL-ish text is plain data: stored verbatim, nothing dropped", async () => {
    const name = "Robert'); drop table leads; --";
    const message = "'; drop table leads; -- \" OR 1=1; select pg_sleep(10);";
    const res = await postJson(lead({ name, message, source: "site' or '1'='1" }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const row = await stored(id);
    expect(row.name).toBe(name);
    expect(row.message).toBe(message);
    expect(row.source).toBe("site' or '1'='1");
    expect(await leadCount()).toBeGreaterThan(0);
  });

  it('<script> is stored verbatim and answered as JSON, never as HTML', async () => {
    const name = '<script>alert("x")</script><img src=x onerror=alert(1)>';
    const res = await postJson(lead({ name, message: '</lead><lead>' }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await stored(id)).name).toBe(name);
    const token = await s.login();
    const detail = await s.api(`/api/leads/${id}`, { token });
    expect(detail.headers.get('content-type')).toMatch(/application\/json/);
    expect(((await detail.json()) as { name: string }).name).toBe(name);
  });

  it('a 10k-character name → 422', async () => {
    const err = await expectError(await postJson(lead({ name: 'A'.repeat(10_000) })), 422);
    expect(err.details?.map((d) => d.path)).toContain('name');
  });

  it('NUL and other control characters → 422 (every text field, metadata too)', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'Ana\u0000Maria' }, 'name'],
      [{ name: 'Ana\u0007' }, 'name'],
      [{ name: 'Ana\u001b[31m' }, 'name'],
      [{ message: 'oi\u0000' }, 'message'],
      [{ source: 'site\u0000' }, 'source'],
      [{ external_id: 'x\u0000' }, 'external_id'],
      [{ name: 'Ana\u007f' }, 'name'],
      [{ metadata: { utm: 'a\u0000b' } }, 'metadata.utm'],
    ];
    for (const [over, path] of cases) {
      const res = await postJson(lead(over));
      const err = await expectError(res, 422);
      expect(err.details?.map((d) => d.path), JSON.stringify(over)).toContain(path);
    }
    // A NUL in a metadata key must not reach PostgreSQL either (jsonb refuses \u0000).
    const res = await postJson(lead({ metadata: { 'a\u0000b': 'x' } }));
    expect(res.status).toBe(422);
  });

  it('tabs and newlines in the message are fine', async () => {
    const message = 'linha 1\nlinha 2\r\n\tfim';
    const res = await postJson(lead({ message }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await stored(id)).message).toBe(message);
  });

  it('emoji, accents and other scripts are accepted and stored verbatim', async () => {
    const name = 'João Conceição Ñúñez 🚀👩🏽‍💼 张伟 Ελένη';
    const message = 'Olá! Preciso de R$ 5.000,00 — é urgente 🙏';
    const res = await postJson(lead({ name, message, email: 'joao@exemplo.com.br' }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const row = await stored(id);
    expect(row.name).toBe(name);
    expect(row.message).toBe(message);
    const token = await s.login();
    const detail = (await (await s.api(`/api/leads/${id}`, { token })).json()) as { name: string; message: string };
    expect(detail.name).toBe(name);
    expect(detail.message).toBe(message);
  });
});

describe('phone', () => {
  it.each([
    ['(11) 98765-4321', '+5511987654321'],
    ['11 3456-7890', '+551134567890'],
    ['+55 21 99876-5432', '+5521998765432'],
    ['5511987654321', '+5511987654321'],
    ['+1 212 555 0100', '+12125550100'],
  ])('%s is stored as %s', async (phone, e164) => {
    const res = await postJson(lead({ phone }));
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const [row] = await s.server.sql<{ phone: string }[]>`select phone from leads where id = ${id}`;
    expect(row!.phone).toBe(e164);
  });

  it('email only, no phone → 202 with a null phone', async () => {
    const res = await postJson({ name: 'Só Email', email: 'so@email.test' });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const [row] = await s.server.sql<{ phone: string | null }[]>`select phone from leads where id = ${id}`;
    expect(row!.phone).toBeNull();
  });
});

describe('idempotency', () => {
  it('the same Idempotency-Key twice → second is 200 {id, duplicate: true} with the same id', async () => {
    const key = `key-${Date.now()}-a`;
    const first = await postJson(lead(), { 'idempotency-key': key });
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const before = await leadCount();
    // Even with a different body: the key decides.
    const second = await postJson(lead({ name: 'Outro nome' }), { 'idempotency-key': key });
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ id, duplicate: true });
    expect(await leadCount()).toBe(before);
  });

  it('the same (source, external_id) → duplicate; another source with the same external_id is a new lead', async () => {
    const ext = `form-${Date.now()}`;
    const first = await postJson(lead({ source: 'site', external_id: ext }));
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const again = await postJson(lead({ source: 'site', external_id: ext }), { 'idempotency-key': `other-${ext}` });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ id, duplicate: true });
    // source is case-insensitive (stored lower-case)
    const upper = await postJson(lead({ source: 'SITE', external_id: ext }));
    expect(upper.status).toBe(200);
    expect(((await upper.json()) as { id: string }).id).toBe(id);
    const other = await postJson(lead({ source: 'facebook', external_id: ext }));
    expect(other.status).toBe(202);
    expect(((await other.json()) as { id: string }).id).not.toBe(id);
  });

  it('20 concurrent identical requests with the same key → exactly one lead, every answer has the same id', async () => {
    const key = `concurrent-${Date.now()}`;
    const raw = JSON.stringify(lead({ name: `Concorrente ${key}` }));
    const ts = now();
    const sign = signWebhook(SECRET, ts, raw);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => post(raw, { ts, sign, headers: { 'idempotency-key': key } })),
    );
    const bodies = await Promise.all(answers.map(async (r) => ({ status: r.status, body: (await r.json()) as { id: string } })));
    expect(bodies.filter((b) => b.status === 202)).toHaveLength(1);
    expect(bodies.filter((b) => b.status === 200)).toHaveLength(19);
    const ids = new Set(bodies.map((b) => b.body.id));
    expect(ids.size).toBe(1);
    const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where idempotency_key = ${key}`;
    expect(row!.n).toBe(1);
    const [named] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where name = ${`Concorrente ${key}`}`;
    expect(named!.n).toBe(1);
    const [created] = await s.server.sql<{ n: number }[]>`
      select count(*)::int as n from interactions where lead_id = ${[...ids][0]!} and type = 'created'`;
    expect(created!.n).toBe(1);
  });

  it('20 concurrent requests with the same (source, external_id) and no key → exactly one lead', async () => {
    const ext = `ext-concurrent-${Date.now()}`;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => postJson(lead({ external_id: ext, name: `Var ${i}` }))));
    const bodies = await Promise.all(answers.map(async (r) => ({ status: r.status, body: (await r.json()) as { id: string } })));
    expect(bodies.map((b) => b.status).sort()).toEqual([...Array(19).fill(200), 202]);
    expect(new Set(bodies.map((b) => b.body.id)).size).toBe(1);
    const [row] = await s.server.sql<{ n: number }[]>`select count(*)::int as n from leads where external_id = ${ext}`;
    expect(row!.n).toBe(1);
  });
});
