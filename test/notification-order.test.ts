/**
 * SSE delivers every notification to its recipient once, in commit order, live and across a
 * reconnect with Last-Event-ID, even when two notifications' transactions are forced to interleave:
 * the one that started first commits last, and the app publishes them in the wrong order.
 *
 * The real notifications route and service run on a port of their own, on the test server's
 * database, with a bus the test publishes to (as the app does after each commit).
 */
import type { AddressInfo } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '../src/db/client.ts';
import { insertNotification, type NotificationRow } from '../src/db/notifications.ts';
import { NotificationBus } from '../src/http/notification-bus.ts';
import { notificationRoutes } from '../src/http/routes/notifications.ts';
import type { AppEnv } from '../src/http/types.ts';
import { NotificationService } from '../src/services/notifications.ts';
import { createUser, waitFor, type Person } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let s: TestServer;
let sql: Sql;
let http: HttpServer;
let base: string;
const bus = new NotificationBus();
let user: Person;

beforeAll(async () => {
  s = await startTestServer();
  sql = s.server.sql;
  user = await createUser(s, await s.login());
  const app = new Hono<AppEnv>();
  // Authentication is not what this file tests: every request is the consultant's.
  const asUser: MiddlewareHandler<AppEnv> = async (c, next) => {
    c.set('user', { id: user.id, name: 'C', email: user.email, role: 'CONSULTANT' });
    c.set('session', { user: { id: user.id, name: 'C', email: user.email, role: 'CONSULTANT' }, jti: 'test-session', expiresAt: new Date(Date.now() + 3_600_000) });
    await next();
  };
  app.use(asUser);
  app.route(
    '/api/notifications',
    notificationRoutes({
      notifications: new NotificationService({ sql, subscribe: (id, listener) => bus.subscribe(id, listener) }),
      live: s.server.sessions.live,
      heartbeatMs: 200,
    }),
  );
  http = await new Promise<HttpServer>((resolve) => {
    const srv = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv as HttpServer)) as HttpServer;
  });
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  bus.close();
  http?.closeAllConnections();
  await new Promise((r) => http?.close(r));
});

/** An SSE client that records the notification events (event id and the row's id). */
function stream(lastEventId?: number) {
  const controller = new AbortController();
  const got: { seq: number; id: number; title: string }[] = [];
  const ready = fetch(`${base}/api/notifications/stream`, {
    headers: lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) },
    signal: controller.signal,
  }).then((res) => {
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += value;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const id = /^id: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (/^event: notification$/m.test(block) && id && data) {
              const n = JSON.parse(data) as { id: number; title: string };
              got.push({ seq: Number(id), id: n.id, title: n.title });
            }
          }
        }
      } catch {
        /* aborted */
      }
    })();
  });
  return { got, ready, close: () => controller.abort() };
}

const note = (title: string) => ({ recipientId: user.id, type: 'test', title, body: '', leadId: null });

/** True once some backend of this database waits on a lock (the second transaction). */
async function someoneWaitsOnALock(): Promise<boolean> {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
  return r!.n > 0;
}

/**
 * Two transactions create a notification each: the first inserts and holds; the second inserts and
 * tries to commit at once; only then does the first commit. Returns the rows in commit-attempt
 * order ([second, first]) and a hook that runs once the second's commit returned, if it did
 * before the first's (it cannot when the sequence is right: it waits for the first).
 */
async function interleaved(tag: string, onEarlyCommit: (row: NotificationRow) => Promise<void>) {
  const a = await sql.reserve();
  const b = await sql.reserve();
  try {
    await a`begin`;
    const first = (await insertNotification(a, note(`${tag} first`)))!;
    await b`begin`;
    let secondCommitted = false;
    const second = (async () => {
      const row = (await insertNotification(b, note(`${tag} second`)))!;
      await b`commit`;
      secondCommitted = true;
      return row;
    })();
    // Give the second every chance to commit before the first (it will, without the sequence lock).
    await waitFor('the second transaction to commit or to wait', async () => secondCommitted || (await someoneWaitsOnALock()), 5_000, 20).catch(() => {});
    if (secondCommitted) await onEarlyCommit(await second);
    await a`commit`;
    return { first, second: await second };
  } finally {
    a.release();
    b.release();
  }
}

describe('SSE order under interleaved commits', () => {
  it('live: both arrive once, in commit order, although published second-first', async () => {
    const live = stream();
    await live.ready;
    const { first, second } = await interleaved('live', async (row) => bus.publish(row));
    // The app publishes after each commit; make it the worst order: the second, then the first.
    bus.publish(second);
    bus.publish(first);
    await waitFor('both notifications', async () => live.got.length >= 2, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    live.close();
    expect(live.got.map((g) => g.id)).toEqual([first.id, second.id]);
    expect(live.got.map((g) => g.seq)).toEqual([first.seq, second.seq]);
    expect(first.seq).toBeLessThan(second.seq);
  });

  it('resume: a client that left between the two commits gets the missing one after Last-Event-ID, nothing twice', async () => {
    const before = stream();
    await before.ready;
    const { first, second } = await interleaved('resume', async (row) => {
      // Without the sequence the second commits first: the client sees it, then disconnects.
      bus.publish(row);
      await waitFor('the early one', async () => before.got.length > 0, 2_000).catch(() => {});
    });
    before.close();
    const lastSeen = before.got.at(-1)?.seq;
    const baseline = lastSeen ?? first.seq - 1;
    bus.publish(first);
    bus.publish(second);

    const after = stream(baseline);
    await after.ready;
    await waitFor('the rest', async () => before.got.length + after.got.length >= 2, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    after.close();
    const all = [...before.got, ...after.got];
    expect(all.map((g) => g.id)).toEqual([first.id, second.id]);
  });

  it('a notification committed while no stream is open is replayed after Last-Event-ID, then live ones follow without a repeat', async () => {
    const one = (await insertNotification(sql, note('alone')))!;
    const resumed = stream(one.seq - 1);
    await resumed.ready;
    await waitFor('the replay', async () => resumed.got.length >= 1, 5_000);
    const next = (await insertNotification(sql, note('next')))!;
    bus.publish(next);
    bus.publish(one); // late, already sent
    await waitFor('the live one', async () => resumed.got.length >= 2, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    resumed.close();
    expect(resumed.got.map((g) => g.id)).toEqual([one.id, next.id]);
  });
});
