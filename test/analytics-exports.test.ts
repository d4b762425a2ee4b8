/**
 * CSV exports cannot starve the pool. An export streams from a database cursor, which holds a pool
 * connection until the client has read it all: readers that stop reading would otherwise hold the
 * whole pool, and every other request would wait for it. With `DB_POOL_MAX=4` the server allows
 * one export at a time (a quarter of the pool): pool + 1 downloads that never read get one 200
 * and 503s with `Retry-After` in the contract's error shape, while other requests are answered at
 * once; once the reader goes away its slot is free again.
 */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const POOL = 4;
const LEADS = 20_000;
const RANGE = 'from=2021-06-15&to=2021-06-15';

let s: TestServer;
let admin: string;
const open: ClientRequest[] = [];

beforeAll(async () => {
  s = await startTestServer({ DB_POOL_MAX: String(POOL), RATE_LIMIT_PER_MINUTE: '1000000' });
  admin = await s.login();
  // About 20 MB of CSV on one day: more than the sockets between a stalled reader and the server buffer.
  await s.server.sql`
    insert into leads (name, email, source, status, ai_classified_at, created_at)
    select 'Lote ' || g || ' ' || repeat('x', 1000), 'lote' || g || '@exports.test', 'lote', 'LOST', now(),
      timestamptz '2021-06-15 12:00:00-03' + make_interval(secs => g)
    from generate_series(1, ${LEADS}) g`;
}, 60_000);

afterAll(() => {
  for (const r of open) r.destroy();
});

/** A download that reads nothing past the headers (a 200 stays open, paused). */
function stalledDownload(): Promise<{ res: IncomingMessage; req: ClientRequest; body?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.url}/api/analytics/leads.csv?${RANGE}`, { headers: { authorization: `Bearer ${admin}` } }, (res) => {
      if (res.statusCode === 200) {
        res.pause();
        resolve({ res, req });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ res, req, body }));
    });
    open.push(req);
    req.on('error', reject);
    req.end();
  });
}

describe('GET /api/analytics/leads.csv under load', () => {
  it('pool + 1 stalled downloads: one streams, the rest are told to come back, other requests are not starved', { timeout: 60_000 }, async () => {
    const downloads = await Promise.all(Array.from({ length: POOL + 1 }, () => stalledDownload()));
    const statuses = downloads.map((d) => d.res.statusCode).sort();
    expect(statuses).toEqual([200, 503, 503, 503, 503]);
    for (const d of downloads.filter((x) => x.res.statusCode === 503)) {
      expect(d.res.headers['retry-after']).toMatch(/^\d+$/);
      expect(JSON.parse(d.body!)).toMatchObject({ error: { code: 'service_unavailable', message: expect.any(String) } });
    }

    // The stalled export still holds its connection; the rest of the pool answers everyone else.
    const started = Date.now();
    const [summary, leads, me] = await Promise.all([
      s.api(`/api/analytics/summary?${RANGE}`, { token: admin }),
      s.api('/api/leads?limit=5', { token: admin }),
      s.api('/api/auth/me', { token: admin }),
    ]);
    expect([summary.status, leads.status, me.status]).toEqual([200, 200, 200]);
    expect(((await summary.json()) as { funnel: { status: string; count: number }[] }).funnel.find((f) => f.status === 'LOST')?.count).toBe(LEADS);
    expect(Date.now() - started).toBeLessThan(3000);

    // The reader goes away: its slot is free again, and a whole export goes through.
    for (const d of downloads) d.req.destroy();
    const full = await waitFor('an export slot', async () => {
      const res = await s.api(`/api/analytics/leads.csv?${RANGE}`, { token: admin });
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    });
    const text = await full.text();
    expect(text.split('\r\n').filter((l) => l.length > 0)).toHaveLength(LEADS + 1);
  });
});
