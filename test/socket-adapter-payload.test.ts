/**
 * The Socket.io Postgres adapter as we set it up (src/db/socket-adapter.ts), two Socket.io servers on
 * one database: events of every size cross, including those whose NOTIFY payload comes near
 * PostgreSQL's 8000-byte limit (our batching adds a counter to each payload: one pushed past the
 * limit used to fail its whole batch, and the other instance never saw those events).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import { createSocketAdapter, type SocketAdapter } from '../src/db/socket-adapter.ts';
import { createLogger } from '../src/log.ts';
import { until } from './support/child-server.ts';
import { testSql } from './support/db.ts';

const running: { http: HttpServer; io: Server; adapter: SocketAdapter }[] = [];
let client: Socket | undefined;

afterAll(async () => {
  client?.close();
  for (const r of running) {
    await r.io.close();
    await r.adapter.close();
  }
});

async function instance(url: string): Promise<{ io: Server; port: number; adapter: SocketAdapter }> {
  const http = createServer();
  const adapter = createSocketAdapter({ url, log: createLogger('silent') });
  const io = new Server(http, { adapter: adapter.factory, perMessageDeflate: false });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  running.push({ http, io, adapter });
  return { io, port: (http.address() as AddressInfo).port, adapter };
}

describe('Socket.io across instances', () => {
  it('events whose payload nears 8000 bytes all reach the other instance', { timeout: 60_000 }, async () => {
    const { sql, url } = await testSql();
    await migrate(sql, join(import.meta.dirname, '..', 'migrations'));
    const a = await instance(url);
    const b = await instance(url);
    client = connectClient(`http://127.0.0.1:${b.port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    const got = new Set<number>();
    client.on('big', (m: { n: number }) => got.add(m.n));
    client.on('probe', () => got.add(-1));
    await new Promise<void>((resolve, reject) => {
      client!.once('connect', () => resolve());
      client!.once('connect_error', reject);
    });
    // Until B listens: a probe from A arrives.
    await until('B listening', () => {
      a.io.emit('probe');
      return got.has(-1);
    }, 15_000, 200);

    // Payloads from about 7,850 to 8,050 bytes, one byte apart, each in an event-loop turn of its own.
    const sizes = Array.from({ length: 200 }, (_, i) => 7700 + i);
    for (const n of sizes) {
      a.io.emit('big', { n, s: 'x'.repeat(n) });
      await new Promise((r) => setTimeout(r, 2));
    }
    await until('every event on B', () => sizes.every((n) => got.has(n)), 15_000, 100).catch(() => undefined);
    expect(sizes.filter((n) => !got.has(n))).toEqual([]);
    expect(a.adapter.stats.publishFailed).toBe(0);
  });
});
