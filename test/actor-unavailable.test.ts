/**
 * An actor that cannot be loaded (its table unreadable) makes the request that needed it answer 503
 * with the contract's error shape and `Retry-After`, not a bare 500: nothing was done, try again.
 */
import { describe, expect, it } from 'vitest';
import { CONSULTANT } from '../src/actors/consultant.ts';
import { startTestServer } from './support/server.ts';
import { until } from './support/child-server.ts';

describe('an actor that cannot be loaded', () => {
  it('answers 503 service_unavailable with Retry-After and reason actor_unavailable', { timeout: 60_000 }, async () => {
    // Idle actors are written down after 1 s, so the consultant's next event must load it.
    const s = await startTestServer({ ACTOR_IDLE_SECONDS: '1' });
    const token = await s.login();
    const created = await s.api('/api/consultants', {
      token,
      body: { name: 'Rafael Lima', email: 'rafael@unavailable.test', password: 'rafael-password-1', role: 'CONSULTANT', max_open_leads: 5 },
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    await until('the consultant actor passivated', () => s.server.system.peek(CONSULTANT, id) === undefined, 20_000);

    const sql = s.server.sql;
    await sql`alter table actor_snapshots rename to actor_snapshots_away`;
    try {
      const res = await s.api(`/api/consultants/${id}`, { method: 'PATCH', token, body: { max_open_leads: 7 } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      const body = (await res.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
      expect(body.error).toMatchObject({ code: 'service_unavailable', details: { reason: 'actor_unavailable' } });
      expect(body.error.message).not.toMatch(/actor_snapshots|relation/);
    } finally {
      await sql`alter table actor_snapshots_away rename to actor_snapshots`;
    }
  });
});
